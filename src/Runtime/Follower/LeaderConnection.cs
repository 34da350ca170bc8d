using System.Collections.Concurrent;
using System.Diagnostics;
using System.Net;
using ClusterSharing.Liveness;
using ClusterSharing.Node;
using ClusterSharing.Protocol;
using ClusterSharing.Proxies;
using ClusterSharing.Serialization;
using ClusterSharing.Transport;
using Microsoft.Extensions.Logging;

namespace ClusterSharing.Follower;

/// <summary>What the leader answered to a channel registration.</summary>
internal enum RegistrationOutcome
{
    Accepted = 0,
    /// <summary>The leader has no channel of that name (yet).</summary>
    NotHosted = -1,
    /// <summary>The leader's contract has other methods.</summary>
    ContractMismatch = -2,
    /// <summary>The leader's client factory threw.</summary>
    FactoryFailed = -3,
    /// <summary>The leader's factory has not completed in time.</summary>
    NotReady = -4,
}

/// <summary>A registration answer; when refused, <see cref="RegisterChannelResultHeader.ChannelId"/> carries the (negative) outcome.</summary>
internal readonly record struct RegistrationResult(RegistrationOutcome Outcome, int ChannelId, string? Error);

/// <summary>Receives subscription values pushed by the leader.</summary>
internal interface ISubscriptionReceiver
{
    /// <summary>Called on the read loop; the frame is valid only during the call.</summary>
    void OnSubscriptionFrame(in Frame frame, in SubscribeResultHeader header);
}

/// <summary>
/// A follower's connection to the leader: the request table (request id → pending call), call deadlines,
/// cancellation, heartbeats and the handshake that tells a ClusterClient leader from a foreign listener.
/// </summary>
internal sealed class LeaderConnection : IMonitored
{
    private readonly FrameConnection _connection;
    private readonly ClusterClientOptions _options;
    private readonly ProtocolLimits _limits;
    private readonly LivenessMonitor _monitor;
    private readonly Action<LeaderConnection> _onClosing;
    private readonly ILogger _logger;
    private readonly RequestTable _pending = new();
    private readonly List<PendingRequest> _expired = new(); // monitor thread only
    private readonly TaskCompletionSource<string> _completion = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly long _heartbeatTicks;
    private readonly byte[]? _secret;
    private readonly int _port;
    private byte[]? _authNonces; // leader nonce || follower nonce, once the challenge was answered
    private volatile string? _authFailure;
    private int _authState; // 0 nothing seen, 1 proof sent, 2 leader proved itself
    private long _nextRequestId;
    private long _lastReceived;
    private long _lastHeartbeat;
    private int _closed;

    private LeaderConnection(FrameConnection connection, ClusterClientOptions options, byte[]? secret, ProtocolLimits limits, LivenessMonitor monitor,
        Action<LeaderConnection> onClosing, ILogger logger)
    {
        _connection = connection;
        _options = options;
        _limits = limits;
        _monitor = monitor;
        _onClosing = onClosing;
        _logger = logger;
        _secret = secret;
        _port = options.Port;
        _heartbeatTicks = (long)(options.HeartbeatInterval.TotalSeconds * Stopwatch.Frequency);
        _lastReceived = _lastHeartbeat = Stopwatch.GetTimestamp();
        if (connection.RemoteEndPoint is IPEndPoint leader && connection.LocalEndPoint is IPEndPoint local)
        {
            _pulse = LivenessPulse.TryConnectSender(leader.Port);
            _pulseConnectionPort = local.Port;
        }
    }

    private readonly System.Net.Sockets.Socket? _pulse;
    private readonly int _pulseConnectionPort;
    private readonly byte[] _pulseBuffer = new byte[64];

    /// <summary>Monitor thread: sends this connection's UDP pulse and counts the leader's answers as signs of life.</summary>
    private void Pulse(long timestamp, bool send)
    {
        if (_pulse is null) return;
        try
        {
            for (int i = 0; i < 64 && _pulse.Available > 0; i++)
            {
                int read = _pulse.Receive(_pulseBuffer);
                if (LivenessPulse.TryRead(_pulseBuffer.AsSpan(0, read), out _, out _)) Volatile.Write(ref _lastReceived, timestamp);
            }
            if (send)
            {
                LivenessPulse.Write(_pulseBuffer, LeaderEpoch, _pulseConnectionPort);
                _pulse.Send(_pulseBuffer.AsSpan(0, LivenessPulse.Size));
            }
        }
        catch (Exception ex) when (ex is System.Net.Sockets.SocketException or ObjectDisposedException)
        {
            // No pulse responder on the leader (UDP port taken, or the leader is gone): TCP heartbeats still decide.
        }
    }

    private volatile string? _goodbyeReason;

    /// <summary>The epoch the leader announced.</summary>
    public long LeaderEpoch { get; private set; }

    public bool IsClosed => Volatile.Read(ref _closed) != 0;

    /// <summary>Completes with the reason when the connection closes.</summary>
    public Task<string> Completion => _completion.Task;

    private readonly ConcurrentDictionary<int, ISubscriptionReceiver> _receivers = new();

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
        var limits = LimitsOf(options);
        var connectionOptions = new FrameConnectionOptions { Limits = limits, Logger = logger, Name = $"leader {where}" };
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

        var connection = new LeaderConnection(frames, options, secret, limits, monitor, onClosing, logger);
        connection.Start();
        var handshake = new PendingControl<long>(static frame => frame.ReadHeader<HeartbeatHeader>().Epoch, "the handshake")
        {
            Deadline = Stopwatch.GetTimestamp() + (long)(options.ConnectTimeout.TotalSeconds * Stopwatch.Frequency),
        };
        try
        {
            connection.SendControl(handshake, PacketType.Heartbeat, new HeartbeatHeader(knownEpoch, Stopwatch.GetTimestamp()));
            var epoch = await handshake.Task.WaitAsync(options.ConnectTimeout, cancellationToken).ConfigureAwait(false);
            if (secret is not null && Volatile.Read(ref connection._authState) != 2)
            {
                connection._authFailure = $"authentication failed: the process listening at {where} (port {port}; {frames.DescribePeer()}) does not use a shared secret " +
                    "but this process has one, so it cannot prove it is a genuine leader and is not followed. If it is yours, give every process the same " +
                    $"ClusterClientOptions.Secret (or {ClusterClientOptions.SecretEnvironmentVariable}) or run them as the same user with the same StateDirectory; " +
                    "otherwise another program or user holds the port: choose another Port";
                throw new ClusterClientException(connection._authFailure);
            }
            connection.LeaderEpoch = Epochs.Check(epoch, "the leader's handshake");
            monitor.Add(connection);
            return connection;
        }
        catch (Exception ex) when (!cancellationToken.IsCancellationRequested && connection._authFailure is { } authFailure)
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
                throw new ClusterClientException($"The ClusterClient leader on {where} refused this process: {refusal}.", ex);
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

    private void Start()
    {
        _ = RunAsync();
    }

    private async Task RunAsync()
    {
        string reason;
        try
        {
            var info = await _connection.RunAsync(OnFrame, CancellationToken.None).ConfigureAwait(false);
            reason = info.ToString();
        }
        catch (Exception ex)
        {
            reason = $"{ex.GetType().Name}: {ex.Message}";
        }
        Close(reason);
    }

    private ValueTask OnFrame(Frame frame)
    {
        Volatile.Write(ref _lastReceived, Stopwatch.GetTimestamp());
        switch (frame.Type)
        {
            case PacketType.InvokeResult:
            case PacketType.RegisterChannelResult:
            case PacketType.HeartbeatResponse:
                if (_pending.TryRemove(frame.RequestId, out var request) && request!.TryClaim()) request.TryComplete(frame);
                // Otherwise a late answer to a call that timed out or was cancelled: dropped.
                break;
            case PacketType.Heartbeat:
                var heartbeat = frame.ReadHeader<HeartbeatHeader>();
                _connection.Send(PacketType.HeartbeatResponse, frame.RequestId, new HeartbeatHeader(LeaderEpoch, heartbeat.SentAtTicks));
                break;
            case PacketType.SubscribeResult:
                var subscription = frame.ReadHeader<SubscribeResultHeader>();
                if (_receivers.TryGetValue(subscription.ChannelId, out var receiver)) receiver.OnSubscriptionFrame(frame, subscription);
                break;
            case PacketType.Goodbye:
                var goodbye = frame.ReadHeader<GoodbyeHeader>();
                if (Volatile.Read(ref _authState) == 1)
                    _authFailure = $"authentication failed: the leader (port {_port}; {_connection.DescribePeer()}) rejected this process's proof ({goodbye.Reason ?? "no reason given"}); the processes use different secrets (another user's cluster, another StateDirectory, or another Secret)";
                _goodbyeReason = goodbye.Reason ?? "no reason given";
                Close($"the leader closed: {goodbye.Reason ?? "no reason given"}");
                break;
            case PacketType.AuthChallenge:
                OnAuthChallenge(frame);
                break;
            default:
                throw new ProtocolException(ProtocolErrorReason.UnexpectedPacket, $"A leader does not send {frame.Type} packets to a follower.");
        }
        return default;
    }

    /// <summary>
    /// The leader's shared-secret challenge (first: its nonce), then its own proof. Failures close the connection; the
    /// handshake then reports <see cref="_authFailure"/>.
    /// </summary>
    private void OnAuthChallenge(in Frame frame)
    {
        var header = frame.ReadHeader<AuthHeader>();
        if (_secret is null)
        {
            _authFailure = $"authentication failed: the leader (port {_port}; {_connection.DescribePeer()}) requires a shared secret and this process has none (Security is Open); " +
                $"set ClusterClientOptions.Secret (or {ClusterClientOptions.SecretEnvironmentVariable}) to the cluster's secret";
            Close(_authFailure);
            return;
        }
        switch (Volatile.Read(ref _authState))
        {
            case 0:
                if (header.Data.Length != AuthProof.NonceLength)
                    throw new ProtocolException(ProtocolErrorReason.MalformedHeaderObject, $"An auth challenge nonce must be {AuthProof.NonceLength} bytes (was {header.Data.Length}).");
                byte[] followerNonce = AuthProof.NewNonce();
                byte[] proof = AuthProof.FollowerProof(_secret, _port, header.Data, followerNonce);
                _authNonces = [.. header.Data, .. followerNonce];
                Volatile.Write(ref _authState, 1);
                _connection.Send(PacketType.AuthResponse, frame.RequestId, new AuthHeader(LeaderEpoch, [.. followerNonce, .. proof]));
                break;
            case 1:
                var nonces = _authNonces!;
                byte[] expected = AuthProof.LeaderProof(_secret, _port, nonces.AsSpan(0, AuthProof.NonceLength), nonces.AsSpan(AuthProof.NonceLength));
                if (!AuthProof.Matches(expected, header.Data))
                {
                    _authFailure = $"authentication failed: the process at port {_port} ({_connection.DescribePeer()}) could not prove it knows this process's secret, so it is not followed; " +
                        "the processes use different secrets (another user's cluster, another StateDirectory, or another Secret) or something else holds the port";
                    Close(_authFailure);
                    return;
                }
                Volatile.Write(ref _authState, 2);
                break;
            default:
                throw new ProtocolException(ProtocolErrorReason.UnexpectedPacket, "The leader sent an auth challenge after authentication completed.");
        }
    }

    /// <summary>Registers a channel; completes with the leader's answer.</summary>
    public Task<RegistrationResult> RegisterAsync(string channel, uint fingerprint, TimeSpan timeout, CancellationToken cancellationToken)
    {
        var request = new PendingControl<RegistrationResult>(static frame =>
        {
            var header = frame.ReadHeader<RegisterChannelResultHeader>();
            if (header.Ok) return new RegistrationResult(RegistrationOutcome.Accepted, header.ChannelId, null);
            var outcome = header.ChannelId is >= (int)RegistrationOutcome.NotReady and < 0 ? (RegistrationOutcome)header.ChannelId : RegistrationOutcome.NotHosted;
            return new RegistrationResult(outcome, 0, header.Error);
        }, $"the registration of channel '{channel}'")
        {
            Deadline = Stopwatch.GetTimestamp() + (long)(timeout.TotalSeconds * Stopwatch.Frequency),
        };
        SendControl(request, PacketType.RegisterChannel, new RegisterChannelHeader(LeaderEpoch, channel, fingerprint, Environment.ProcessId));
        return request.Task.WaitAsync(cancellationToken);
    }

    private void SendControl<THeader>(PendingRequest request, PacketType type, in THeader header) where THeader : struct, IPacketHeader<THeader>
    {
        long id = Interlocked.Increment(ref _nextRequestId);
        request.RequestId = id;
        _pending.Add(id, request);
        if (IsClosed || !_connection.Send(type, id, header))
        {
            if (_pending.TryRemove(id, request) && request.TryClaim()) request.Fail(request.Lost("the connection is closed"));
            return;
        }
        request.Sent = true;
    }

    /// <summary>Sends an invoke and returns its pending result.</summary>
    /// <exception cref="LeaderLostException">The connection is closed (not sent).</exception>
    public ValueTask<TResult> InvokeAsync<TArgs, TResult>(int channelId, ClusterMethod method, in TArgs arguments,
        IMessagePackFormatter<TArgs> argumentsFormatter, IMessagePackFormatter<TResult>? resultFormatter, TimeSpan timeout, TimeSpan remaining,
        CancellationToken cancellationToken) =>
        TryStartInvoke(channelId, method, arguments, argumentsFormatter, resultFormatter, timeout, remaining, cancellationToken, out var pending)
            ? pending
            : ValueTask.FromException<TResult>(new LeaderLostException(method.Name, requestSent: false));

    /// <summary>
    /// Sends an invoke. False when it was not sent because the connection is closed (nothing to undo: the caller may wait
    /// for the next leader); otherwise <paramref name="pending"/> is the result, or an argument error.
    /// </summary>
    /// <remarks>Allocation-free in steady state: the pending call is pooled and the table reuses its entries.</remarks>
    public bool TryStartInvoke<TArgs, TResult>(int channelId, ClusterMethod method, in TArgs arguments,
        IMessagePackFormatter<TArgs> argumentsFormatter, IMessagePackFormatter<TResult>? resultFormatter, TimeSpan timeout, TimeSpan remaining,
        CancellationToken cancellationToken, out ValueTask<TResult> pending)
    {
        pending = default;
        if (IsClosed) return false;
        int timeoutMs = (int)Math.Clamp(Math.Ceiling(remaining.TotalMilliseconds), 1, int.MaxValue);
        var call = PendingCall<TResult>.Rent(method.Name, resultFormatter, timeout,
            Stopwatch.GetTimestamp() + (long)(remaining.TotalSeconds * Stopwatch.Frequency));
        long id = Interlocked.Increment(ref _nextRequestId);
        call.RequestId = id;
        var task = call.Task;
        _pending.Add(id, call);
        // Registered before the send, so a fast reply never races a late registration onto a recycled call.
        call.RegisterCancellation(cancellationToken, this);
        bool sent;
        try
        {
            sent = !IsClosed && _connection.Send(PacketType.Invoke, id, new CallHeader(LeaderEpoch, channelId, method.Id), arguments, argumentsFormatter,
                timeoutMs, method.Idempotent ? PacketFlags.Idempotent : PacketFlags.None);
        }
        catch (ProtocolException ex)
        {
            pending = FailUnsent(call, new ClusterClientException($"The arguments of '{method.Name}' do not fit in a frame: {ex.Message} Raise ClusterClientOptions.MaxFrameSize on every process.", ex));
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
    public bool TrySendOneway<TArgs>(int channelId, ClusterMethod method, in TArgs arguments, IMessagePackFormatter<TArgs> argumentsFormatter) =>
        TrySendCall(PacketType.Oneway, channelId, method, arguments, argumentsFormatter);

    /// <summary>Sends a publication; false when the connection is closed.</summary>
    public bool TrySendPublish(int channelId, ClusterMethod method, ReadOnlySpan<byte> arguments) =>
        !IsClosed && _connection.Send(PacketType.Publish, 0, new CallHeader(LeaderEpoch, channelId, method.Id), arguments);

    private bool TrySendCall<TArgs>(PacketType type, int channelId, ClusterMethod method, in TArgs arguments, IMessagePackFormatter<TArgs> argumentsFormatter)
    {
        if (IsClosed) return false;
        try
        {
            return _connection.Send(type, 0, new CallHeader(LeaderEpoch, channelId, method.Id), arguments, argumentsFormatter);
        }
        catch (Exception ex) when (ex is ProtocolException or MessagePackSerializationException)
        {
            throw new ClusterClientException($"The arguments of '{method.Name}' could not be sent: {ex.Message}", ex);
        }
    }

    /// <summary>Starts or stops a subscription on the leader; false when the connection is closed.</summary>
    public bool TrySendSubscription(PacketType type, int channelId, ClusterMethod method, long subscriptionId, ReadOnlySpan<byte> registration) =>
        !IsClosed && _connection.Send(type, 0, new SubscriptionHeader(LeaderEpoch, channelId, method.Id, subscriptionId), registration,
            0, method.Broadcast ? PacketFlags.Broadcast : PacketFlags.None);

    /// <summary>Cancels a pending invoke: the caller sees <see cref="OperationCanceledException"/>, the leader cancels the real call.</summary>
    internal void CancelRequest(PendingRequest request, CancellationToken token)
    {
        if (!_pending.TryRemove(request.RequestId, request) || !request.TryClaim()) return;
        if (!IsClosed) _connection.Send(PacketType.Cancel, request.RequestId, new EpochHeader(LeaderEpoch));
        request.Fail(new OperationCanceledException(token));
    }

    /// <summary>Monitor thread: call deadlines, heartbeats, and the leader's silence.</summary>
    public void OnTick(long timestamp)
    {
        if (IsClosed) return;
        // A Dictionary's enumerator is a struct: the monitor thread stays allocation-free, idle or not.
        _pending.RemoveExpired(timestamp, _expired);
        foreach (var request in _expired)
        {
            if (request.TryClaim()) request.Fail(request.TimedOut());
        }
        _expired.Clear();
        bool due = timestamp - _lastHeartbeat >= _heartbeatTicks;
        Pulse(timestamp, due);
        long silent = timestamp - Volatile.Read(ref _lastReceived);
        if (silent > 3 * _heartbeatTicks)
        {
            Close($"the leader sent nothing for {silent * 1000 / Stopwatch.Frequency} ms (3 heartbeat intervals)");
            return;
        }
        if (due)
        {
            _lastHeartbeat = timestamp;
            _connection.Send(PacketType.Heartbeat, 0, new HeartbeatHeader(LeaderEpoch, timestamp));
        }
    }

    private void Close(string reason, bool abort = true)
    {
        if (Interlocked.Exchange(ref _closed, 1) != 0) return;
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
        foreach (var request in _pending.RemoveAll())
        {
            if (request.TryClaim()) request.Fail(request.Lost(reason));
        }
        _completion.TrySetResult(reason);
        _pulse?.Dispose();
        if (abort) _connection.Abort(reason);
    }

    /// <summary>Says goodbye and closes; pending calls fail with <see cref="LeaderLostException"/>.</summary>
    public async ValueTask CloseAsync(string reason)
    {
        if (!IsClosed) _connection.Send(PacketType.Goodbye, 0, new GoodbyeHeader(LeaderEpoch, reason));
        Close(reason, abort: false);
        using var drain = new CancellationTokenSource(TimeSpan.FromSeconds(2));
        await _connection.CloseAsync(reason, drain.Token).ConfigureAwait(false);
    }
}

/// <summary>The shared-secret handshake failed: the peer is alive but not one of ours, so it is not a lost leader.</summary>
internal sealed class AuthenticationFailedException(string message, Exception? inner) : ClusterClientException(message, inner);
