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
/// and subscriptions. Read loop, heartbeats, silence and goodbye: <see cref="PeerConnection"/>.
/// </summary>
internal sealed class FollowerSession : PeerConnection
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
    private readonly LeaderHandshake _handshake;
    private readonly long _authDeadline;
    private int _admission;     // 0 not yet, 1 counted as a follower, 2 refused or closed
    private volatile bool _registered;
    private int _refusedDeposed; // 1 once a call was refused because the term ended: the connection is closing
    private int _processId;
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

    internal void SendRegistrationResult(long requestId, in RegisterChannelResultHeader header) =>
        Connection.Send(PacketType.RegisterChannelResult, requestId, header);

    private void OnInvoke(in Frame frame)
    {
        var header = frame.ReadHeader<CallHeader>();
        long requestId = frame.RequestId;
        // Fencing: nothing runs unless this process's term is still current (a stopped, deposed leader that resumes
        // finds calls waiting in its socket buffer; they are refused, not run, and retried on the new leader).
        long fence = _server.ConfirmedEpoch();
        if (fence == 0)
        {
            RefuseDeposed(requestId, header.MethodId);
            return;
        }
        if (!_channels.Resolve(header, PacketType.Invoke, out var channel, out var method, out var error))
        {
            SendRuntimeError(requestId, typeof(ClusterProtocolException), $"The leader cannot run this call: {error}.");
            return;
        }
        // A cancel frees the request id at once but not the slot: the real call may ignore its token and keep running,
        // so the slot is held until it actually finishes (CallFinished).
        Interlocked.Increment(ref _calls);
        var call = InflightCall.Rent(this, requestId, method);
        var added = Interlocked.Increment(ref _running) > _server.Options.MaxInflightCallsPerFollower
            ? RequestAddResult.Full
            : _inflight.TryAdd(call, _server.Options.MaxInflightCallsPerFollower);
        if (added != RequestAddResult.Added)
        {
            Interlocked.Decrement(ref _running);
            call.ReturnUnused();
        }
        if (added == RequestAddResult.Full)
        {
            string limit = $"this follower already has MaxInflightCallsPerFollower ({_server.Options.MaxInflightCallsPerFollower}) calls running on the leader";
            if (_server.Rejections.Allow(_server.Logger)) LeaderLog.LimitReached(_server.Logger, Who, limit);
            SendRuntimeError(requestId, typeof(ClusterClientException),
                $"The leader refused '{method.Name}': {limit}. Wait for calls to complete, or raise ClusterClientOptions.MaxInflightCallsPerFollower on the leader.");
            return;
        }
        if (added == RequestAddResult.Duplicate)
        {
            throw new ProtocolException(ProtocolErrorReason.UnexpectedPacket, $"Request id {requestId} is already in flight on this connection.");
        }
        int timeout = frame.Header.TimeoutMilliseconds;
        if (timeout > 0) call.CancelAfter(timeout);
        var telemetry = call.Telemetry = CallTelemetry.StartServer(method.Name, header.TraceParent, header.TraceState);
        ValueTask pending;
        long outerFence = FencingScope.Enter(fence);
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
        finally
        {
            FencingScope.Exit(outerFence);
            telemetry.RestorePrevious();
        }
        if (pending.IsCompleted) call.Complete(pending);
        else _ = call.AwaitAsync(pending);
    }

    private void OnOneway(in Frame frame)
    {
        var header = frame.ReadHeader<CallHeader>();
        long fence = _server.ConfirmedEpoch();
        if (fence == 0)
        {
            // Not run. A publication is re-published to the new leader by its process; a oneway is at most once: dropped.
            RefuseDeposed(0, header.MethodId);
            return;
        }
        if (!_channels.Resolve(header, frame.Type, out var channel, out var method, out var error))
        {
            LeaderLog.CallFailed(_server.Logger, frame.RequestId, $"0x{header.MethodId:x8}", _name, new ClusterClientException(error!));
            return;
        }
        long outerFence = FencingScope.Enter(fence);
        // Current while the real client runs (its own spans nest under it), linked to the follower's producer span.
        var previous = ClusterClientTracing.Source.HasListeners() ? Activity.Current : null;
        var span = ClusterClientTracing.StartLinkedConsumer(method.Name, ClusterClientTracing.LeaderRole,
            frame.Type == PacketType.Publish ? ClusterClientTracing.PublishOperation : ClusterClientTracing.OnewayOperation, header.TraceParent, header.TraceState);
        try
        {
            var arguments = frame.CreateBodyReader();
            var pending = channel.DispatchAsync(method, ref arguments, NoReply.Instance, CancellationToken.None);
            if (!pending.IsCompletedSuccessfully) _ = ObserveAsync(pending, method, span);
            else ClusterClientTracing.Stop(span);
        }
        catch (Exception ex)
        {
            LeaderLog.CallFailed(_server.Logger, frame.RequestId, method.Name, _name, ex);
            ClusterClientTracing.Stop(span, ex);
        }
        finally
        {
            FencingScope.Exit(outerFence);
            if (span is not null) Activity.Current = previous;
        }
    }

    /// <summary>
    /// A call arrived after this process's term ended (it was stopped and deposed, and has not stepped down yet): it is
    /// not run. An invoke is answered with <see cref="RemoteError.NotRunCode"/>, which the follower turns into
    /// <see cref="LeaderLostException"/> with RequestSent false, so it is retried on the new leader; then the connection
    /// is closed, so the follower looks for the new leader at once.
    /// </summary>
    private void RefuseDeposed(long requestId, uint methodId)
    {
        if (requestId != 0)
        {
            SendError(requestId, RemoteError.NotRunType,
                "The call was not run: the leader's term ended (it was deposed) before the call could run; it is retried on the new leader.", null, RemoteError.NotRunCode);
        }
        if (Interlocked.Exchange(ref _refusedDeposed, 1) != 0) return;
        LeaderLog.DeposedCallRefused(_server.Logger, _name, $"0x{methodId:x8}");
        _ = CloseAsync("this leader's term ended (deposed); calls were refused, not run");
    }

    private async Task ObserveAsync(ValueTask pending, ClusterMethod method, Activity? span)
    {
        try
        {
            await pending.ConfigureAwait(false);
            ClusterClientTracing.Stop(span);
        }
        catch (Exception ex)
        {
            LeaderLog.CallFailed(_server.Logger, 0, method.Name, _name, ex);
            ClusterClientTracing.Stop(span, ex);
        }
    }

    private void OnSubscription(in Frame frame)
    {
        var header = frame.ReadHeader<SubscriptionHeader>();
        var channel = _channels.ById(header.ChannelId) as ISubscriptionHost;
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

    /// <summary>Pushes one encoded subscription value; false when the connection is closed or too far behind.</summary>
    internal bool SendValue(int channelId, uint methodId, long subscriptionId, SubscriptionEventKind kind, ReadOnlySpan<byte> body)
    {
        // The leader's fan-out span, when one is current (traced values only), travels with the value.
        var (traceParent, traceState) = ClusterClientTracing.CurrentDelivery();
        return Connection.Send(PacketType.SubscribeResult, 0, new SubscribeResultHeader(Epoch, channelId, methodId, subscriptionId, kind, traceParent, traceState), body);
    }

    /// <summary>Sends the result of invoke <paramref name="requestId"/>.</summary>
    internal void SendResult<TResult>(long requestId, TResult value, IMessagePackFormatter<TResult> formatter, MessagePackSerializerOptions options) =>
        Connection.Send(PacketType.InvokeResult, requestId, new ResultHeader(Epoch, ResultStatus.Ok), value, formatter, options);

    /// <summary>Sends the (nil) result of a void invoke <paramref name="requestId"/>.</summary>
    internal void SendVoidResult(long requestId)
    {
        ReadOnlySpan<byte> nil = [MessagePackCode.Nil];
        Connection.Send(PacketType.InvokeResult, requestId, new ResultHeader(Epoch, ResultStatus.Ok), nil);
    }

    internal void LogCallFailed(long requestId, string method, Exception error) => LeaderLog.CallFailed(_server.Logger, requestId, method, _name, error);

    internal void SendError(long requestId, string type, string message, string? stack, string? code = null)
    {
        Connection.Send(PacketType.InvokeResult, requestId, new ResultHeader(Epoch, ResultStatus.Error), (type, message, stack, code),
            static (ref MessagePackWriter writer, in (string Type, string Message, string? Stack, string? Code) e) =>
                RemoteError.Write(ref writer, e.Type, e.Message, e.Stack, e.Code));
    }

    /// <summary>Fails invoke <paramref name="requestId"/> with ClusterClient's own exception <paramref name="type"/> (not the real client's).</summary>
    internal void SendRuntimeError(long requestId, Type type, string message)
    {
        Connection.Send(PacketType.InvokeResult, requestId, new ResultHeader(Epoch, ResultStatus.Error), (type.FullName!, message),
            static (ref MessagePackWriter writer, in (string Type, string Message) e) =>
                RemoteError.Write(ref writer, e.Type, e.Message, null, null, runtime: true));
    }

    /// <summary>Removes <paramref name="call"/> if the table still holds it under its id.</summary>
    internal bool TryRemoveInflight(long requestId, InflightCall call) => _inflight.TryRemove(requestId, call);

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
        foreach (var channel in _channels.Snapshot())
        {
            if (channel is ISubscriptionHost host) host.Hub.RemoveAll(this);
        }
        _server.OnSessionClosed(this);
    }

    /// <summary>Invokes running on the leader for this follower (tests).</summary>
    internal int InflightCount => _inflight.Count;

    /// <summary>A real call of this follower finished (whether or not its caller still waited): its slot is free.</summary>
    internal void CallFinished() => Interlocked.Decrement(ref _running);

    /// <summary>Real calls still executing for this follower, abandoned ones included (tests).</summary>
    internal int RunningCount => Volatile.Read(ref _running);
}
