using System.Buffers;
using System.Collections.Concurrent;
using System.Diagnostics;
using System.Threading.Channels;
using ClusterSharing.Follower;
using ClusterSharing.Leader;
using ClusterSharing.Protocol;
using Microsoft.Extensions.Logging;

namespace ClusterSharing.Node.Membership;

/// <summary>A message as a handler gets it: the bytes, who sent them, and whether they were for this member only.</summary>
internal readonly record struct ReceivedMessage(string From, string Channel, bool Direct, ReadOnlyMemory<byte> Body);

/// <summary>
/// This process's membership on one node: its own record, its copy of the view (from the leader's snapshots and
/// changes, or from its own hub while it leads), its channel handlers, and the one queue (one worker) on which events
/// and messages reach user code in the order they arrived.
/// </summary>
/// <remarks>
/// Locks, always taken in this order: <c>_routeGate</c> (the route to the leader: announcements, channel joins and
/// messages leave in order), then the hub's lock, then <c>_gate</c> (the view). The hub calls this object as the
/// leader's own <see cref="IMemberLink"/> under its lock, which only touches <c>_gate</c> and the queue.
/// </remarks>
internal sealed class NodeMembership : IMemberLink, IMemberReceiver, IAsyncDisposable
{
    /// <summary>How many messages may wait for handlers before new ones are dropped (events are never dropped).</summary>
    public const int MaxQueuedMessages = 10_000;

    // The first announcement on a connection must fit the leader's pre-registration frame limit.
    private const int FirstAnnounceBytes = 3500;

    private readonly object _routeGate = new();
    private readonly object _gate = new();
    private readonly ClusterClientOptions _options;
    private readonly ILogger _logger;
    private readonly MemberView _view;
    private readonly Channel<Work> _queue = Channel.CreateUnbounded<Work>(new UnboundedChannelOptions { SingleReader = true });
    private readonly Dictionary<string, List<ChannelHandler>> _handlers = new(StringComparer.Ordinal);
    private readonly ConcurrentDictionary<long, PendingDirect> _pending = new();
    private readonly TaskCompletionSource _joined = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly CancellationTokenSource _stop = new();
    private TaskCompletionSource _routeSet = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly Task _dispatch;
    private ClusterMember _self;
    private LeaderMemberHub? _hub;
    private LeaderConnection? _connection;
    private long _nextMessageId;
    private int _queuedMessages;
    private long _deferUntil;
    private readonly HashSet<(string Id, long Revision)> _handedOverTo = new();
    private int _disposed;

    public NodeMembership(ClusterClientOptions options, ILogger logger)
    {
        _options = options;
        _logger = logger;
        _view = new MemberView(options.MastersRequired);
        Id = Guid.NewGuid().ToString("N");
        // A process that may never lead says so, so nobody defers to it or counts it as a master.
        bool eligible = options.Eligible && options.Role != ClusterRole.Follower;
        _self = new ClusterMember(Id, Environment.MachineName, Environment.ProcessId, null, options.Weight, eligible, ReadOnlyMemory<byte>.Empty,
            false, DateTimeOffset.UtcNow, DateTimeOffset.UtcNow, 0);
        MaxMessageBytes = Math.Min(MembershipLimits.MaxMessageBytes, options.MaxFrameSize - options.MaxHeaderSize - FrameHeader.Size);
        _dispatch = Task.Run(DispatchAsync);
    }

    /// <summary>This member's id.</summary>
    public string Id { get; }

    /// <summary>Largest message body this node sends: <see cref="MembershipLimits.MaxMessageBytes"/> or less when frames are smaller.</summary>
    public int MaxMessageBytes { get; }

    /// <summary>How long members of the previous view are kept after a failover for them to re-attach to the new leader.</summary>
    public TimeSpan RejoinGrace => _options.ConnectTimeout + 3 * _options.HeartbeatInterval;

    /// <summary>Completes when this member first appears in its own view.</summary>
    public Task Joined => _joined.Task;

    /// <summary>This member as the view shows it (its own record until it joined).</summary>
    public ClusterMember Self
    {
        get { lock (_gate) return _view.Find(Id) ?? _self; }
    }

    public IReadOnlyList<ClusterMember> Members
    {
        get { lock (_gate) return _view.Members; }
    }

    public ClusterMember? Leader
    {
        get { lock (_gate) return _view.Leader; }
    }

    public ClusterMember? Find(string id)
    {
        lock (_gate) return _view.Find(id);
    }

    /// <summary>The view version last applied (tests compare them).</summary>
    public long Version
    {
        get { lock (_gate) return _view.Version; }
    }

    /// <summary>Raised on the dispatch worker, in view order.</summary>
    public event Action<MemberChange>? Changed;

    /// <summary>Raised on the dispatch worker when the view names a new leader.</summary>
    public event Action<ClusterMember>? LeaderChanged;

    /// <summary>Raised on the dispatch worker for a member that became a master or stopped being one (<see cref="ClusterMember.IsMaster"/> says which).</summary>
    public event Action<ClusterMember>? MasterChanged;

    /// <summary>
    /// Raised (on a pool thread) while this process leads, when an eligible member with a higher weight attached: the
    /// node hands leadership over to it. Raised at most once per member.
    /// </summary>
    public event Action<ClusterMember>? HandoverWanted;

    // ---- leader preference ----

    /// <summary>The leader was lost or handed over: for a while, this process leaves the election to heavier members.</summary>
    public void NoteLeaderLost() => Interlocked.Exchange(ref _deferUntil, Stopwatch.GetTimestamp() + (long)(RejoinGrace.TotalSeconds * Stopwatch.Frequency));

    /// <summary>
    /// True when this process should not campaign now: shortly after it lost a leader, while its view holds an eligible
    /// member, other than the lost leader, that ranks before it (<see cref="MemberRank"/>): a heavier one for at most
    /// <see cref="RejoinGrace"/>, an equal-weight one that joined earlier for at most 2 × HeartbeatInterval. The bounds
    /// keep a dead member from stopping every election.
    /// </summary>
    public bool DefersToHeavierMember(out ClusterMember? heavier)
    {
        heavier = null;
        long now = Stopwatch.GetTimestamp();
        long until = Interlocked.Read(ref _deferUntil);
        if (now >= until) return false;
        // The tie rule's shorter bound, counted from the same start (the loss) as the rejoin grace.
        // Not on Redis: its Bully election already orders equal weights by when candidates registered (Redis's clock),
        // and two orders on two clocks could make the first of each wait for the other.
        bool tiesToo = _options.Redis is null && now < until - (long)((RejoinGrace - 2 * _options.HeartbeatInterval).TotalSeconds * Stopwatch.Frequency);
        lock (_gate)
        {
            var self = _view.Find(Id) ?? _self;
            self = new ClusterMember(self.Id, self.Host, self.ProcessId, self.Endpoint, _self.Weight, _self.Eligible, self.Advertisement, false, _self.JoinedAt, self.LastSeen, self.Revision);
            foreach (var member in _view.Members)
            {
                if (member.Id == Id || !member.Eligible || member.IsLeader || !MemberRank.Before(member, self)) continue;
                if (member.Weight == self.Weight && !tiesToo) continue;
                if (heavier is null || MemberRank.Before(member, heavier)) heavier = member;
            }
        }
        return heavier is not null;
    }

    // ---- roles (called by the node) ----

    /// <summary>This process leads: it keeps the view from now on (seeded with the previous one) and returns the hub its server uses.</summary>
    public LeaderMemberHub StartLeading(string listenAddress, Func<long> epoch)
    {
        lock (_routeGate)
        {
            _hub?.Dispose();
            var hub = new LeaderMemberHub(this, epoch, _logger);
            ClusterMember self;
            ClusterMember[] previous;
            string[] channels;
            lock (_gate)
            {
                _self = With(_self, endpoint: listenAddress);
                self = _self;
                // The old leader is not kept: it is gone, or it re-attaches as a follower like anyone else.
                previous = [.. _view.Members.Where(m => m.Id != Id && !m.IsLeader)];
                channels = [.. _handlers.Keys];
            }
            hub.Start(self, previous, RejoinGrace, channels);
            _hub = hub;
            _connection = null;
            SignalRoute();
            return hub;
        }
    }

    /// <summary>This process stopped leading (term lost or node closing).</summary>
    public void StopLeading()
    {
        lock (_routeGate)
        {
            _hub?.Dispose();
            _hub = null;
        }
    }

    /// <summary>Announces this member on a new connection to the leader, then its channels.</summary>
    public void StartFollowing(LeaderConnection connection)
    {
        lock (_routeGate)
        {
            ClusterMember self;
            string[] channels;
            lock (_gate)
            {
                _self = With(_self, endpoint: connection.LocalAddress);
                self = _self;
                channels = [.. _handlers.Keys];
            }
            connection.MemberReceiver = this;
            Volatile.Write(ref _connection, connection);
            try
            {
                byte[] record = MemberCodec.Encode(self);
                if (record.Length > FirstAnnounceBytes)
                {
                    // Small first (the leader accepts only small frames before this connection joined), then the advertisement.
                    connection.TrySendMember(PacketType.MemberAnnounce, new MemberAnnounceHeader(connection.LeaderEpoch), MemberCodec.Encode(With(self, advertisement: ReadOnlyMemory<byte>.Empty)));
                }
                connection.TrySendMember(PacketType.MemberAnnounce, new MemberAnnounceHeader(connection.LeaderEpoch), record);
                foreach (var channel in channels) connection.TrySendMember(PacketType.MemberChannel, new MemberChannelHeader(connection.LeaderEpoch, channel, true));
            }
            catch (ProtocolException ex)
            {
                // A record too large for this connection's frames: the connection closes and the next one tries again.
                _ = connection.CloseAsync($"the member announcement could not be sent: {ex.Message}");
            }
            SignalRoute();
        }
    }

    /// <summary>The connection to the leader ended; the view stays as it was until the next leader's snapshot.</summary>
    public void StopFollowing(LeaderConnection connection)
    {
        lock (_routeGate)
        {
            if (_connection != connection) return;
            _connection = null;
        }
        Apply((view, changes, masters) => view.LeaderLost(changes, masters));
    }

    private void SignalRoute()
    {
        var set = _routeSet;
        _routeSet = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        set.TrySetResult();
    }

    // ---- what this member does ----

    /// <summary>Replaces this member's advertisement; every member sees the update.</summary>
    public void Advertise(byte[] advertisement)
    {
        if (advertisement.Length > MembershipLimits.MaxAdvertisementBytes)
            throw new ArgumentException($"The advertisement is {advertisement.Length} bytes of MessagePack; at most {MembershipLimits.MaxAdvertisementBytes} are allowed (every member keeps every member's). Advertise less, or a key to where the rest is.", nameof(advertisement));
        UpdateSelf(m => With(m, advertisement: advertisement, revision: m.Revision + 1));
    }

    /// <summary>Adds or replaces one advertised service (by name); every member sees the update.</summary>
    public void AdvertiseService(string name, bool ready, byte[] config)
    {
        MembershipLimits.CheckService(name, nameof(name));
        if (config.Length > MembershipLimits.MaxServiceConfigBytes)
            throw new ArgumentException($"The configuration of service '{name}' is {config.Length} bytes of MessagePack; at most {MembershipLimits.MaxServiceConfigBytes} are allowed.", nameof(config));
        UpdateSelf(m =>
        {
            var services = m.Services.Where(s => s.Name != name).ToList();
            if (services.Count >= MembershipLimits.MaxServicesPerMember)
                throw new InvalidOperationException($"This process already advertises {MembershipLimits.MaxServicesPerMember} services.");
            services.Add(new ClusterService(name, ready, config));
            return With(m, services: services, revision: m.Revision + 1);
        });
    }

    /// <summary>Whether this member may lead now (<see cref="ClusterClientOptions.Eligible"/>, or as <see cref="SetPreference"/> left it).</summary>
    public bool IsEligible
    {
        get { lock (_gate) return _self.Eligible; }
    }

    /// <summary>Changes this member's weight and eligibility; every member sees the update (a leader hands over to a heavier one).</summary>
    public void SetPreference(int weight, bool eligible)
    {
        UpdateSelf(m => m.Weight == weight && m.Eligible == eligible ? m
            : new ClusterMember(m.Id, m.Host, m.ProcessId, m.Endpoint, weight, eligible, m.Advertisement, m.IsLeader, m.JoinedAt, m.LastSeen, m.Revision + 1, m.Services));
        PresenceChanged?.Invoke();
    }

    /// <summary>Stops advertising a service (no-op when not advertised).</summary>
    public void WithdrawService(string name) =>
        UpdateSelf(m => m.Services.Any(s => s.Name == name) ? With(m, services: [.. m.Services.Where(s => s.Name != name)], revision: m.Revision + 1) : m);

    private void UpdateSelf(Func<ClusterMember, ClusterMember> update)
    {
        ObjectDisposedException.ThrowIf(Volatile.Read(ref _disposed) != 0, this);
        lock (_routeGate)
        {
            ClusterMember self;
            lock (_gate)
            {
                var updated = update(_self);
                if (ReferenceEquals(updated, _self)) return;
                _self = updated;
                self = _self;
            }
            if (_hub is { } hub) hub.AnnounceSelf(self);
            else if (_connection is { IsClosed: false } connection)
            {
                try
                {
                    connection.TrySendMember(PacketType.MemberAnnounce, new MemberAnnounceHeader(connection.LeaderEpoch), MemberCodec.Encode(self));
                }
                catch (ProtocolException ex)
                {
                    throw new ArgumentException($"This member's record does not fit in a frame (MaxFrameSize {_options.MaxFrameSize}): {ex.Message}", "info", ex);
                }
            }
            // Otherwise the next connection announces it.
        }
    }

    /// <summary>Adds a handler for <paramref name="channel"/>; the first one makes this member join it at the leader.</summary>
    public IDisposable Join(string channel, Func<ReceivedMessage, CancellationToken, ValueTask> handler, object owner)
    {
        MembershipLimits.CheckChannel(channel, nameof(channel));
        ObjectDisposedException.ThrowIf(Volatile.Read(ref _disposed) != 0, this);
        var registration = new ChannelHandler(this, channel, handler, owner);
        lock (_routeGate)
        {
            bool first;
            lock (_gate)
            {
                if (!_handlers.TryGetValue(channel, out var list))
                {
                    if (_handlers.Count >= MembershipLimits.MaxChannelsPerMember)
                        throw new InvalidOperationException($"This process already joined {MembershipLimits.MaxChannelsPerMember} channels; leave some first.");
                    _handlers.Add(channel, list = []);
                }
                first = list.Count == 0;
                list.Add(registration);
            }
            if (first) SendChannelLocked(channel, true);
        }
        return registration;
    }

    /// <summary>Removes every handler of <paramref name="owner"/> on <paramref name="channel"/> (all channels when null).</summary>
    public void Leave(string? channel, object owner)
    {
        lock (_routeGate)
        {
            List<string> left = [];
            lock (_gate)
            {
                foreach (var (name, list) in _handlers.ToArray())
                {
                    if (channel is not null && name != channel) continue;
                    list.RemoveAll(h => h.Owner == owner);
                    if (list.Count > 0) continue;
                    _handlers.Remove(name);
                    left.Add(name);
                }
            }
            foreach (var name in left) SendChannelLocked(name, false);
        }
    }

    private void Remove(ChannelHandler handler)
    {
        lock (_routeGate)
        {
            bool last;
            lock (_gate)
            {
                if (!_handlers.TryGetValue(handler.Channel, out var list) || !list.Remove(handler)) return;
                last = list.Count == 0;
                if (last) _handlers.Remove(handler.Channel);
            }
            if (last) SendChannelLocked(handler.Channel, false);
        }
    }

    private void SendChannelLocked(string channel, bool joined)
    {
        if (Volatile.Read(ref _disposed) != 0) return;
        if (_hub is { } hub) hub.SetSelfChannel(channel, joined);
        else _connection?.TrySendMember(PacketType.MemberChannel, new MemberChannelHeader(_connection.LeaderEpoch, channel, joined));
    }

    /// <summary>Sends to every other member joined to <paramref name="channel"/> (best effort, at most once).</summary>
    public Task SendAsync(string channel, byte[] body, CancellationToken cancellationToken) =>
        SendMessageAsync(channel, null, body, cancellationToken);

    /// <summary>Sends to one member and waits for what became of it.</summary>
    public async Task<DeliveryStatus> SendToAsync(string memberId, string channel, byte[] body, TimeSpan timeout, CancellationToken cancellationToken)
    {
        ArgumentException.ThrowIfNullOrEmpty(memberId);
        if (memberId.Length > MembershipLimits.MaxMemberIdLength) return DeliveryStatus.MemberGone;
        if (Find(memberId) is null && Joined.IsCompleted) return DeliveryStatus.MemberGone;
        long id = Interlocked.Increment(ref _nextMessageId);
        var pending = new PendingDirect(memberId);
        _pending[id] = pending;
        try
        {
            using var timer = new CancellationTokenSource(timeout);
            using var registration = timer.Token.Register(static state => ((PendingDirect)state!).Complete(DeliveryStatus.TimedOut), pending);
            using var cancel = cancellationToken.Register(static state => ((PendingDirect)state!).Cancel(), pending);
            await SendMessageAsync(channel, memberId, body, cancellationToken, id).ConfigureAwait(false);
            return await pending.Task.ConfigureAwait(false);
        }
        finally
        {
            _pending.TryRemove(id, out _);
        }
    }

    private async Task SendMessageAsync(string channel, string? to, byte[] body, CancellationToken cancellationToken, long messageId = 0)
    {
        MembershipLimits.CheckChannel(channel, nameof(channel));
        if (body.Length > MaxMessageBytes)
            throw new ArgumentException($"The message is {body.Length} bytes of MessagePack; at most {MaxMessageBytes} are allowed. Send a smaller message, or a key to where the data is.", "message");
        if (messageId == 0) messageId = Interlocked.Increment(ref _nextMessageId);
        long deadline = Stopwatch.GetTimestamp() + (long)(_options.MaxWaitTime.TotalSeconds * Stopwatch.Frequency);
        while (true)
        {
            ObjectDisposedException.ThrowIf(Volatile.Read(ref _disposed) != 0, this);
            Task routeSet;
            lock (_routeGate)
            {
                if (_hub is { } hub)
                {
                    hub.Relay(this, new MemberMessageHeader(0, messageId, Id, channel, to), body);
                    return;
                }
                if (_connection is { IsClosed: false } connection
                    && connection.TrySendMember(PacketType.MemberMessage, new MemberMessageHeader(connection.LeaderEpoch, messageId, Id, channel, to), body))
                {
                    return;
                }
                routeSet = _routeSet.Task;
            }
            var remaining = TimeSpan.FromSeconds((deadline - Stopwatch.GetTimestamp()) / (double)Stopwatch.Frequency);
            if (remaining <= TimeSpan.Zero)
                throw new ClusterClientException($"The message on channel '{channel}' was not sent: no leader within MaxWaitTime ({_options.MaxWaitTime.TotalMilliseconds:0} ms) on port {_options.Port}.");
            try
            {
                await routeSet.WaitAsync(remaining, cancellationToken).ConfigureAwait(false);
            }
            catch (TimeoutException)
            {
                // Checked again at the top: the deadline decides.
            }
        }
    }

    // ---- what the leader sends (IMemberReceiver: following; IMemberLink: this process leads) ----

    public void OnMemberFrame(LeaderConnection connection, in Frame frame)
    {
        if (!ReferenceEquals(connection, Volatile.Read(ref _connection))) return;
        switch (frame.Type)
        {
            case PacketType.MemberView:
                ApplyView(frame.ReadHeader<MemberViewHeader>(), frame.Body, frame.Limits.BodyDecodingLimits);
                break;
            case PacketType.MemberMessage:
                Enqueue(frame.ReadHeader<MemberMessageHeader>(), frame.Body.ToArray());
                break;
            case PacketType.MemberMessageAck:
                var ack = frame.ReadHeader<MemberMessageAckHeader>();
                if (_pending.TryGetValue(ack.MessageId, out var pending)) pending.Complete((DeliveryStatus)ack.Code);
                break;
        }
    }

    string IMemberLink.Name => "this process";

    string? IMemberLink.RemoteAddress => null;

    bool IMemberLink.SendView(in MemberViewHeader header, ReadOnlySpan<byte> body)
    {
        ApplyView(header, new ReadOnlySequence<byte>(body.ToArray()), Serialization.DecodingLimits.UntrustedData);
        return true;
    }

    bool IMemberLink.SendMessage(in MemberMessageHeader header, ReadOnlySpan<byte> body)
    {
        Enqueue(header, body.ToArray());
        return true;
    }

    bool IMemberLink.SendAck(in MemberMessageAckHeader header)
    {
        if (_pending.TryGetValue(header.MessageId, out var pending)) pending.Complete((DeliveryStatus)header.Code);
        return true;
    }

    private void ApplyView(in MemberViewHeader header, ReadOnlySequence<byte> body, Serialization.DecodingLimits limits)
    {
        switch (header.Kind)
        {
            case MemberViewKind.Snapshot:
                var all = MemberCodec.DecodeMany(body, limits);
                long snapshotVersion = header.Version;
                Apply((view, changes, masters) => view.ApplySnapshot(all, snapshotVersion, changes, masters));
                break;
            case MemberViewKind.Upsert:
                var some = MemberCodec.DecodeMany(body, limits);
                long upsertVersion = header.Version;
                Apply((view, changes, masters) => view.Upsert(some, upsertVersion, changes, masters));
                break;
            default:
                var ids = MemberCodec.DecodeIds(body, limits);
                long removeVersion = header.Version;
                Apply((view, changes, masters) => view.Remove(ids, removeVersion, changes, masters));
                break;
        }
    }

    /// <summary>
    /// The engine's registry of live members changed (cluster scope): <paramref name="live"/> is every registered
    /// member now, as (id, registration version, presence record). Records that do not decode are skipped (logged).
    /// </summary>
    public void ApplyRegistry(IReadOnlyCollection<Coordination.MemberRegistration> live)
    {
        if (Volatile.Read(ref _disposed) != 0) return;
        var members = new List<RegisteredMember>(live.Count);
        foreach (var (id, version, record) in live)
        {
            try
            {
                var member = MemberCodec.DecodeOne(new ReadOnlySequence<byte>(record), Serialization.DecodingLimits.UntrustedData);
                if (member.Id == id) members.Add(new RegisteredMember(member, version));
            }
            catch (ProtocolException ex)
            {
                MembershipLog.BadRegistration(_logger, id, ex.Message);
            }
        }
        Apply((view, changes, masters) => view.ApplyRegistry(members, changes, masters));
        if (Volatile.Read(ref _hub) is { } hub) hub.ForgetUnregistered(members.Select(m => m.Member.Id).ToHashSet(StringComparer.Ordinal));
    }

    /// <summary>This process's presence record for the engine's registry (no advertisement, no services: those travel through the leader).</summary>
    public byte[] PresenceRecord()
    {
        lock (_gate)
        {
            return MemberCodec.Encode(new ClusterMember(Id, _self.Host, _self.ProcessId, null, _self.Weight, _self.Eligible, ReadOnlyMemory<byte>.Empty,
                false, _self.JoinedAt, _self.JoinedAt, _self.Revision));
        }
    }

    /// <summary>Raised when this member's weight or eligibility changed (the node re-registers it in the engine).</summary>
    public event Action? PresenceChanged;

    /// <summary>Applies one change to the view under its lock and queues the events it produced, in order.</summary>
    private void Apply(Action<MemberView, List<MemberChange>, List<ClusterMember>> update)
    {
        var changes = new List<MemberChange>();
        var masters = new List<ClusterMember>();
        ClusterMember? newLeader = null;
        lock (_gate)
        {
            string? before = _view.Leader?.Id;
            update(_view, changes, masters);
            if (_view.Leader is { } after && after.Id != before) newLeader = after;
            // Queued under the view's lock: handlers see the changes in the order the view took them.
            foreach (var change in changes) _queue.Writer.TryWrite(new Work(change, null, default, null));
            if (newLeader is not null) _queue.Writer.TryWrite(new Work(default, newLeader, default, null));
            foreach (var master in masters) _queue.Writer.TryWrite(new Work(default, master, default, null, Master: true));
            if (!_joined.Task.IsCompleted && _view.Find(Id) is not null)
            {
                _joined.TrySetResult();
                MembershipLog.Joined(_logger, Id, _options.Port);
            }
        }
        if (Volatile.Read(ref _hub) is not null && IsEligible) WantHandover(changes);
        foreach (var change in changes)
        {
            if (change.Kind != MemberChangeKind.Removed) continue;
            foreach (var pending in _pending.Values)
            {
                if (pending.Target == change.Member.Id) pending.Complete(DeliveryStatus.MemberGone);
            }
        }
    }

    /// <summary>While leading, a change names an attached eligible member heavier than this one: ask the node to hand over (once per member).</summary>
    private void WantHandover(List<MemberChange> changes)
    {
        ClusterMember? heavier = null;
        lock (_gate)
        {
            foreach (var change in changes)
            {
                var m = change.Member;
                if (change.Kind == MemberChangeKind.Removed || m.Id == Id || !m.Eligible || m.Weight <= _self.Weight || _handedOverTo.Contains((m.Id, m.Revision))) continue;
                if (heavier is null || m.Weight > heavier.Weight) heavier = m;
            }
            if (heavier is null) return;
            _handedOverTo.Add((heavier.Id, heavier.Revision));
        }
        var handlers = HandoverWanted;
        if (handlers is not null) _ = Task.Run(() => handlers(heavier));
    }

    private void Enqueue(in MemberMessageHeader header, byte[] body)
    {
        if (Interlocked.Increment(ref _queuedMessages) > MaxQueuedMessages)
        {
            Interlocked.Decrement(ref _queuedMessages);
            MembershipLog.MessageDropped(_logger, MaxQueuedMessages, header.Channel);
            return;
        }
        if (!_queue.Writer.TryWrite(new Work(default, null, header, body))) Interlocked.Decrement(ref _queuedMessages);
    }

    // ---- the dispatch worker ----

    private async Task DispatchAsync()
    {
        var reader = _queue.Reader;
        while (await reader.WaitToReadAsync().ConfigureAwait(false))
        {
            while (reader.TryRead(out var work))
            {
                if (work.Body is not null)
                {
                    Interlocked.Decrement(ref _queuedMessages);
                    await DeliverAsync(work.Message, work.Body).ConfigureAwait(false);
                }
                else if (work.Master && work.Leader is { } master)
                {
                    Raise(MasterChanged, master);
                }
                else if (work.Leader is { } leader)
                {
                    Raise(LeaderChanged, leader);
                }
                else
                {
                    Raise(Changed, work.Change);
                }
            }
        }
    }

    private void Raise<TArg>(Action<TArg>? handlers, TArg argument)
    {
        if (handlers is null) return;
        foreach (Action<TArg> handler in handlers.GetInvocationList())
        {
            try
            {
                handler(argument);
            }
            catch (Exception ex)
            {
                MembershipLog.HandlerFailed(_logger, null, ex);
            }
        }
    }

    private async Task DeliverAsync(MemberMessageHeader header, byte[] body)
    {
        ChannelHandler[] handlers;
        lock (_gate) handlers = _handlers.TryGetValue(header.Channel, out var list) ? [.. list] : [];
        var code = handlers.Length == 0 ? MemberDeliveryCode.NotJoined : MemberDeliveryCode.Delivered;
        var message = new ReceivedMessage(header.From, header.Channel, header.To is not null, body);
        foreach (var handler in handlers)
        {
            try
            {
                await handler.Handler(message, _stop.Token).ConfigureAwait(false);
            }
            catch (Exception ex)
            {
                code = MemberDeliveryCode.HandlerFailed;
                MembershipLog.HandlerFailed(_logger, header.Channel, ex);
            }
        }
        if (header.To is not null) SendAck(new MemberMessageAckHeader(0, header.MessageId, header.From, code));
    }

    private void SendAck(MemberMessageAckHeader ack)
    {
        lock (_routeGate)
        {
            if (_hub is { } hub) hub.RouteAck(this, ack);
            else if (_connection is { } connection) connection.TrySendMember(PacketType.MemberMessageAck, ack with { Epoch = connection.LeaderEpoch });
        }
    }

    public async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0) return;
        StopLeading();
        _stop.Cancel();
        _queue.Writer.TryComplete();
        foreach (var pending in _pending.Values) pending.Cancel();
        _joined.TrySetException(new ObjectDisposedException(nameof(ClusterMembership)));
        _ = _joined.Task.Exception;
        try
        {
            await _dispatch.WaitAsync(TimeSpan.FromSeconds(5)).ConfigureAwait(false);
        }
        catch (TimeoutException)
        {
            // A handler that ignores its token; the worker ends when it returns.
        }
        _stop.Dispose();
    }

    private static ClusterMember With(ClusterMember m, string? endpoint = null, ReadOnlyMemory<byte>? advertisement = null, long? revision = null,
        IReadOnlyList<ClusterService>? services = null) =>
        new(m.Id, m.Host, m.ProcessId, endpoint ?? m.Endpoint, m.Weight, m.Eligible, advertisement ?? m.Advertisement, m.IsLeader, m.JoinedAt, m.LastSeen,
            revision ?? m.Revision, services ?? m.Services);

    /// <summary>One item for the dispatch worker: a view change, a new leader, a master change (Master set), or a message (Body set).</summary>
    private sealed record Work(MemberChange Change, ClusterMember? Leader, MemberMessageHeader Message, byte[]? Body, bool Master = false);

    private sealed class ChannelHandler(NodeMembership owner, string channel, Func<ReceivedMessage, CancellationToken, ValueTask> handler, object handle) : IDisposable
    {
        public string Channel { get; } = channel;

        public Func<ReceivedMessage, CancellationToken, ValueTask> Handler { get; } = handler;

        public object Owner { get; } = handle;

        public void Dispose() => owner.Remove(this);
    }

    private sealed class PendingDirect(string target)
    {
        private readonly TaskCompletionSource<DeliveryStatus> _completion = new(TaskCreationOptions.RunContinuationsAsynchronously);

        public string Target { get; } = target;

        public Task<DeliveryStatus> Task => _completion.Task;

        public void Complete(DeliveryStatus status) => _completion.TrySetResult(status);

        public void Cancel() => _completion.TrySetCanceled();
    }
}
