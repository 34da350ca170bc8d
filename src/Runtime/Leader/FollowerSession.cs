using System.Buffers;
using System.Collections.Concurrent;
using System.Diagnostics;
using ClusterSharing.Liveness;
using ClusterSharing.Protocol;
using ClusterSharing.Proxies;
using ClusterSharing.Serialization;
using ClusterSharing.Transport;

namespace ClusterSharing.Leader;

/// <summary>
/// The leader's side of one follower connection: channel registrations, dispatch of invokes (with the caller's
/// deadline and cancel packets honoured), oneways, publications, subscriptions, heartbeats and eviction.
/// </summary>
internal sealed class FollowerSession : IMonitored
{
    private readonly LeaderServer _server;
    private readonly FrameConnection _connection;
    private readonly List<ILeaderChannel> _channels = new();
    // Calls running on the real client, by request id. A Dictionary under a lock, not a ConcurrentDictionary: it reuses
    // its entries (no node per call), and removing a call is what entitles a thread to finish or abandon it.
    private readonly Dictionary<long, InflightCall> _inflight = new();
    private readonly Lock _inflightGate = new();
    // Real calls still executing for this follower, cancelled-but-running ones included: what MaxInflightCallsPerFollower bounds.
    private int _running;
    private readonly long _heartbeatTicks;
    private readonly string _name;
    private readonly long _acceptedAt;
    private readonly long _registrationTicks;
    private readonly SubscriptionQuota _subscriptions;
    private long _lastReceived;
    private long _lastHeartbeat;
    private int _closed;
    // Shared-secret handshake: 0 authenticated (or no secret), 1 waiting for the handshake, 2 challenge sent, 3 rejected.
    private int _authState;
    private byte[]? _leaderNonce;
    private long _handshakeEpoch;
    private readonly long _authDeadline;
    private int _admission;     // 0 not yet, 1 counted as a follower, 2 refused or closed
    private volatile bool _registered;
    private const int MaxWaitingRegistrations = 16;
    private int _waitingRegistrations;

    /// <summary>Gives back one waiting-registration slot when disposed.</summary>
    private readonly struct WaitingRegistration(FollowerSession session) : IDisposable
    {
        public void Dispose() => Interlocked.Decrement(ref session._waitingRegistrations);
    }

    public FollowerSession(LeaderServer server, FrameConnection connection)
    {
        _server = server;
        _connection = connection;
        _name = connection.RemoteEndPoint?.ToString() ?? "(unknown)";
        PeerPort = (connection.RemoteEndPoint as System.Net.IPEndPoint)?.Port ?? 0;
        _heartbeatTicks = (long)(server.Options.HeartbeatInterval.TotalSeconds * Stopwatch.Frequency);
        _lastReceived = _lastHeartbeat = _acceptedAt = Stopwatch.GetTimestamp();
        _authState = server.Secret is null ? 0 : 1;
        _authDeadline = _lastReceived + (long)(server.Options.ConnectTimeout.TotalSeconds * Stopwatch.Frequency);
        _registrationTicks = (long)(server.Options.RegistrationTimeout.TotalSeconds * Stopwatch.Frequency);
        _subscriptions = new SubscriptionQuota(server.Options.MaxSubscriptionsPerFollower, server.Options.MaxRegistrationBytesPerFollower);
    }

    /// <summary>Ends the admission (on close); true when it had been counted and must be given back.</summary>
    public bool ReleaseAdmitted() => Interlocked.Exchange(ref _admission, 2) == 1;

    /// <summary>True while this connection counts against <see cref="ClusterClientOptions.MaxFollowers"/>.</summary>
    public bool Admitted => Volatile.Read(ref _admission) == 1;

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
            _connection.Send(PacketType.Goodbye, 0, new GoodbyeHeader(Epoch, reason));
            _ = _connection.CloseAsync($"refused: {reason}");
            return false;
        }
        if (Interlocked.CompareExchange(ref _admission, 1, 0) != 0) _server.ReleaseAdmission();
        else LeaderLog.FollowerConnected(_server.Logger, Who);
        return true;
    }

    private long Epoch => _server.Epoch;

    public string Name => _name;

    /// <summary>The connection and the user behind it (uid where the OS tells), for warnings.</summary>
    private string Who => $"{_name} ({_connection.DescribePeer()})";

    /// <summary>The follower's TCP port of this connection; its UDP pulses name it.</summary>
    public int PeerPort { get; }

    public void Start()
    {
        // Logged once admitted (authenticated): a flood of junk connections must not cost a log line each.
        _ = RunAsync();
    }

    private async Task RunAsync()
    {
        string reason;
        try
        {
            var info = await _connection.RunAsync(OnFrame).ConfigureAwait(false);
            reason = info.ToString();
        }
        catch (Exception ex)
        {
            reason = $"{ex.GetType().Name}: {ex.Message}";
        }
        OnClosed(reason);
    }

    private ValueTask OnFrame(Frame frame)
    {
        Volatile.Write(ref _lastReceived, Stopwatch.GetTimestamp());
        if (Volatile.Read(ref _authState) != 0) return OnUnauthenticatedFrame(frame);
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
                if (TryRemoveInflight(frame.RequestId, out var call)) call.CancelByCaller();
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
            case PacketType.Goodbye:
                var goodbye = frame.ReadHeader<GoodbyeHeader>();
                _connection.Abort($"the follower said goodbye: {goodbye.Reason ?? "no reason given"}");
                break;
            default:
                throw new ProtocolException(ProtocolErrorReason.UnexpectedPacket, $"A follower does not send {frame.Type} packets to the leader.");
        }
        return default;
    }

    private void AnswerHandshake(long requestId, in HeartbeatHeader heartbeat)
    {
        long epoch = requestId != 0 && heartbeat.Epoch >= Epoch ? _server.ObserveFollowerEpoch(heartbeat.Epoch) : Epoch;
        _connection.Send(PacketType.HeartbeatResponse, requestId, new HeartbeatHeader(epoch, heartbeat.SentAtTicks));
    }

    /// <summary>
    /// Before a follower proved it knows the shared secret only the handshake is accepted: its heartbeat is answered
    /// with a challenge, and anything else than the proof (or heartbeats and a goodbye) closes the connection.
    /// </summary>
    private ValueTask OnUnauthenticatedFrame(in Frame frame)
    {
        if (Volatile.Read(ref _authState) == 3) return default; // rejected; the connection is closing
        switch (frame.Type)
        {
            case PacketType.Heartbeat when frame.RequestId != 0 && Volatile.Read(ref _authState) == 1:
                var heartbeat = frame.ReadHeader<HeartbeatHeader>();
                _handshakeEpoch = heartbeat.Epoch;
                _leaderNonce = AuthProof.NewNonce();
                Volatile.Write(ref _authState, 2);
                _connection.Send(PacketType.AuthChallenge, frame.RequestId, new AuthHeader(Epoch, _leaderNonce));
                break;
            case PacketType.Heartbeat:
            case PacketType.HeartbeatResponse:
                break;
            case PacketType.AuthResponse when Volatile.Read(ref _authState) == 2:
                OnAuthResponse(frame);
                break;
            case PacketType.Goodbye:
                RejectUnauthenticated("it said goodbye before authenticating (it has no secret or another one)");
                break;
            default:
                RejectUnauthenticated($"it sent {frame.Type} before authenticating");
                break;
        }
        return default;
    }

    private void OnAuthResponse(in Frame frame)
    {
        var header = frame.ReadHeader<AuthHeader>();
        var secret = _server.Secret!;
        int port = _server.Options.Port;
        if (header.Data.Length != AuthProof.NonceLength + AuthProof.ProofLength)
        {
            RejectUnauthenticated($"its auth response has {header.Data.Length} bytes instead of {AuthProof.NonceLength + AuthProof.ProofLength}");
            return;
        }
        var followerNonce = header.Data.AsSpan(0, AuthProof.NonceLength);
        var expected = AuthProof.FollowerProof(secret, port, _leaderNonce, followerNonce);
        if (!AuthProof.Matches(expected, header.Data.AsSpan(AuthProof.NonceLength)))
        {
            RejectUnauthenticated("its proof does not match this leader's secret (the processes use different secrets)");
            return;
        }
        Volatile.Write(ref _authState, 0);
        LeaderLog.Authenticated(_server.Logger, _name);
        _connection.Send(PacketType.AuthChallenge, frame.RequestId, new AuthHeader(Epoch, AuthProof.LeaderProof(secret, port, _leaderNonce, followerNonce)));
        // Counted against MaxFollowers only once authenticated, so strangers cannot use up the slots.
        if (!Admit()) return;
        AnswerHandshake(frame.RequestId, new HeartbeatHeader(_handshakeEpoch, 0));
    }

    private void RejectUnauthenticated(string reason)
    {
        if (Interlocked.Exchange(ref _authState, 3) == 3) return;
        if (_server.Rejections.Allow(_server.Logger)) LeaderLog.AuthenticationFailed(_server.Logger, Who, reason);
        _connection.Send(PacketType.Goodbye, 0, new GoodbyeHeader(Epoch, "authentication failed: " + reason));
        _ = _connection.CloseAsync("authentication failed: " + reason);
    }

    private void OnRegister(in Frame frame)
    {
        var header = frame.ReadHeader<RegisterChannelHeader>();
        long requestId = frame.RequestId;
        if (!Admit()) return;
        _registered = true;
        // Authenticated (or open) and registering: from now on frames up to MaxFrameSize are accepted.
        _connection.ReceiveLimits = _server.Limits;
        var channel = _server.FindChannel(header.ChannelName);
        if (channel is null)
        {
            Refuse(requestId, header.ChannelName, -1,
                $"the leader (pid {Environment.ProcessId}) does not host channel '{header.ChannelName}'. All processes sharing a port must create the same clients (same contracts and names)");
            return;
        }
        if (channel.Fingerprint != header.ContractFingerprint)
        {
            Refuse(requestId, header.ChannelName, -2,
                $"the leader (pid {Environment.ProcessId}) hosts channel '{header.ChannelName}' with a different contract (fingerprint 0x{channel.Fingerprint:x8}, follower 0x{header.ContractFingerprint:x8}); deploy the same contract version to every process");
            return;
        }
        int channelId;
        lock (_channels)
        {
            channelId = _channels.IndexOf(channel) + 1;
            if (channelId == 0)
            {
                _channels.Add(channel);
                channelId = _channels.Count;
            }
        }
        if (channel.Readiness.IsReady)
        {
            Accept(requestId, header.ChannelName, channelId);
            return;
        }
        // Each registration waiting for a channel's client is a task; a follower cannot make the leader hold more than a few.
        if (Interlocked.Increment(ref _waitingRegistrations) > MaxWaitingRegistrations)
        {
            Interlocked.Decrement(ref _waitingRegistrations);
            Refuse(requestId, header.ChannelName, -4, $"this connection already has {MaxWaitingRegistrations} registrations waiting for a client on the leader");
            return;
        }
        _ = AnswerWhenReadyAsync(requestId, header.ChannelName, channel, channelId);
    }

    private async Task AnswerWhenReadyAsync(long requestId, string name, ILeaderChannel channel, int channelId)
    {
        using var release = new WaitingRegistration(this);
        try
        {
            await channel.Readiness.WaitAsync(_server.Options.MaxWaitTime, CancellationToken.None).ConfigureAwait(false);
            Accept(requestId, name, channelId);
        }
        catch (TimeoutException)
        {
            Refuse(requestId, name, -4, $"the client factory of channel '{name}' has not completed on the leader within {_server.Options.MaxWaitTime.TotalMilliseconds:0} ms");
        }
        catch (ClusterClientException ex)
        {
            // The factory's own failure text, so every follower reports the leader's message.
            var failure = ex.InnerException is { } inner ? LeaderChannelFailure.Describe(inner) : ex.Message;
            Refuse(requestId, name, -3, failure);
        }
    }

    private void Accept(long requestId, string name, int channelId)
    {
        LeaderLog.ChannelRegistered(_server.Logger, _name, name, channelId);
        _connection.Send(PacketType.RegisterChannelResult, requestId, new RegisterChannelResultHeader(Epoch, channelId, true, null));
    }

    private void Refuse(long requestId, string name, int code, string error)
    {
        LeaderLog.ChannelRefused(_server.Logger, _name, name, error);
        _connection.Send(PacketType.RegisterChannelResult, requestId, new RegisterChannelResultHeader(Epoch, code, false, error));
    }

    private ILeaderChannel? ChannelById(int id)
    {
        lock (_channels) return id >= 1 && id <= _channels.Count ? _channels[id - 1] : null;
    }

    private bool Resolve(in CallHeader header, PacketType type, out ILeaderChannel channel, out ClusterMethod method, out string? error)
    {
        method = null!;
        channel = ChannelById(header.ChannelId)!;
        if (channel is null)
        {
            error = $"channel id {header.ChannelId} is not registered on this connection";
            return false;
        }
        if (!channel.TryGetMethod(header.MethodId, out method))
        {
            error = $"channel '{channel.Name}' has no method with id 0x{header.MethodId:x8}; deploy the same contract version to every process";
            return false;
        }
        var expected = type switch
        {
            PacketType.Invoke => ClusterMethodKind.Invoke,
            PacketType.Publish => ClusterMethodKind.Publish,
            _ => ClusterMethodKind.Oneway,
        };
        // Close members are local to a follower's handle: no packet may run one on the leader's shared real client.
        if (method.Kind != expected)
        {
            error = $"'{method.Name}' is a {method.Kind} member and cannot be called with a {type} packet";
            return false;
        }
        if (!channel.Readiness.IsReady)
        {
            error = $"the client of channel '{channel.Name}' is not ready on the leader";
            return false;
        }
        error = null;
        return true;
    }

    private void OnInvoke(in Frame frame)
    {
        var header = frame.ReadHeader<CallHeader>();
        long requestId = frame.RequestId;
        if (!Resolve(header, PacketType.Invoke, out var channel, out var method, out var error))
        {
            SendError(requestId, "ClusterSharing.ClusterClientException", $"The leader cannot run this call: {error}.", null);
            return;
        }
        bool added = false;
        InflightCall? call = null;
        lock (_inflightGate)
        {
            // A cancel frees the request id at once but not the slot: the real call may ignore its token and keep
            // running, so the slot is held until it actually finishes.
            if (Volatile.Read(ref _running) < _server.Options.MaxInflightCallsPerFollower)
            {
                call = InflightCall.Rent(this, requestId, method);
                added = _inflight.TryAdd(requestId, call);
                if (added) Interlocked.Increment(ref _running);
            }
        }
        if (call is null)
        {
            string limit = $"this follower already has MaxInflightCallsPerFollower ({_server.Options.MaxInflightCallsPerFollower}) calls running on the leader";
            if (_server.Rejections.Allow(_server.Logger)) LeaderLog.LimitReached(_server.Logger, Who, limit);
            SendError(requestId, "ClusterSharing.ClusterClientException",
                $"The leader refused '{method.Name}': {limit}. Wait for calls to complete, or raise ClusterClientOptions.MaxInflightCallsPerFollower on the leader.", null);
            return;
        }
        if (!added)
        {
            throw new ProtocolException(ProtocolErrorReason.UnexpectedPacket, $"Request id {requestId} is already in flight on this connection.");
        }
        int timeout = frame.Header.TimeoutMilliseconds;
        if (timeout > 0) call.CancelAfter(timeout);
        ValueTask pending;
        try
        {
            var arguments = frame.CreateBodyReader();
            pending = channel.DispatchAsync(method, ref arguments, call, call.Token);
        }
        catch (Exception ex)
        {
            call.Complete(ex);
            return;
        }
        if (pending.IsCompleted) call.Complete(pending);
        else _ = call.AwaitAsync(pending);
    }

    private void OnOneway(in Frame frame)
    {
        var header = frame.ReadHeader<CallHeader>();
        if (!Resolve(header, frame.Type, out var channel, out var method, out var error))
        {
            LeaderLog.CallFailed(_server.Logger, frame.RequestId, $"0x{header.MethodId:x8}", _name, new ClusterClientException(error!));
            return;
        }
        try
        {
            var arguments = frame.CreateBodyReader();
            var pending = channel.DispatchAsync(method, ref arguments, NoReply.Instance, CancellationToken.None);
            if (!pending.IsCompletedSuccessfully) _ = ObserveAsync(pending, method);
        }
        catch (Exception ex)
        {
            LeaderLog.CallFailed(_server.Logger, frame.RequestId, method.Name, _name, ex);
        }
    }

    private async Task ObserveAsync(ValueTask pending, ClusterMethod method)
    {
        try
        {
            await pending.ConfigureAwait(false);
        }
        catch (Exception ex)
        {
            LeaderLog.CallFailed(_server.Logger, 0, method.Name, _name, ex);
        }
    }

    private void OnSubscription(in Frame frame)
    {
        var header = frame.ReadHeader<SubscriptionHeader>();
        var channel = ChannelById(header.ChannelId) as ISubscriptionHost;
        if (channel is null)
            throw new ProtocolException(ProtocolErrorReason.UnexpectedPacket, $"Channel id {header.ChannelId} is not registered on this connection.");
        var subscriber = new RemoteSubscriber(this, header.ChannelId, header.MethodId, header.SubscriptionId);
        if (frame.Type == PacketType.Unsubscribe)
        {
            // The registration admitted with the id is the one removed, whatever bytes the unsubscribe carries.
            if (_subscriptions.Remove(header.ChannelId, header.MethodId, header.SubscriptionId) is { } admitted
                && channel.Hub.Remove(header.MethodId, admitted, this, header.SubscriptionId))
            {
                _subscriptions.ChargeIdle(admitted);
            }
            return;
        }
        byte[] registration;
        try
        {
            // Keyed on canonical bytes: re-encoding one topic differently does not make another real subscription.
            registration = CanonicalRegistration.Of(frame.Body.ToArray());
        }
        catch (MessagePackSerializationException ex)
        {
            subscriber.Complete(new ClusterClientException($"The leader cannot decode the subscription's registration: {ex.Message}"));
            return;
        }
        if (_subscriptions.TryAdd(header.ChannelId, header.MethodId, header.SubscriptionId, registration) is { } limit)
        {
            if (_server.Rejections.Allow(_server.Logger)) LeaderLog.LimitReached(_server.Logger, Who, limit);
            subscriber.Complete(new ClusterClientException(
                $"The leader refused the subscription: {limit}. Unsubscribe others first, or raise the limit on the leader (ClusterClientOptions)."));
            return;
        }
        if (!channel.Hub.Add(header.MethodId, registration, subscriber, _server.Options.MaxIdleSubscriptionsPerChannel))
            _subscriptions.Remove(header.ChannelId, header.MethodId, header.SubscriptionId);
    }

    /// <summary>How much of a real client's exception this leader sends.</summary>
    internal RemoteErrorDetail ErrorDetail => _server.Options.RemoteErrorDetail;

    /// <summary>Pushes one encoded subscription value; false when the connection is closed or too far behind.</summary>
    internal bool SendValue(int channelId, uint methodId, long subscriptionId, SubscriptionEventKind kind, ReadOnlySpan<byte> body) =>
        _connection.Send(PacketType.SubscribeResult, 0, new SubscribeResultHeader(Epoch, channelId, methodId, subscriptionId, kind), body);

    private void SendError(long requestId, string type, string message, string? stack, string? code = null)
    {
        _connection.Send(PacketType.InvokeResult, requestId, new ResultHeader(Epoch, ResultStatus.Error), (type, message, stack, code),
            static (ref MessagePackWriter writer, in (string Type, string Message, string? Stack, string? Code) e) =>
                RemoteError.Write(ref writer, e.Type, e.Message, e.Stack, e.Code));
    }

    private bool TryRemoveInflight(long requestId, [System.Diagnostics.CodeAnalysis.NotNullWhen(true)] out InflightCall? call)
    {
        lock (_inflightGate) return _inflight.Remove(requestId, out call);
    }

    /// <summary>Removes <paramref name="call"/> if the table still holds it under its id.</summary>
    private bool TryRemoveInflight(long requestId, InflightCall call)
    {
        lock (_inflightGate)
        {
            if (!_inflight.TryGetValue(requestId, out var current) || current != call) return false;
            _inflight.Remove(requestId);
            return true;
        }
    }

    public void OnTick(long timestamp)
    {
        if (Volatile.Read(ref _closed) != 0) return;
        if (Volatile.Read(ref _authState) != 0 && timestamp > _authDeadline)
        {
            if (_server.Rejections.Allow(_server.Logger)) LeaderLog.AuthenticationFailed(_server.Logger, Who, "it did not authenticate within ConnectTimeout");
            _connection.Abort("authentication failed: no proof within ConnectTimeout");
            return;
        }
        if (!_registered && timestamp - _acceptedAt > _registrationTicks)
        {
            string reason = $"no channel was registered within RegistrationTimeout ({_server.Options.RegistrationTimeout.TotalMilliseconds:0} ms)";
            if (_server.Rejections.Allow(_server.Logger)) LeaderLog.ConnectionRejected(_server.Logger, Who, reason);
            _connection.Abort(reason);
            return;
        }
        long lastSign = Math.Max(Volatile.Read(ref _lastReceived), _server.Pulse?.LastSeen(PeerPort) ?? 0);
        long silent = timestamp - lastSign;
        if (silent > 3 * _heartbeatTicks)
        {
            LeaderLog.FollowerEvicted(_server.Logger, _name, silent * 1000.0 / Stopwatch.Frequency);
            _connection.Abort($"the follower sent nothing for {silent * 1000 / Stopwatch.Frequency} ms (3 heartbeat intervals)");
            return;
        }
        if (timestamp - _lastHeartbeat >= _heartbeatTicks)
        {
            _lastHeartbeat = timestamp;
            _connection.Send(PacketType.Heartbeat, 0, new HeartbeatHeader(Epoch, timestamp));
        }
    }

    private void OnClosed(string reason)
    {
        if (Interlocked.Exchange(ref _closed, 1) != 0) return;
        if (Admitted) LeaderLog.FollowerDisconnected(_server.Logger, _name, reason);
        else if (Volatile.Read(ref _authState) != 3 && Volatile.Read(ref _admission) == 0 && _server.Rejections.Allow(_server.Logger))
            LeaderLog.UnadmittedClosed(_server.Logger, Who, reason);
        InflightCall[] abandoned;
        lock (_inflightGate)
        {
            abandoned = [.. _inflight.Values];
            _inflight.Clear();
        }
        foreach (var call in abandoned) call.CancelByCaller();
        ILeaderChannel[] channels;
        lock (_channels) channels = [.. _channels];
        foreach (var channel in channels)
        {
            if (channel is ISubscriptionHost host) host.Hub.RemoveAll(this);
        }
        _server.OnSessionClosed(this);
    }

    /// <summary>Invokes running on the leader for this follower (tests).</summary>
    internal int InflightCount
    {
        get { lock (_inflightGate) return _inflight.Count; }
    }

    /// <summary>Real calls still executing for this follower, abandoned ones included (tests).</summary>
    internal int RunningCount => Volatile.Read(ref _running);

    public async ValueTask CloseAsync(string reason)
    {
        _connection.Send(PacketType.Goodbye, 0, new GoodbyeHeader(Epoch, reason));
        using var drain = new CancellationTokenSource(TimeSpan.FromSeconds(2));
        await _connection.CloseAsync(reason, drain.Token).ConfigureAwait(false);
        OnClosed(reason);
    }

    /// <summary>
    /// One invoke running on the real client for this follower; its reply goes straight into the connection. Pooled: a
    /// call that took itself out of the in-flight table (so no cancel packet or close can still reach it) and was not
    /// abandoned is reused for a later request.
    /// </summary>
    private sealed class InflightCall : IReplyWriter
    {
        private const int PoolCapacity = 1024;
        private static readonly ConcurrentQueue<InflightCall> Pool = new();
        private static int s_pooled;

        private FollowerSession _session = null!;
        private long _requestId;
        private ClusterMethod _method = null!;
        private CancellationTokenSource _cancellation = null!;
        // 0 running, 1 finished here (reply sent or dropped), 2 abandoned by the caller (cancel packet, connection gone).
        private int _done;
        // This call removed itself from the in-flight table: no other thread can reach it any more.
        private bool _removed;

        public static InflightCall Rent(FollowerSession session, long requestId, ClusterMethod method)
        {
            if (Pool.TryDequeue(out var call)) Interlocked.Decrement(ref s_pooled);
            else call = new InflightCall();
            call._session = session;
            call._requestId = requestId;
            call._method = method;
            call._cancellation = CancellationPool.Rent();
            call._done = 0;
            call._removed = false;
            return call;
        }

        private void Recycle()
        {
            _session = null!;
            _method = null!;
            _cancellation = null!;
            if (Interlocked.Increment(ref s_pooled) <= PoolCapacity) Pool.Enqueue(this);
            else Interlocked.Decrement(ref s_pooled);
        }

        public CancellationToken Token => _cancellation.Token;

        public void CancelAfter(int milliseconds) => _cancellation.CancelAfter(milliseconds);

        /// <summary>The caller gave up (cancel packet, or its connection closed): cancel the real call, send nothing.</summary>
        public void CancelByCaller()
        {
            if (Interlocked.CompareExchange(ref _done, 2, 0) != 0) return;
            try
            {
                _cancellation.Cancel();
            }
            catch (AggregateException)
            {
                // Callbacks of the real client threw while cancelling; the call is abandoned either way.
            }
        }

        public void WriteResult<TResult>(TResult value, IMessagePackFormatter<TResult> formatter)
        {
            if (!TryFinish()) return;
            try
            {
                _session._connection.Send(PacketType.InvokeResult, _requestId, new ResultHeader(_session.Epoch, ResultStatus.Ok), value, formatter);
            }
            catch (Exception ex) when (ex is ProtocolException or MessagePackSerializationException)
            {
                _session.SendError(_requestId, ex.GetType().FullName!, $"The result of '{_method.Name}' could not be sent: {ex.Message}", null);
            }
        }

        public void WriteVoid()
        {
            if (!TryFinish()) return;
            ReadOnlySpan<byte> nil = [MessagePackCode.Nil];
            _session._connection.Send(PacketType.InvokeResult, _requestId, new ResultHeader(_session.Epoch, ResultStatus.Ok), nil);
        }

        private bool TryFinish()
        {
            _removed |= _session.TryRemoveInflight(_requestId, this);
            // Past the caller's deadline the caller has already failed with a timeout: drop the late reply.
            return Interlocked.CompareExchange(ref _done, 1, 0) == 0 && !_cancellation.IsCancellationRequested;
        }

        public async Task AwaitAsync(ValueTask pending)
        {
            try
            {
                await pending.ConfigureAwait(false);
                Finish(null);
            }
            catch (Exception ex)
            {
                Finish(ex);
            }
        }

        public void Complete(ValueTask completed)
        {
            try
            {
                completed.GetAwaiter().GetResult();
                Finish(null);
            }
            catch (Exception ex)
            {
                Finish(ex);
            }
        }

        public void Complete(Exception error) => Finish(error);

        private void Finish(Exception? error)
        {
            // The real call is over (completed, failed or finally honoured its cancellation): its slot is free.
            Interlocked.Decrement(ref _session._running);
            _removed |= _session.TryRemoveInflight(_requestId, this);
            if (error is not null && Interlocked.CompareExchange(ref _done, 1, 0) == 0 && !_cancellation.IsCancellationRequested)
            {
                LeaderLog.CallFailed(_session._server.Logger, _requestId, _method.Name, _session._name, error);
                string type = error is MessagePackSerializationException ? typeof(ClusterClientException).FullName! : error.GetType().FullName ?? error.GetType().Name;
                var detail = _session._server.Options.RemoteErrorDetail;
                string message = error is MessagePackSerializationException
                    ? $"The leader could not decode the arguments of '{_method.Name}': {error.Message}. Do all processes run the same contract version?"
                    : RemoteError.MessageOf(error, detail);
                _session.SendError(_requestId, type, message, RemoteError.StackTraceOf(error, detail), error.Data["Code"]?.ToString());
            }
            else if (error is null && Interlocked.CompareExchange(ref _done, 1, 0) == 0 && !_cancellation.IsCancellationRequested)
            {
                // The dispatcher returned without writing a result (a contract bug); never leave the caller waiting.
                _session.SendError(_requestId, typeof(ClusterClientException).FullName!, $"'{_method.Name}' completed on the leader without a result.", null);
            }
            // Abandoned calls may still be cancelling their source on another thread: leave both to the GC.
            if (Volatile.Read(ref _done) != 2)
            {
                CancellationPool.Return(_cancellation);
                if (_removed) Recycle();
            }
        }
    }

    /// <summary>Reply writer for oneways and publications: the result is discarded.</summary>
    private sealed class NoReply : IReplyWriter
    {
        public static readonly NoReply Instance = new();

        public void WriteResult<TResult>(TResult value, IMessagePackFormatter<TResult> formatter)
        {
        }

        public void WriteVoid()
        {
        }
    }
}

/// <summary>Reuses the per-call cancellation sources of the leader's dispatch (a timer-armed source is a sizeable allocation).</summary>
internal static class CancellationPool
{
    private const int Capacity = 1024;
    private static readonly ConcurrentQueue<CancellationTokenSource> Pool = new();
    private static int s_count;

    public static CancellationTokenSource Rent()
    {
        if (Pool.TryDequeue(out var source))
        {
            Interlocked.Decrement(ref s_count);
            return source;
        }
        return new CancellationTokenSource();
    }

    /// <summary>Pools <paramref name="source"/> when it was never cancelled (TryReset also disarms its timer); disposes it otherwise.</summary>
    /// <remarks>As in Kestrel's pooled request-abort sources: only the call that owned it returns it, after the real call
    /// completed; a registration the real client left on the token would be stale either way.</remarks>
    public static void Return(CancellationTokenSource source)
    {
        if (source.TryReset())
        {
            if (Interlocked.Increment(ref s_count) <= Capacity)
            {
                Pool.Enqueue(source);
                return;
            }
            Interlocked.Decrement(ref s_count);
        }
        source.Dispose();
    }
}
