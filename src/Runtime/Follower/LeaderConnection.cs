using System.Collections.Concurrent;
using System.Diagnostics;
using System.Net;
using ClusterSharing.Diagnostics;
using ClusterSharing.Liveness;
using ClusterSharing.Protocol;
using ClusterSharing.Proxies;
using MessagePack;
using MessagePack.Formatters;
using ClusterSharing.Transport;
using Microsoft.Extensions.Logging;

namespace ClusterSharing.Follower;

/// <summary>
/// A follower's connection to the leader: its half of the handshake (which tells a ClusterClient leader from a foreign
/// listener), the request table (request id → pending call) with call deadlines and cancellation, and the UDP pulse.
/// Read loop, heartbeats, silence and goodbye: <see cref="PeerConnection"/>.
/// </summary>
internal sealed class LeaderConnection : PeerConnection
{
    private readonly LivenessMonitor _monitor;
    private readonly Action<LeaderConnection> _onClosing;
    private readonly ILogger _logger;
    private readonly RequestTable<PendingRequest> _pending = new();
    private readonly List<PendingRequest> _expired = new(); // monitor thread only
    private readonly TaskCompletionSource<string> _completion = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly FollowerHandshake _handshake;
    private readonly PulseSender? _pulse;
    private readonly ConcurrentDictionary<int, ISubscriptionReceiver> _receivers = new();
    private long _nextRequestId;
    private volatile string? _goodbyeReason;
    // From a leader's goodbye: the highest request id it ran on this connection (-1: it did not say). Requests above it
    // fail as not run at once; the replies of the others are still read until the leader closes the connection.
    private long _leaderRanUpTo = -1;

    private LeaderConnection(FrameConnection connection, ClusterClientOptions options, byte[]? secret, LivenessMonitor monitor,
        Action<LeaderConnection> onClosing, ILogger logger)
        : base(connection, options.HeartbeatInterval, "the leader")
    {
        _monitor = monitor;
        _onClosing = onClosing;
        _logger = logger;
        _handshake = new FollowerHandshake(secret, options.Port, connection.DescribePeer);
        _pulse = PulseSender.TryCreate(connection.RemoteEndPoint, connection.LocalEndPoint);
    }

    /// <summary>The leader's endpoint, for messages.</summary>
    public string Where { get; private init; } = "the leader";

    /// <summary>The epoch the leader announced.</summary>
    public long LeaderEpoch { get; private set; }

    protected override long Epoch => LeaderEpoch;

    protected override bool SettlesBeforeDrain => true;

    /// <summary>How long the replies of a leaving leader are read after its goodbye (its own drain is 2 s).</summary>
    private static readonly TimeSpan LeavingLeaderDrain = TimeSpan.FromSeconds(3);

    /// <summary>Completes with the reason when the connection closes.</summary>
    public Task<string> Completion => _completion.Task;

    /// <summary>Takes the membership frames; set before this process announces itself.</summary>
    public IMemberReceiver? MemberReceiver { get; set; }

    /// <summary>This end's address (its TCP endpoint, or the socket path), for the member view.</summary>
    public string LocalAddress => Connection.LocalEndPoint is { } local ? EndPointText.Describe(local) : Where;

    /// <summary>Sends a membership packet; false when the connection is closed.</summary>
    /// <exception cref="ProtocolException">The frame would exceed MaxFrameSize (nothing was sent).</exception>
    public bool TrySendMember<THeader>(PacketType type, in THeader header, ReadOnlySpan<byte> body = default) where THeader : struct, IPacketHeader<THeader> =>
        !IsClosed && Connection.Send(type, 0, header, body);

    /// <summary>Routes subscription values of <paramref name="channelId"/> to <paramref name="receiver"/>.</summary>
    public void AddReceiver(int channelId, ISubscriptionReceiver receiver) => _receivers[channelId] = receiver;

    public static ProtocolLimits LimitsOf(ClusterClientOptions options) => new()
    {
        MaxFrameSize = options.MaxFrameSize,
        MaxHeaderSize = options.MaxHeaderSize,
    };

    /// <summary>
    /// Connects to <paramref name="endPoint"/> (the port or socket path the lease names) and performs the handshake (a
    /// heartbeat the leader must answer within <see cref="ClusterClientOptions.ConnectTimeout"/>, after the shared-secret
    /// challenge when a secret is set).
    /// </summary>
    /// <exception cref="System.Net.Sockets.SocketException">Nothing listens there (connection refused) or the socket failed.</exception>
    /// <exception cref="ClusterClientException">Something listens there but does not speak the ClusterClient protocol.</exception>
    public static async Task<LeaderConnection> ConnectAsync(EndPoint endPoint, ClusterClientOptions options, byte[]? secret, long knownEpoch, LivenessMonitor monitor,
        Action<LeaderConnection> onClosing, ILogger logger, CancellationToken cancellationToken)
    {
        int port = options.Port;
        string where = EndPointText.Describe(endPoint);
        var connectionOptions = new FrameConnectionOptions { Limits = LimitsOf(options), Logger = logger, Name = $"leader {where}" };
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        timeout.CancelAfter(options.ConnectTimeout);
        FrameConnection frames;
        try
        {
            frames = await FrameConnection.ConnectAsync(endPoint, connectionOptions, timeout.Token).ConfigureAwait(false);
        }
        catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
        {
            throw new ClusterClientException($"Connecting to {where} did not complete within {options.ConnectTimeout.TotalMilliseconds:0} ms (ConnectTimeout).");
        }

        var connection = new LeaderConnection(frames, options, secret, monitor, onClosing, logger) { Where = where };
        connection.StartReading();
        var hello = new PendingControl<long>(static frame => frame.ReadHeader<HeartbeatHeader>().Epoch, "the handshake")
        {
            Deadline = Stopwatch.GetTimestamp() + (long)(options.ConnectTimeout.TotalSeconds * Stopwatch.Frequency),
        };
        try
        {
            connection.SendControl(hello, PacketType.Heartbeat, new HeartbeatHeader(knownEpoch, Stopwatch.GetTimestamp()));
            var epoch = await hello.Task.WaitAsync(options.ConnectTimeout, cancellationToken).ConfigureAwait(false);
            if (!connection._handshake.TryComplete(where)) throw new ClusterClientException(connection._handshake.Failure!);
            connection.LeaderEpoch = Epochs.Check(epoch, "the leader's handshake");
            monitor.Add(connection);
            return connection;
        }
        catch (Exception ex) when (!cancellationToken.IsCancellationRequested && connection._handshake.Failure is { } authFailure)
        {
            await connection.CloseAsync("authentication failed").ConfigureAwait(false);
            throw new AuthenticationFailedException(authFailure.StartsWith("authentication failed", StringComparison.Ordinal) ? authFailure : "authentication failed: " + authFailure, ex);
        }
        catch (Exception ex) when (!cancellationToken.IsCancellationRequested)
        {
            if (connection._goodbyeReason is { } refusal)
            {
                // A ClusterClient leader that turned this process away (a limit): say so, not "foreign process".
                await connection.CloseAsync("handshake refused").ConfigureAwait(false);
                throw new LeaderRefusedException($"The ClusterClient leader on {where} refused this process: {refusal}.", ex);
            }
            string seen = connection.IsClosed && connection.Completion.IsCompleted
                ? $"the connection was accepted but closed: {connection.Completion.Result}"
                : $"the connection was accepted but nothing answered the ClusterClient handshake within {options.ConnectTimeout.TotalMilliseconds:0} ms; if a ClusterClient leader holds the port it is hung";
            await connection.CloseAsync("handshake failed").ConfigureAwait(false);
            throw new ClusterClientException(
                $"Port {port} ({where}) is held by a process that does not speak the ClusterClient protocol ({seen}). " +
                $"Choose another ClusterClientOptions.Port (or {ClusterClientOptions.PortEnvironmentVariable}) or stop the other program.", ex);
        }
        catch
        {
            await connection.CloseAsync("the follower is closing").ConfigureAwait(false);
            throw;
        }
    }

    protected override ValueTask OnFrame(Frame frame)
    {
        switch (frame.Type)
        {
            case PacketType.InvokeResult:
            case PacketType.RegisterChannelResult:
            case PacketType.HeartbeatResponse:
            case PacketType.InspectResult:
                if (_pending.TryRemove(frame.RequestId, out var request) && request.TryClaim()) request.TryComplete(frame);
                // Otherwise a late answer to a call that timed out or was cancelled: dropped.
                break;
            case PacketType.Heartbeat:
                AnswerHeartbeat(frame.RequestId, LeaderEpoch, frame.ReadHeader<HeartbeatHeader>().SentAtTicks);
                break;
            case PacketType.SubscribeResult:
                var subscription = frame.ReadHeader<SubscribeResultHeader>();
                if (_receivers.TryGetValue(subscription.ChannelId, out var receiver)) receiver.OnSubscriptionFrame(frame, subscription);
                break;
            case PacketType.MemberView:
            case PacketType.MemberMessage:
            case PacketType.MemberMessageAck:
            case PacketType.KeyRenewAck:
            case PacketType.KeyOwners:
                // No receiver yet: this process has not announced itself, so the leader sends none; a stray one is dropped.
                MemberReceiver?.OnMemberFrame(this, frame);
                break;
            case PacketType.Goodbye:
                var goodbye = frame.ReadHeader<GoodbyeHeader>();
                string reason = goodbye.Reason ?? "no reason given";
                _handshake.OnGoodbye(reason);
                _goodbyeReason = reason;
                if (goodbye.LastDispatched >= 0)
                {
                    // The leader is leaving on purpose and ran nothing above LastDispatched: the channels move on to the
                    // next leader now, while the read loop keeps taking the replies of the calls it did run.
                    Volatile.Write(ref _leaderRanUpTo, goodbye.LastDispatched);
                    Close($"the leader closed: {reason}", abort: false);
                    _ = AbortAfterDrainAsync(reason);
                }
                else
                {
                    Close($"the leader closed: {reason}");
                }
                break;
            case PacketType.AuthChallenge:
                var answer = _handshake.OnChallenge(frame.ReadHeader<AuthHeader>().Data);
                if (answer is not null) Connection.Send(PacketType.AuthResponse, frame.RequestId, new AuthHeader(LeaderEpoch, answer));
                else if (_handshake.Failure is { } failure) Close(failure);
                break;
            default:
                throw new ProtocolException(ProtocolErrorReason.UnexpectedPacket, $"A leader does not send {frame.Type} packets to a follower.");
        }
        return default;
    }

    /// <summary>Registers a channel; completes with the leader's answer.</summary>
    public Task<RegistrationResult> RegisterAsync(string channel, uint fingerprint, TimeSpan timeout, CancellationToken cancellationToken)
    {
        var request = new PendingControl<RegistrationResult>(static frame => RegistrationResult.From(frame.ReadHeader<RegisterChannelResultHeader>()),
            $"the registration of channel '{channel}'")
        {
            Deadline = Stopwatch.GetTimestamp() + (long)(timeout.TotalSeconds * Stopwatch.Frequency),
        };
        SendControl(request, PacketType.RegisterChannel, new RegisterChannelHeader(LeaderEpoch, channel, fingerprint, Environment.ProcessId));
        return request.Task.WaitAsync(cancellationToken);
    }

    /// <summary>Asks the leader for its view of the cluster (the inspector); completes with its report.</summary>
    /// <exception cref="ProtocolException">The answer is not a report.</exception>
    /// <exception cref="TimeoutException">No answer within <paramref name="timeout"/>.</exception>
    /// <exception cref="ClusterClientException">The connection closed first (a leader of an older version closes it on an Inspect packet).</exception>
    public Task<ClusterStatus> InspectAsync(TimeSpan timeout, CancellationToken cancellationToken)
    {
        var request = new PendingControl<ClusterStatus>(static frame => InspectReport.Read(frame.Body), "the inspect request")
        {
            Deadline = Stopwatch.GetTimestamp() + (long)(timeout.TotalSeconds * Stopwatch.Frequency),
        };
        SendControl(request, PacketType.Inspect, new EpochHeader(LeaderEpoch));
        return request.Task.WaitAsync(cancellationToken);
    }

    private void SendControl<THeader>(PendingRequest request, PacketType type, in THeader header) where THeader : struct, IPacketHeader<THeader>
    {
        long id = Interlocked.Increment(ref _nextRequestId);
        request.RequestId = id;
        _pending.TryAdd(request); // ids only grow: never a duplicate
        if (IsClosed || !Connection.Send(type, id, header))
        {
            if (_pending.TryRemove(id, request) && request.TryClaim()) request.Fail(request.Lost("the connection is closed"));
            return;
        }
        request.Sent = true;
    }

    /// <summary>Sends an invoke and returns its pending result.</summary>
    /// <exception cref="LeaderLostException">The connection is closed (not sent).</exception>
    public ValueTask<TResult> InvokeAsync<TArgs, TResult>(int channelId, ClusterMethod method, in TArgs arguments,
        IMessagePackFormatter<TArgs> argumentsFormatter, IMessagePackFormatter<TResult>? resultFormatter, MessagePackSerializerOptions options,
        TimeSpan timeout, TimeSpan remaining, CancellationToken cancellationToken) =>
        TryStartInvoke(channelId, method, arguments, argumentsFormatter, resultFormatter, options, timeout, remaining, cancellationToken, out var pending)
            ? pending
            : ValueTask.FromException<TResult>(new LeaderLostException(method.Name, requestSent: false));

    /// <summary>
    /// Sends an invoke. False when it was not sent because the connection is closed (nothing to undo: the caller may wait
    /// for the next leader); otherwise <paramref name="pending"/> is the result, or an argument error.
    /// </summary>
    /// <remarks>Allocation-free in steady state: the pending call is pooled and the table reuses its entries.</remarks>
    public bool TryStartInvoke<TArgs, TResult>(int channelId, ClusterMethod method, in TArgs arguments,
        IMessagePackFormatter<TArgs> argumentsFormatter, IMessagePackFormatter<TResult>? resultFormatter, MessagePackSerializerOptions options,
        TimeSpan timeout, TimeSpan remaining, CancellationToken cancellationToken, out ValueTask<TResult> pending) =>
        TryStartInvoke(channelId, method, arguments, argumentsFormatter, resultFormatter, options, timeout, remaining, null, cancellationToken, out pending);

    /// <summary>
    /// <see cref="TryStartInvoke{TArgs, TResult}(int, ClusterMethod, in TArgs, IMessagePackFormatter{TArgs}, IMessagePackFormatter{TResult}?, MessagePackSerializerOptions, TimeSpan, TimeSpan, CancellationToken, out ValueTask{TResult})"/>
    /// with <paramref name="retry"/> taking over if a deposed leader refuses the call unrun; the call owns it from here
    /// (it is released when the call completes otherwise).
    /// </summary>
    public bool TryStartInvoke<TArgs, TResult>(int channelId, ClusterMethod method, in TArgs arguments,
        IMessagePackFormatter<TArgs> argumentsFormatter, IMessagePackFormatter<TResult>? resultFormatter, MessagePackSerializerOptions options,
        TimeSpan timeout, TimeSpan remaining, INotRunRetry<TResult>? retry, CancellationToken cancellationToken, out ValueTask<TResult> pending)
    {
        pending = default;
        if (IsClosed)
        {
            retry?.Release();
            return false;
        }
        int timeoutMs = (int)Math.Clamp(Math.Ceiling(remaining.TotalMilliseconds), 1, int.MaxValue);
        var call = PendingCall<TResult>.Rent(method.Name, resultFormatter, options, timeout,
            Stopwatch.GetTimestamp() + (long)(remaining.TotalSeconds * Stopwatch.Frequency));
        call.Telemetry = CallTelemetry.StartClient(method.Name);
        if (retry is not null) call.SetRetry(retry);
        long id = Interlocked.Increment(ref _nextRequestId);
        call.RequestId = id;
        var task = call.Task;
        _pending.TryAdd(call);
        // Registered before the send, so a fast reply never races a late registration onto a recycled call.
        call.RegisterCancellation(cancellationToken, this);
        bool sent;
        try
        {
            sent = !IsClosed && Connection.Send(PacketType.Invoke, id, new CallHeader(LeaderEpoch, channelId, method.Id, call.Telemetry.TraceParent, call.Telemetry.TraceState), arguments, argumentsFormatter,
                options, timeoutMs, method.Idempotent ? PacketFlags.Idempotent : PacketFlags.None);
        }
        catch (ProtocolException ex)
        {
            pending = FailUnsent(call, ex.Reason == ProtocolErrorReason.FrameTooLarge
                ? new ClusterFrameTooLargeException($"The arguments of '{method.Name}' do not fit in a frame, so the call was not sent: {ex.Message}", ex)
                : new ClusterProtocolException($"The arguments of '{method.Name}' could not be written: {ex.Message}", ex));
            return true;
        }
        catch (Exception ex) when (ex is not OutOfMemoryException)
        {
            pending = FailUnsent(call, ex is MessagePackSerializationException or InvalidOperationException or ArgumentException
                ? new ClusterClientException($"The arguments of '{method.Name}' could not be serialized: {ex.Message}", ex)
                : new LeaderLostException(method.Name, requestSent: false, ex));
            return true;
        }
        if (!sent)
        {
            // Not sent: nobody will await this call (it is left to the GC, not pooled); the caller waits for the next leader.
            if (_pending.TryRemove(id, call) && call.TryClaim()) call.Fail(new LeaderLostException(method.Name, requestSent: false));
            return false;
        }
        call.Sent = true;
        pending = task;
        return true;
    }

    private ValueTask<TResult> FailUnsent<TResult>(PendingCall<TResult> call, Exception error)
    {
        var task = call.Task;
        if (_pending.TryRemove(call.RequestId, call) && call.TryClaim()) call.Fail(error);
        return task;
    }

    /// <summary>Sends a fire-and-forget call; false when the connection is closed.</summary>
    public bool TrySendOneway<TArgs>(int channelId, ClusterMethod method, in TArgs arguments, IMessagePackFormatter<TArgs> argumentsFormatter,
        MessagePackSerializerOptions options) =>
        TrySendCall(PacketType.Oneway, channelId, method, arguments, argumentsFormatter, options);

    /// <summary>Sends a publication (a producer span when traced); false when the connection is closed.</summary>
    public bool TrySendPublish(int channelId, ClusterMethod method, ReadOnlySpan<byte> arguments)
    {
        if (IsClosed) return false;
        var span = ClusterClientTracing.StartProducer(method.Name, ClusterClientTracing.FollowerRole, ClusterClientTracing.PublishOperation);
        var (traceParent, traceState) = ClusterClientTracing.ContextOf(span);
        bool sent = Connection.Send(PacketType.Publish, 0, new CallHeader(LeaderEpoch, channelId, method.Id, traceParent, traceState), arguments);
        ClusterClientTracing.Stop(span);
        return sent;
    }

    private bool TrySendCall<TArgs>(PacketType type, int channelId, ClusterMethod method, in TArgs arguments, IMessagePackFormatter<TArgs> argumentsFormatter,
        MessagePackSerializerOptions options)
    {
        if (IsClosed) return false;
        var span = ClusterClientTracing.StartProducer(method.Name, ClusterClientTracing.FollowerRole, ClusterClientTracing.OnewayOperation);
        var (traceParent, traceState) = ClusterClientTracing.ContextOf(span);
        try
        {
            bool sent = Connection.Send(type, 0, new CallHeader(LeaderEpoch, channelId, method.Id, traceParent, traceState), arguments, argumentsFormatter, options);
            ClusterClientTracing.Stop(span);
            return sent;
        }
        catch (Exception ex) when (ex is ProtocolException or MessagePackSerializationException)
        {
            var error = new ClusterClientException($"The arguments of '{method.Name}' could not be sent: {ex.Message}", ex);
            ClusterClientTracing.Stop(span, error);
            throw error;
        }
    }

    /// <summary>Starts or stops a subscription on the leader; false when the connection is closed.</summary>
    public bool TrySendSubscription(PacketType type, int channelId, ClusterMethod method, long subscriptionId, ReadOnlySpan<byte> registration) =>
        !IsClosed && Connection.Send(type, 0, new SubscriptionHeader(LeaderEpoch, channelId, method.Id, subscriptionId), registration,
            0, method.Broadcast ? PacketFlags.Broadcast : PacketFlags.None);

    /// <summary>Cancels a pending invoke: the caller sees <see cref="OperationCanceledException"/>, the leader cancels the real call.</summary>
    internal void CancelRequest(PendingRequest request, CancellationToken token)
    {
        if (!_pending.TryRemove(request.RequestId, request) || !request.TryClaim()) return;
        if (!IsClosed) Connection.Send(PacketType.Cancel, request.RequestId, new EpochHeader(LeaderEpoch));
        request.Fail(new OperationCanceledException(token));
    }

    /// <summary>Monitor thread: call deadlines and the UDP pulse (an answer carrying this session's token counts as a sign of life).</summary>
    protected override bool OnTick(long timestamp, bool heartbeatDue)
    {
        _pending.RemoveExpired(timestamp, _expired);
        foreach (var request in _expired)
        {
            if (request.TryClaim()) request.Fail(request.TimedOut(Where));
        }
        _expired.Clear();
        if (_pulse is not null && _pulse.Exchange(LeaderEpoch, _handshake.PulseTokens, heartbeatDue)) MarkAlive(timestamp);
        return true;
    }

    protected override void OnClosed(string reason)
    {
        _monitor.Remove(this);
        // Detach the channels first, so calls that retry see "no leader" and wait for the next one.
        try
        {
            _onClosing(this);
        }
        catch (Exception ex)
        {
            FollowerLog.CloseCallbackFailed(_logger, ex);
        }
        long ranUpTo = Volatile.Read(ref _leaderRanUpTo);
        if (ranUpTo < 0)
        {
            FailPending(reason);
        }
        else
        {
            var notRun = new List<PendingRequest>();
            _pending.RemoveAbove(ranUpTo, notRun);
            string notRunReason = $"{reason}; the leader said it had not run this request";
            foreach (var request in notRun)
            {
                if (request.TryClaim()) request.FailNotRun(notRunReason);
            }
        }
        _completion.TrySetResult(reason);
        _pulse?.Dispose();
    }

    /// <summary>After a leader's goodbye: the calls it ran and did not answer before closing are lost (sent).</summary>
    protected override void OnReadingEnded(string reason) => FailPending(reason);

    private void FailPending(string reason)
    {
        foreach (var request in _pending.RemoveAll())
        {
            if (request.TryClaim()) request.Fail(request.Lost(reason));
        }
    }

    /// <summary>A leader that said goodbye closes within its drain (2 s); one that does not is not waited for any longer.</summary>
    private async Task AbortAfterDrainAsync(string reason)
    {
        await Task.Delay(LeavingLeaderDrain).ConfigureAwait(false);
        FailPending($"the leader closed: {reason}; it did not answer within {LeavingLeaderDrain.TotalSeconds:0} s of its goodbye");
        Connection.Abort($"the leader closed: {reason}");
    }
}
