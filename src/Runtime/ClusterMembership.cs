using ClusterSharing.Node;
using ClusterSharing.Node.Membership;
using ClusterSharing.Serialization;
using MessagePack;

namespace ClusterSharing;

/// <summary>
/// Who is in the cluster, and messages between its members. Every process on a port is a member (one per process and
/// port, for its whole life): the leader keeps the view and relays; every member gets the view and its changes.
/// Get it from a client (<see cref="ClusterClient{T}.Membership"/>) or on its own with <see cref="JoinAsync(Action{ClusterClientOptions}?, CancellationToken)"/>.
/// </summary>
/// <remarks>
/// Events and message handlers run on one background worker per process, in the order the view changed and messages
/// arrived; a slow handler delays the ones after it. See docs/membership.md for what is guaranteed.
/// </remarks>
public sealed class ClusterMembership : IAsyncDisposable
{
    private readonly ClusterNode _node;
    private readonly NodeMembership _membership;
    private readonly bool _ownsNode;
    private readonly MessagePackSerializerOptions _serializer;
    private readonly Action<MemberChange> _onChanged;
    private readonly Action<ClusterMember> _onLeaderChanged;
    private readonly Action<ClusterMember> _onMasterChanged;
    private int _disposed;
    private readonly Action<bool, long> _onRoleChanged;
    private int _wasLeader;
    private readonly object _servicesGate = new();
    private readonly ServiceTracker _services = new();
    private readonly Dictionary<string, Func<ClusterServiceInstance, CancellationToken, ValueTask>> _setups = new(StringComparer.Ordinal);
    private readonly CancellationTokenSource _closing = new();
    private Task _serviceWork = Task.CompletedTask;
    private TaskCompletionSource _servicesReady = new(TaskCreationOptions.RunContinuationsAsynchronously);

    internal ClusterMembership(ClusterNode node, bool ownsNode)
    {
        _node = node;
        _membership = node.Membership;
        _ownsNode = ownsNode;
        _serializer = WireSerializer.CreateOptions(null, node.Options.SerializerOptions, DecodingLimits.UntrustedData);
        _onChanged = OnChanged;
        _onLeaderChanged = leader => LeaderChanged?.Invoke(this, new ClusterMemberEventArgs(leader));
        _onMasterChanged = member => MasterChanged?.Invoke(this, new ClusterMemberEventArgs(member));
        _onRoleChanged = OnRoleChanged;
        _wasLeader = node.IsLeader ? 1 : 0;
        node.RoleChanged += _onRoleChanged;
        _membership.Changed += _onChanged;
        _membership.LeaderChanged += _onLeaderChanged;
        _membership.MasterChanged += _onMasterChanged;
    }

    /// <summary>
    /// Joins the membership on <see cref="ClusterClientOptions.Port"/> without a client (a process that shares none, or
    /// only watches), and waits until this process is in the view. Processes with clients on the port are members
    /// through them; this process joins the same node as its clients on that port.
    /// </summary>
    /// <param name="configure">Sets options (port, secret, weight, eligibility); validated before anything starts.</param>
    /// <param name="cancellationToken">Stops waiting (the membership is closed again).</param>
    /// <returns>The membership; dispose it to leave.</returns>
    /// <exception cref="ArgumentException">An option is invalid (the message names it).</exception>
    /// <exception cref="ClusterClientException">This process was not in the view within <see cref="ClusterClientOptions.MaxWaitTime"/> (the message says what was seen on the port).</exception>
    public static Task<ClusterMembership> JoinAsync(Action<ClusterClientOptions>? configure = null, CancellationToken cancellationToken = default)
    {
        var options = new ClusterClientOptions();
        configure?.Invoke(options);
        return JoinAsync(options, cancellationToken);
    }

    /// <summary>Like <see cref="JoinAsync(Action{ClusterClientOptions}?, CancellationToken)"/>, with options built elsewhere (validated here, not to be changed afterwards).</summary>
    /// <param name="options">The options.</param>
    /// <param name="cancellationToken">Stops waiting (the membership is closed again).</param>
    /// <returns>The membership; dispose it to leave.</returns>
    /// <exception cref="ArgumentException">An option is invalid (the message names it).</exception>
    /// <exception cref="ClusterClientException">This process was not in the view within <see cref="ClusterClientOptions.MaxWaitTime"/>.</exception>
    public static async Task<ClusterMembership> JoinAsync(ClusterClientOptions options, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(options);
        options.Validate();
        var node = ClusterNodeRegistry.Acquire(options);
        var membership = new ClusterMembership(node, ownsNode: true);
        try
        {
            node.Start();
            await membership.ReadyAsync(cancellationToken).ConfigureAwait(false);
            return membership;
        }
        catch
        {
            await membership.DisposeAsync().ConfigureAwait(false);
            throw;
        }
    }

    /// <summary>This member's id (also <see cref="Self"/>.Id).</summary>
    public string LocalId => _membership.Id;

    /// <summary>This member as the view shows it (its own record before it joined).</summary>
    public ClusterMember Self => _membership.Self;

    /// <summary>The members this process knows, oldest first; a snapshot (read it again for a newer one). Never blocks.</summary>
    public IReadOnlyList<ClusterMember> Members => _membership.Members;

    /// <summary>The leading member, or null before this process joined.</summary>
    public ClusterMember? Leader => _membership.Leader;

    /// <summary>True once this process is in its own view.</summary>
    public bool IsJoined => _membership.Joined.IsCompletedSuccessfully;

    /// <summary>The member with this id, or null when this process does not know it.</summary>
    public ClusterMember? Find(string memberId) => _membership.Find(memberId);

    /// <summary>A member joined (or this process learned of it).</summary>
    public event EventHandler<ClusterMemberEventArgs>? MemberAdded;

    /// <summary>A member left: it closed, its process died (its connection to the leader broke or fell silent), or it did not re-attach after a failover.</summary>
    public event EventHandler<ClusterMemberEventArgs>? MemberRemoved;

    /// <summary>A member's entry changed: its advertisement, or whether it leads.</summary>
    public event EventHandler<ClusterMemberEventArgs>? MemberUpdated;

    /// <summary>The view names a new leader (this process included).</summary>
    public event EventHandler<ClusterMemberEventArgs>? LeaderChanged;

    /// <summary>
    /// A member became a master or stopped being one (<see cref="ClusterMember.IsMaster"/> says which; a master that left
    /// is reported once more with IsMaster false, after its <see cref="MemberRemoved"/>). Raised on every member, after the
    /// <see cref="MemberAdded"/>/<see cref="MemberUpdated"/> of the same change. See <see cref="ClusterClientOptions.MastersRequired"/>.
    /// </summary>
    public event EventHandler<ClusterMemberEventArgs>? MasterChanged;

    /// <summary>The masters this process sees now (the leader first, then by rank).</summary>
    public IReadOnlyList<ClusterMember> Masters =>
        [.. Members.Where(m => m.IsMaster).OrderByDescending(m => m.IsLeader).ThenBy(m => m, MemberRank.Instance)];

    /// <summary>Waits until this process is in the view, at most <see cref="ClusterClientOptions.MaxWaitTime"/>.</summary>
    /// <exception cref="ClusterClientException">Not joined within MaxWaitTime (the message says what the node saw).</exception>
    public async Task ReadyAsync(CancellationToken cancellationToken = default)
    {
        ObjectDisposedException.ThrowIf(Volatile.Read(ref _disposed) != 0, this);
        try
        {
            await _membership.Joined.WaitAsync(_node.Options.MaxWaitTime, cancellationToken).ConfigureAwait(false);
        }
        catch (TimeoutException)
        {
            throw new ClusterClientException($"This process did not join the membership on port {_node.Port} within MaxWaitTime ({_node.Options.MaxWaitTime.TotalMilliseconds:0} ms): {_node.DescribeLeaderSearch()}.");
        }
    }

    /// <summary>
    /// Publishes <paramref name="info"/> (MessagePack, at most 16 KiB) in this member's entry; every member gets a
    /// <see cref="MemberUpdated"/>. It replaces the previous advertisement and is kept across failovers.
    /// </summary>
    /// <exception cref="ArgumentException">The encoded advertisement is larger than 16 KiB.</exception>
    /// <exception cref="MessagePackSerializationException"><typeparamref name="T"/> cannot be serialized.</exception>
    public void Advertise<T>(T info)
    {
        ObjectDisposedException.ThrowIf(Volatile.Read(ref _disposed) != 0, this);
        _membership.Advertise(WireSerializer.ToBytes(info, _serializer.Resolver.GetFormatterWithVerify<T>(), _serializer));
    }

    /// <summary>
    /// Receives the messages sent to <paramref name="channel"/> (broadcasts, and direct messages on it) from now on. The
    /// handler runs on the membership worker, one message at a time, in each sender's order.
    /// </summary>
    /// <param name="channel">1 to 128 ASCII letters, digits and <c>. - _ : /</c>; names starting with <c>$</c> or <c>cluster.</c> are reserved.</param>
    /// <param name="handler">Called per message; its token fires when the membership closes.</param>
    /// <returns>Dispose to stop this handler (the same as <see cref="Leave"/> for it alone).</returns>
    /// <exception cref="ArgumentException">The channel name is invalid or reserved.</exception>
    public IDisposable Join<T>(string channel, Func<ClusterMessage<T>, CancellationToken, ValueTask> handler)
    {
        ArgumentNullException.ThrowIfNull(handler);
        ObjectDisposedException.ThrowIf(Volatile.Read(ref _disposed) != 0, this);
        var formatter = _serializer.Resolver.GetFormatterWithVerify<T>();
        var serializer = _serializer;
        return _membership.Join(channel, (message, token) =>
        {
            var value = WireSerializer.Decode(message.Body, formatter, serializer);
            return handler(new ClusterMessage<T>(message.From, message.Channel, message.Direct, value), token);
        }, this);
    }

    /// <summary>Like <see cref="Join{T}(string, Func{ClusterMessage{T}, CancellationToken, ValueTask})"/> with a synchronous handler.</summary>
    /// <exception cref="ArgumentException">The channel name is invalid or reserved.</exception>
    public IDisposable Join<T>(string channel, Action<ClusterMessage<T>> handler)
    {
        ArgumentNullException.ThrowIfNull(handler);
        return Join<T>(channel, (message, _) =>
        {
            handler(message);
            return ValueTask.CompletedTask;
        });
    }

    /// <summary>Stops every handler this object joined to <paramref name="channel"/>; when no handler of this process is left, the member leaves the channel.</summary>
    public void Leave(string channel)
    {
        ArgumentNullException.ThrowIfNull(channel);
        _membership.Leave(channel, this);
    }

    /// <summary>
    /// Sends <paramref name="message"/> to every other member joined to <paramref name="channel"/>, through the leader:
    /// at most once each, in this sender's order, best effort (a member that is failing over or whose queue is full misses it).
    /// Completes when the message left this process; waits for a leader at most MaxWaitTime.
    /// </summary>
    /// <exception cref="ArgumentException">The channel name is invalid or reserved, or the message is larger than 1 MiB (or the frame size).</exception>
    /// <exception cref="ClusterClientException">No leader within MaxWaitTime.</exception>
    public Task SendAsync<T>(string channel, T message, CancellationToken cancellationToken = default)
    {
        ObjectDisposedException.ThrowIf(Volatile.Read(ref _disposed) != 0, this);
        return _membership.SendAsync(channel, Encode(message), cancellationToken);
    }

    /// <summary>
    /// Sends <paramref name="message"/> to one member's handlers on <paramref name="channel"/> and waits for what became of it:
    /// <see cref="DeliveryStatus.Delivered"/> once they ran, <see cref="DeliveryStatus.MemberGone"/> when the member is not (or no longer) alive,
    /// <see cref="DeliveryStatus.TimedOut"/> without an answer within <paramref name="timeout"/> (default ResponseTimeout). At most once.
    /// </summary>
    /// <exception cref="ArgumentException">The channel name is invalid or reserved, or the message is too large.</exception>
    /// <exception cref="ClusterClientException">No leader within MaxWaitTime.</exception>
    /// <exception cref="OperationCanceledException"><paramref name="cancellationToken"/> fired first.</exception>
    public Task<DeliveryStatus> SendToAsync<T>(string memberId, string channel, T message, TimeSpan? timeout = null, CancellationToken cancellationToken = default)
    {
        ArgumentException.ThrowIfNullOrEmpty(memberId);
        ObjectDisposedException.ThrowIf(Volatile.Read(ref _disposed) != 0, this);
        var wait = timeout ?? _node.Options.ResponseTimeout;
        if (wait <= TimeSpan.Zero) throw new ArgumentOutOfRangeException(nameof(timeout), wait, "The timeout must be positive.");
        return _membership.SendToAsync(memberId, channel, Encode(message), wait, cancellationToken);
    }

    // ---- leadership ----

    /// <summary>This process became the leader (a promotion: elected, handed over to, or promoted).</summary>
    public event EventHandler? Promoted;

    /// <summary>This process stopped leading (demoted, handed over, deposed or closing).</summary>
    public event EventHandler? Demoted;

    private void OnRoleChanged(bool isLeader, long epoch)
    {
        if (Interlocked.Exchange(ref _wasLeader, isLeader ? 1 : 0) == (isLeader ? 1 : 0)) return;
        (isLeader ? Promoted : Demoted)?.Invoke(this, EventArgs.Empty);
    }

    /// <summary>
    /// Makes this process the leader: it takes a weight above every member it knows (and becomes eligible), so the
    /// leader hands over to it. Completes when this process leads.
    /// </summary>
    /// <exception cref="ClusterClientException">It did not lead within <see cref="ClusterClientOptions.MaxWaitTime"/> (say its Role is Follower).</exception>
    public async Task PromoteAsync(CancellationToken cancellationToken = default)
    {
        ObjectDisposedException.ThrowIf(Volatile.Read(ref _disposed) != 0, this);
        if (_node.IsLeader) return;
        if (_node.Options.Role == ClusterRole.Follower)
            throw new InvalidOperationException("This process has Role Follower and cannot lead; use Role Auto to allow promotion.");
        var led = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        Action<bool, long> watch = (isLeader, _) => { if (isLeader) led.TrySetResult(); };
        _node.RoleChanged += watch;
        try
        {
            int top = Members.Count == 0 ? Self.Weight : Members.Max(m => m.Weight);
            _membership.SetPreference(top == int.MaxValue ? top : top + 1, eligible: true);
            if (_node.IsLeader) return;
            await led.Task.WaitAsync(_node.Options.MaxWaitTime, cancellationToken).ConfigureAwait(false);
        }
        catch (TimeoutException)
        {
            throw new ClusterClientException($"This process did not become the leader on port {_node.Port} within MaxWaitTime ({_node.Options.MaxWaitTime.TotalMilliseconds:0} ms): {_node.DescribeLeaderSearch()}.");
        }
        finally
        {
            _node.RoleChanged -= watch;
        }
    }

    /// <summary>
    /// Stops this process leading: it takes a weight below every member it knows (and, with <paramref name="ineligible"/>,
    /// never leads again), steps down gracefully and leaves the election to the others. Nothing happens to a follower
    /// beyond the preference change.
    /// </summary>
    /// <returns>True when this process was leading and stepped down.</returns>
    public Task<bool> DemoteAsync(bool ineligible = false, CancellationToken cancellationToken = default)
    {
        ObjectDisposedException.ThrowIf(Volatile.Read(ref _disposed) != 0, this);
        cancellationToken.ThrowIfCancellationRequested();
        int bottom = Members.Count == 0 ? Self.Weight : Members.Min(m => m.Weight);
        _membership.SetPreference(bottom == int.MinValue ? bottom : bottom - 1, eligible: !ineligible && _membership.IsEligible);
        return Task.FromResult(_node.Demote(ineligible ? "demoted (ineligible from now on)" : "demoted"));
    }

    // ---- services ----

    /// <summary>
    /// Advertises (or updates) the service <paramref name="name"/> of this member, with whether it is ready and its
    /// configuration (MessagePack, at most 4 KiB); members that <see cref="Need"/> it see it. At most 32 per process.
    /// </summary>
    /// <exception cref="ArgumentException">The name is invalid (the channel-name rules) or the configuration too large.</exception>
    public void AdvertiseService<T>(string name, bool ready, T config)
    {
        ObjectDisposedException.ThrowIf(Volatile.Read(ref _disposed) != 0, this);
        _membership.AdvertiseService(name, ready, Encode(config));
    }

    /// <summary>Advertises (or updates) a service without configuration.</summary>
    /// <exception cref="ArgumentException">The name is invalid.</exception>
    public void AdvertiseService(string name, bool ready)
    {
        ObjectDisposedException.ThrowIf(Volatile.Read(ref _disposed) != 0, this);
        _membership.AdvertiseService(name, ready, []);
    }

    /// <summary>Stops advertising the service <paramref name="name"/>.</summary>
    public void WithdrawService(string name) => _membership.WithdrawService(name);

    /// <summary>The ready instances of <paramref name="name"/> among the members this process knows.</summary>
    public IReadOnlyList<ClusterServiceInstance> FindServices(string name) =>
        [.. Members.SelectMany(m => m.Services.Where(s => s.Ready && s.Name == name).Select(s => new ClusterServiceInstance(m, s)))];

    /// <summary>Adds <paramref name="name"/> to the services this handle needs before <see cref="ServicesReady"/>.</summary>
    public void Need(string name)
    {
        ObjectDisposedException.ThrowIf(Volatile.Read(ref _disposed) != 0, this);
        lock (_servicesGate) _services.Need(name);
        UpdateServices();
    }

    /// <summary>
    /// Needs <paramref name="name"/> and calls <paramref name="setup"/> once for each ready instance discovered (one at a
    /// time, in discovery order); <see cref="ServicesReady"/> is raised after the setups of the instances that made the
    /// needed services present.
    /// </summary>
    public void Setup(string name, Func<ClusterServiceInstance, CancellationToken, ValueTask> setup)
    {
        ArgumentNullException.ThrowIfNull(setup);
        ObjectDisposedException.ThrowIf(Volatile.Read(ref _disposed) != 0, this);
        lock (_servicesGate)
        {
            _setups[name] = setup;
            _services.Need(name);
        }
        UpdateServices();
    }

    /// <summary>Every needed service has a ready instance (raised again after one was lost and came back).</summary>
    public event EventHandler? ServicesReady;

    /// <summary>A needed service lost its last ready instance.</summary>
    public event EventHandler<ClusterServiceEventArgs>? ServiceLost;

    /// <summary>Completes when every needed service has a ready instance (at once if they have).</summary>
    public Task WhenServicesReadyAsync(CancellationToken cancellationToken = default)
    {
        lock (_servicesGate) return _servicesReady.Task.WaitAsync(cancellationToken);
    }

    private void UpdateServices()
    {
        if (Volatile.Read(ref _disposed) != 0) return;
        var members = Members;
        lock (_servicesGate)
        {
            var changes = _services.Update(members);
            foreach (var instance in changes.Discovered)
            {
                if (!_setups.TryGetValue(instance.Service.Name, out var setup)) continue;
                _serviceWork = _serviceWork.ContinueWith(_ => RunSetupAsync(setup, instance), CancellationToken.None,
                    TaskContinuationOptions.None, TaskScheduler.Default).Unwrap();
            }
            foreach (var lost in changes.Lost)
            {
                if (_servicesReady.Task.IsCompleted) _servicesReady = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
                _serviceWork = _serviceWork.ContinueWith(_ => ServiceLost?.Invoke(this, new ClusterServiceEventArgs(lost)), CancellationToken.None,
                    TaskContinuationOptions.None, TaskScheduler.Default);
            }
            if (changes.BecameReady)
            {
                var ready = _servicesReady;
                _serviceWork = _serviceWork.ContinueWith(_ =>
                {
                    ready.TrySetResult();
                    ServicesReady?.Invoke(this, EventArgs.Empty);
                }, CancellationToken.None, TaskContinuationOptions.None, TaskScheduler.Default);
            }
        }
    }

    private async Task RunSetupAsync(Func<ClusterServiceInstance, CancellationToken, ValueTask> setup, ClusterServiceInstance instance)
    {
        try
        {
            await setup(instance, _closing.Token).ConfigureAwait(false);
        }
        catch (Exception ex)
        {
            MembershipLog.HandlerFailed(_node.Logger, "setup of " + instance.Service.Name, ex);
        }
    }

    private byte[] Encode<T>(T message) => WireSerializer.ToBytes(message, _serializer.Resolver.GetFormatterWithVerify<T>(), _serializer);

    private void OnChanged(MemberChange change)
    {
        var handlers = change.Kind switch
        {
            MemberChangeKind.Added => MemberAdded,
            MemberChangeKind.Removed => MemberRemoved,
            _ => MemberUpdated,
        };
        handlers?.Invoke(this, new ClusterMemberEventArgs(change.Member));
        UpdateServices();
    }

    /// <summary>Leaves this object's channels and stops its events; a membership from <see cref="JoinAsync(Action{ClusterClientOptions}?, CancellationToken)"/> also leaves the cluster (when no client of this process keeps the node).</summary>
    public async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0) return;
        _node.RoleChanged -= _onRoleChanged;
        _membership.Changed -= _onChanged;
        _membership.LeaderChanged -= _onLeaderChanged;
        _membership.MasterChanged -= _onMasterChanged;
        _membership.Leave(null, this);
        _closing.Cancel();
        if (_ownsNode) await ClusterNodeRegistry.ReleaseAsync(_node).ConfigureAwait(false);
    }
}
