using System.Buffers;
using System.Diagnostics;
using ClusterSharing.Diagnostics;
using ClusterSharing.Liveness;
using ClusterSharing.Protocol;
using ClusterSharing.Proxies;
using ClusterSharing.Transport;
using MessagePack;
using MessagePack.Formatters;

namespace ClusterSharing.Leader;

/// <summary>
/// The leader's side of one follower connection: its half of the handshake, admission against MaxFollowers, channel
/// registrations, dispatch of invokes (with the caller's deadline and cancel packets honoured), oneways, publications
/// and subscriptions (the calls in FollowerSession.Dispatch.cs). Read loop, heartbeats, silence and goodbye: <see cref="PeerConnection"/>.
/// </summary>
internal sealed partial class FollowerSession : PeerConnection, IMemberLink
{
    private readonly LeaderServer _server;
    private readonly SessionChannels _channels;
    // Calls running on the real client; removing a call is what entitles a thread to finish or abandon it.
    private readonly RequestTable<InflightCall> _inflight = new();
    private readonly string _name;
    private readonly long _acceptedAt;
    private readonly long _registrationTicks;
    private readonly long _pulseGraceTicks;
    private readonly SubscriptionQuota _subscriptions;
    // Real calls still executing for this follower, cancelled-but-running ones included: what MaxInflightCallsPerFollower bounds.
    private int _running;
    // The highest invoke request id dispatched on this session; its sign bit is set once the leader said goodbye, and
    // from then on nothing is dispatched (see GoodbyeHeader.LastDispatched).
    private long _dispatchMark;
    private TaskCompletionSource? _callsFinished;
    private readonly LeaderHandshake _handshake;
    private readonly long _authDeadline;
    private int _admission;     // 0 not yet, 1 counted as a follower, 2 refused or closed
    private volatile bool _registered;
    private int _refusedDeposed; // 1 once a call was refused because the term ended: the connection is closing
    private int _processId;
    private volatile bool _memberJoined;
    private long _calls;

    public FollowerSession(LeaderServer server, FrameConnection connection)
        : base(connection, server.Options.HeartbeatInterval, "the follower")
    {
        _server = server;
        _channels = new SessionChannels(this, server);
        _name = connection.RemoteEndPoint?.ToString() ?? "(unknown)";
        PeerPort = (connection.RemoteEndPoint as System.Net.IPEndPoint)?.Port ?? 0;
        _acceptedAt = Stopwatch.GetTimestamp();
        _handshake = new LeaderHandshake(server.Secret, server.Options.Port);
        _subscriptions = new SubscriptionQuota(server.Options.MaxSubscriptionsPerFollower, server.Options.MaxRegistrationBytesPerFollower);
        _authDeadline = _acceptedAt + (long)(server.Options.ConnectTimeout.TotalSeconds * Stopwatch.Frequency);
        _registrationTicks = (long)(server.Options.RegistrationTimeout.TotalSeconds * Stopwatch.Frequency);
        _pulseGraceTicks = PulseGraceIntervals * (long)(server.Options.HeartbeatInterval.TotalSeconds * Stopwatch.Frequency);
    }

    /// <summary>Ends the admission (on close); true when it had been counted and must be given back.</summary>
    public bool ReleaseAdmitted() => Interlocked.Exchange(ref _admission, 2) == 1;

    /// <summary>
    /// Counts this connection as a follower on its first handshake or registration. Past MaxFollowers the peer is
    /// told why (a goodbye, so its ReadyAsync can report it) and the connection is closed.
    /// </summary>
    private bool Admit()
    {
        int state = Volatile.Read(ref _admission);
        if (state != 0) return state == 1;
        if (!_server.TryAdmit(this))
        {
            Volatile.Write(ref _admission, 2);
            string reason = $"the leader (pid {Environment.ProcessId}) already serves MaxFollowers ({_server.Options.MaxFollowers}) followers; " +
                            "raise ClusterClientOptions.MaxFollowers on every process or run fewer processes";
            if (_server.Rejections.Allow(_server.Logger)) LeaderLog.ConnectionRejected(_server.Logger, Who, reason);
            Connection.Send(PacketType.Goodbye, 0, new GoodbyeHeader(Epoch, reason));
            _ = Connection.CloseAsync($"refused: {reason}");
            return false;
        }
        if (Interlocked.CompareExchange(ref _admission, 1, 0) != 0) _server.ReleaseAdmission();
        else
        {
            LeaderLog.FollowerConnected(_server.Logger, Who);
            // From now on this connection's UDP pulses count, and only with the session's token (0 for an open cluster).
            _server.Pulse?.Admit(PeerPort, _handshake.PulseTokens);
        }
        return true;
    }

    protected override long Epoch => _server.Epoch;

    public string Name => _name;

    /// <summary>The connection and the user behind it (uid where the OS tells), for warnings.</summary>
    private string Who => $"{_name} ({Connection.DescribePeer()})";

    /// <summary>How much of a real client's exception this leader sends.</summary>
    internal RemoteErrorDetail ErrorDetail => _server.Options.RemoteErrorDetail;

    /// <summary>The follower's TCP port of this connection; its UDP pulses name it.</summary>
    public int PeerPort { get; }

    public void Start()
    {
        // Logged once admitted (authenticated): a flood of junk connections must not cost a log line each.
        StartReading();
    }

    protected override ValueTask OnFrame(Frame frame)
    {
        if (!_handshake.IsAuthenticated)
        {
            OnUnauthenticatedFrame(frame);
            return default;
        }
        switch (frame.Type)
        {
            case PacketType.Invoke:
                OnInvoke(frame);
                break;
            case PacketType.Oneway:
            case PacketType.Publish:
                OnOneway(frame);
                break;
            case PacketType.Cancel:
                if (_inflight.TryRemove(frame.RequestId, out var call)) call.CancelByCaller();
                break;
            case PacketType.Heartbeat:
                var heartbeat = frame.ReadHeader<HeartbeatHeader>();
                if (frame.RequestId != 0 && !Admit()) break;
                // A non-zero request id marks the handshake; its epoch is the last one the follower knew.
                AnswerHandshake(frame.RequestId, heartbeat);
                break;
            case PacketType.HeartbeatResponse:
                break;
            case PacketType.RegisterChannel:
                OnRegister(frame);
                break;
            case PacketType.Subscribe:
            case PacketType.Unsubscribe:
                OnSubscription(frame);
                break;
            case PacketType.SubscribeResultAck:
                break;
            case PacketType.Inspect:
                OnInspect(frame.RequestId);
                break;
            case PacketType.MemberAnnounce:
            case PacketType.MemberChannel:
            case PacketType.MemberMessage:
            case PacketType.MemberMessageAck:
            case PacketType.KeyHold:
            case PacketType.KeyRelease:
            case PacketType.KeyRenew:
                OnMember(frame);
                break;
            case PacketType.Goodbye:
                var goodbye = frame.ReadHeader<GoodbyeHeader>();
                Close($"the follower said goodbye: {goodbye.Reason ?? "no reason given"}");
                break;
            default:
                throw new ProtocolException(ProtocolErrorReason.UnexpectedPacket, $"A follower does not send {frame.Type} packets to the leader.");
        }
        return default;
    }

    private void AnswerHandshake(long requestId, in HeartbeatHeader heartbeat)
    {
        long epoch = requestId != 0 && heartbeat.Epoch >= Epoch ? _server.ObserveFollowerEpoch(heartbeat.Epoch) : Epoch;
        AnswerHeartbeat(requestId, epoch, heartbeat.SentAtTicks);
    }

    /// <summary>
    /// Before a follower proved it knows the shared secret only the handshake is accepted (see <see cref="LeaderHandshake"/>);
    /// anything else closes the connection.
    /// </summary>
    private void OnUnauthenticatedFrame(in Frame frame)
    {
        switch (_handshake.Receive(frame, out var reply, out var rejection))
        {
            case LeaderHandshakeStep.Challenge:
                Connection.Send(PacketType.AuthChallenge, frame.RequestId, new AuthHeader(Epoch, reply!));
                break;
            case LeaderHandshakeStep.Authenticated:
                LeaderLog.Authenticated(_server.Logger, _name);
                // Counted against MaxFollowers only once authenticated, so strangers cannot use up the slots.
                if (!Admit()) return;
                AnswerHandshake(frame.RequestId, new HeartbeatHeader(_handshake.HelloEpoch, 0));
                break;
            case LeaderHandshakeStep.Reject:
                RejectUnauthenticated(rejection!);
                break;
        }
    }

    private void RejectUnauthenticated(string reason)
    {
        if (!_handshake.TryReject()) return;
        if (_server.Rejections.Allow(_server.Logger)) LeaderLog.AuthenticationFailed(_server.Logger, Who, reason);
        Connection.Send(PacketType.Goodbye, 0, new GoodbyeHeader(Epoch, "authentication failed: " + reason));
        _ = Connection.CloseAsync("authentication failed: " + reason);
    }

    /// <summary>An authenticated peer (the inspector tool) asks for the leader's view; answered with the report.</summary>
    private void OnInspect(long requestId)
    {
        byte[] report;
        try
        {
            report = InspectReport.Write(_server.Inspect(this));
        }
        catch (Exception ex) when (ex is not OutOfMemoryException)
        {
            // A report that cannot be built (a channel closing meanwhile) must not take the connection down with an unhandled error.
            LeaderLog.CallFailed(_server.Logger, requestId, "Inspect", _name, ex);
            _ = Connection.CloseAsync("the inspect report could not be built");
            return;
        }
        Connection.Send(PacketType.InspectResult, requestId, new EpochHeader(Epoch), report);
    }

    /// <summary>This connection as the inspector reports it.</summary>
    internal FollowerStatus Describe(long now)
    {
        var peer = Connection.Peer;
        int pid = Volatile.Read(ref _processId);
        return new FollowerStatus(_name, pid != 0 ? pid : peer is { ProcessId: > 0 } p ? p.ProcessId : null, peer?.UserId,
            [.. _channels.Snapshot().Select(c => c.Name)], Interlocked.Read(ref _calls), Volatile.Read(ref _running),
            TimeSpan.FromSeconds((now - _acceptedAt) / (double)Stopwatch.Frequency));
    }

    private void OnRegister(in Frame frame)
    {
        var header = frame.ReadHeader<RegisterChannelHeader>();
        if (!Admit()) return;
        _registered = true;
        Volatile.Write(ref _processId, header.ProcessId);
        // Authenticated (or open) and registering: from now on frames up to MaxFrameSize are accepted.
        Connection.ReceiveLimits = _server.Limits;
        _channels.Register(frame.RequestId, header);
    }

    /// <summary>
    /// Membership frames go to the node's member view. An announcement admits the connection like a registration does:
    /// a process that only joins the membership (no client) is a follower too.
    /// </summary>
    private void OnMember(in Frame frame)
    {
        if (_server.Members is not { } members)
            throw new ProtocolException(ProtocolErrorReason.UnexpectedPacket, $"This leader keeps no member view; {frame.Type} is not accepted.");
        if (frame.Type == PacketType.MemberAnnounce)
        {
            if (!Admit()) return;
            _registered = true;
            Connection.ReceiveLimits = _server.Limits;
            _memberJoined = true;
        }
        else if (!_memberJoined)
        {
            throw new ProtocolException(ProtocolErrorReason.UnexpectedPacket, $"A {frame.Type} packet came before this connection's MemberAnnounce.");
        }
        members.OnFrame(this, frame);
    }

    string IMemberLink.Name => _name;

    string? IMemberLink.RemoteAddress => _name;

    bool IMemberLink.SendView(in MemberViewHeader header, ReadOnlySpan<byte> body) => !IsClosed && Connection.Send(PacketType.MemberView, 0, header, body);

    bool IMemberLink.SendMessage(in MemberMessageHeader header, ReadOnlySpan<byte> body) => !IsClosed && Connection.Send(PacketType.MemberMessage, 0, header, body);

    bool IMemberLink.SendAck(in MemberMessageAckHeader header) => !IsClosed && Connection.Send(PacketType.MemberMessageAck, 0, header);

    bool IMemberLink.SendKeys(PacketType type, in KeysHeader header, ReadOnlySpan<byte> body) => !IsClosed && Connection.Send(type, 0, header, body);

    internal void SendRegistrationResult(long requestId, in RegisterChannelResultHeader header) =>
        Connection.Send(PacketType.RegisterChannelResult, requestId, header);


    /// <summary>Monitor thread: the auth deadline and the registration timeout.</summary>
    protected override bool OnTick(long timestamp, bool heartbeatDue)
    {
        if (!_handshake.IsAuthenticated && timestamp > _authDeadline)
        {
            if (_server.Rejections.Allow(_server.Logger)) LeaderLog.AuthenticationFailed(_server.Logger, Who, "it did not authenticate within ConnectTimeout");
            Close("authentication failed: no proof within ConnectTimeout");
            return false;
        }
        if (!_registered && timestamp - _acceptedAt > _registrationTicks)
        {
            string reason = $"no channel was registered within RegistrationTimeout ({_server.Options.RegistrationTimeout.TotalMilliseconds:0} ms)";
            if (_server.Rejections.Allow(_server.Logger)) LeaderLog.ConnectionRejected(_server.Logger, Who, reason);
            Close(reason);
            return false;
        }
        return true;
    }

    /// <summary>
    /// The follower's UDP pulses (with this session's token) count as signs of life: they keep flowing while its thread
    /// pool is starved, for as long as that lasts. But a connection holding an incomplete frame is kept by pulses at
    /// most <see cref="PulseGraceIntervals"/> heartbeat intervals past its last complete frame (a frame trickling in).
    /// </summary>
    protected override long LastSignOutsideConnection =>
        Connection.IncompleteFrameBytes > 0 && Stopwatch.GetTimestamp() - LastReceived > _pulseGraceTicks ? 0 : _server.Pulse?.LastSeen(PeerPort) ?? 0;

    /// <summary>How many heartbeat intervals pulses alone may keep a connection with an incomplete frame alive after its last complete frame.</summary>
    internal const int PulseGraceIntervals = 10;

    protected override void OnEvicting(double silentMs) => LeaderLog.FollowerEvicted(_server.Logger, _name, silentMs);

    protected override void OnClosed(string reason)
    {
        int admission = Volatile.Read(ref _admission);
        if (admission == 1) LeaderLog.FollowerDisconnected(_server.Logger, _name, reason);
        else if (admission == 0 && _handshake.Abandoned is { } abandoned && _server.Rejections.Allow(_server.Logger))
            LeaderLog.AuthenticationFailed(_server.Logger, Who, abandoned);
        else if (admission == 0 && _server.QuietCloses.TryLog(out _)) LeaderLog.UnadmittedClosed(_server.Logger, Who, reason);
        foreach (var call in _inflight.RemoveAll()) call.CancelByCaller();
        _channels.Close();
        if (_memberJoined) _server.Members?.OnLinkClosed(this);
        foreach (var channel in _channels.Snapshot())
        {
            if (channel is ISubscriptionHost host) host.Hub.RemoveAll(this);
        }
        _server.OnSessionClosed(this);
    }

    /// <summary>Invokes running on the leader for this follower (tests).</summary>
    internal int InflightCount => _inflight.Count;

    /// <summary>A real call of this follower finished (whether or not its caller still waited, its reply sent): its slot is free.</summary>
    internal void CallFinished()
    {
        if (Interlocked.Decrement(ref _running) == 0 && Volatile.Read(ref _dispatchMark) < 0) Volatile.Read(ref _callsFinished)?.TrySetResult();
    }

    /// <summary>
    /// Takes <paramref name="requestId"/> for dispatch: false once the goodbye sealed the session (the invoke is then
    /// refused unrun). Only the read loop calls it, so the mark only races with <see cref="StopDispatching"/>.
    /// </summary>
    private bool TryMarkDispatched(long requestId)
    {
        while (true)
        {
            long mark = Volatile.Read(ref _dispatchMark);
            if (mark < 0) return false;
            if (Interlocked.CompareExchange(ref _dispatchMark, Math.Max(mark, requestId), mark) == mark) return true;
        }
    }

    private bool DispatchStopped => Volatile.Read(ref _dispatchMark) < 0;

    protected override long StopDispatching()
    {
        long lastDispatched = Interlocked.Or(ref _dispatchMark, long.MinValue) & long.MaxValue;
        _channels.StopDispatching();
        return lastDispatched;
    }

    protected override Task WhenCallsFinishedAsync()
    {
        var finished = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        Volatile.Write(ref _callsFinished, finished);
        if (Volatile.Read(ref _running) == 0) finished.TrySetResult();
        return finished.Task;
    }

    /// <summary>Real calls still executing for this follower, abandoned ones included (tests).</summary>
    internal int RunningCount => Volatile.Read(ref _running);
}
