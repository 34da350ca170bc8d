using System.Net.Sockets;
using System.Security.Cryptography.X509Certificates;
using ClusterSharing.Liveness;
using ClusterSharing.Protocol;
using ClusterSharing.Transport;
using Microsoft.Extensions.Logging;
using ClusterSharing.Diagnostics;

namespace ClusterSharing.Leader;

/// <summary>Accepts follower connections on the elected listener and runs one <see cref="FollowerSession"/> each.</summary>
internal sealed class LeaderServer : IAsyncDisposable
{
    private readonly Socket _listener;
    private readonly object _gate = new();
    private readonly HashSet<FollowerSession> _sessions = new();
    private readonly CancellationTokenSource _stop = new();
    private readonly Func<string, ILeaderChannel?> _findChannel;
    private readonly LivenessMonitor _monitor;
    private Task _acceptLoop = Task.CompletedTask;
    private bool _disposed;
    private int _admitted;

    private readonly Func<long> _epoch;
    private readonly Func<long, long> _observeEpoch;

    // epoch: the leader's current epoch; observeEpoch: called with the epoch a connecting follower knew, returns the
    // (possibly raised) current epoch.
    public LeaderServer(Socket listener, ClusterClientOptions options, byte[]? secret, Func<long> epoch, Func<long, long> observeEpoch, Func<string, ILeaderChannel?> findChannel,
        LivenessMonitor monitor, ILogger logger)
    {
        _listener = listener;
        Options = options;
        Secret = secret;
        _epoch = epoch;
        _observeEpoch = observeEpoch;
        _findChannel = findChannel;
        _monitor = monitor;
        Logger = logger;
        Limits = new ProtocolLimits { MaxFrameSize = options.MaxFrameSize, MaxHeaderSize = options.MaxHeaderSize };
        PreAuthenticationLimits = new ProtocolLimits
        {
            MaxFrameSize = Math.Min(ClusterClientOptions.PreAuthenticationFrameSize, options.MaxFrameSize),
            MaxHeaderSize = Math.Min(1024, options.MaxHeaderSize),
        };
        ReceiveBudget = new ReceiveBudget(options.MaxBufferedReceiveBytes);
    }

    public ClusterClientOptions Options { get; }

    /// <summary>Serve TLS 1.3 with this certificate (cluster scope: followers pin its fingerprint); null: plain TCP or Unix socket.</summary>
    public X509Certificate2? Certificate { get; init; }

    /// <summary>
    /// The fencing check run before each invoke, oneway or publication is dispatched (the election term's
    /// <c>Confirm</c>): the epoch of the term while it is still current, 0 when this process may have been deposed and
    /// must run nothing. Null: always current (tests), the epoch is <see cref="Epoch"/>.
    /// </summary>
    public Func<long>? ConfirmTerm { get; init; }

    /// <summary>The epoch to dispatch under, or 0: refuse the call (see <see cref="ConfirmTerm"/>).</summary>
    public long ConfirmedEpoch() => ConfirmTerm is { } confirm ? confirm() : Epoch;

    /// <summary>The secret followers must prove they know (the leader proves it too); null for an open cluster.</summary>
    public byte[]? Secret { get; }

    /// <summary>Limits for a connection until it authenticated and registered a channel: small frames only.</summary>
    public ProtocolLimits PreAuthenticationLimits { get; }

    /// <summary>Incomplete-frame bytes all connections may buffer together.</summary>
    public ReceiveBudget ReceiveBudget { get; }

    /// <summary>Bounds the warnings about rejected connections and limit hits.</summary>
    public RejectionLimiter Rejections { get; } = new();

    /// <summary>Bounds the debug lines about connections that closed before they were admitted (separately, so they never use up the warnings).</summary>
    public RejectionLimiter QuietCloses { get; } = new();

    public long Epoch => _epoch();

    /// <summary>
    /// A follower connected knowing <paramref name="followerEpoch"/>. A leader that won the port without having seen
    /// the previous leader (a fresh process) starts at epoch 1; this raises it past what its followers knew, so the
    /// epoch never goes backwards for them.
    /// </summary>
    /// <exception cref="ProtocolException">The follower's epoch is outside the valid range (a forged or corrupt handshake).</exception>
    public long ObserveFollowerEpoch(long followerEpoch) => _observeEpoch(Epochs.Check(followerEpoch, "the follower's handshake"));

    public ILogger Logger { get; }

    public ProtocolLimits Limits { get; }

    public int SessionCount
    {
        get { lock (_gate) return _sessions.Count; }
    }

    public ILeaderChannel? FindChannel(string name) => _findChannel(name);

    /// <summary>Answers followers' UDP pulses from the monitor thread; null when the UDP port is taken.</summary>
    public PulseResponder? Pulse { get; private set; }

    public void Start()
    {
        // TCP only: a Unix-socket leader has no port for the pulse, and its followers rely on the heartbeat frames.
        if (_listener.LocalEndPoint is System.Net.IPEndPoint local)
        {
            if (LivenessPulse.TryBindResponder(local.Port) is { } udp)
            {
                Pulse = new PulseResponder(udp, _epoch);
                _monitor.Add(Pulse);
            }
            else
            {
                // Someone else holds the UDP port (another program, or another user squatting it): say so.
                LeaderLog.PulsePortTaken(Logger, local.Port);
            }
        }
        _acceptLoop = Task.Run(AcceptLoopAsync);
    }

    private async Task AcceptLoopAsync()
    {
        var token = _stop.Token;
        while (!token.IsCancellationRequested)
        {
            Socket socket;
            try
            {
                socket = await _listener.AcceptAsync(token).ConfigureAwait(false);
            }
            catch (Exception) when (token.IsCancellationRequested)
            {
                return;
            }
            catch (SocketException ex)
            {
                // A connection reset before accept completed, or descriptors ran out; keep serving the others.
                LeaderLog.AcceptFailed(Logger, ex);
                await Task.Delay(10, CancellationToken.None).ConfigureAwait(false);
                continue;
            }
            // Connections that have not registered yet are bounded by RegistrationTimeout; this bounds how many there
            // can be at once, so a connection flood costs a closed socket each, not a session each.
            if (SessionCount >= 2 * Options.MaxFollowers)
            {
                if (Rejections.Allow(Logger))
                {
                    LeaderLog.ConnectionRejected(Logger, $"{socket.RemoteEndPoint} ({PeerIdentity.Describe(socket)})",
                        $"{SessionCount} connections are open, twice MaxFollowers ({Options.MaxFollowers}); closed at once");
                }
                socket.Dispose();
                continue;
            }
            if (Secret is not null && socket.AddressFamily == AddressFamily.Unix && PeerIdentity.Of(socket) is { IsSameUser: false } stranger)
            {
                // SO_PEERCRED: the kernel says who connected. Another user never gets as far as the handshake.
                if (Rejections.Allow(Logger))
                    LeaderLog.ConnectionRejected(Logger, $"unix socket peer ({stranger})", "it runs as another user; only this user's processes may join");
                socket.Dispose();
                continue;
            }
            if (Certificate is { } certificate)
            {
                // The TLS handshake runs beside the accept loop (bounded by ConnectTimeout): a silent peer holds up no one.
                _ = HandshakeThenAdmitAsync(socket, certificate, token);
                continue;
            }
            FrameConnection connection;
            try
            {
                connection = new FrameConnection(socket, ConnectionOptions(socket.RemoteEndPoint?.ToString()));
            }
            catch (Exception ex)
            {
                LeaderLog.AcceptFailed(Logger, ex);
                socket.Dispose();
                continue;
            }
            if (!Admit(connection)) return;
        }
    }

    private FrameConnectionOptions ConnectionOptions(string? remote) => new()
    {
        Limits = Limits,
        ReceiveLimits = PreAuthenticationLimits,
        ReceiveBudget = ReceiveBudget,
        // No transport logger: the session logs why its connection closed, rate-limited until it is admitted.
        Name = $"follower {remote}",
    };

    /// <summary>Starts a session on <paramref name="connection"/>; false when the server is closing.</summary>
    private bool Admit(FrameConnection connection)
    {
        FollowerSession session;
        try
        {
            session = new FollowerSession(this, connection);
        }
        catch (Exception ex)
        {
            LeaderLog.AcceptFailed(Logger, ex);
            connection.Abort("the session could not start");
            return true;
        }
        lock (_gate)
        {
            if (_disposed)
            {
                _ = session.CloseAsync("the leader is closing");
                return false;
            }
            _sessions.Add(session);
        }
        _monitor.Add(session);
        session.Start();
        return true;
    }

    private async Task HandshakeThenAdmitAsync(Socket socket, X509Certificate2 certificate, CancellationToken token)
    {
        string who = socket.RemoteEndPoint?.ToString() ?? "(unknown)";
        try
        {
            var connection = await TlsTransport.AcceptAsync(socket, certificate, ConnectionOptions(who), Options.ConnectTimeout, token).ConfigureAwait(false);
            Admit(connection);
        }
        catch (ClusterClientException ex)
        {
            LeaderLog.ConnectionRejected(Logger, who, ex.Message);
        }
        catch (OperationCanceledException)
        {
            // The server is closing; TlsTransport closed the socket.
        }
    }

    /// <summary>Counts <paramref name="session"/> as a follower; false (nothing counted) when MaxFollowers are already served.</summary>
    internal bool TryAdmit(FollowerSession session)
    {
        while (true)
        {
            int current = Volatile.Read(ref _admitted);
            if (current >= Options.MaxFollowers) return false;
            if (Interlocked.CompareExchange(ref _admitted, current + 1, current) != current) continue;
            ClusterClientMetrics.FollowerAdmitted();
            return true;
        }
    }

    /// <summary>Gives back one admission.</summary>
    internal void ReleaseAdmission()
    {
        Interlocked.Decrement(ref _admitted);
        ClusterClientMetrics.FollowerReleased();
    }

    /// <summary>When this server (this leadership term) started.</summary>
    public DateTimeOffset StartedAt { get; } = DateTimeOffset.UtcNow;

    /// <summary>The member view this leader keeps and relays (membership packets); null: those packets close the connection.</summary>
    public IMemberHub? Members { get; init; }

    /// <summary>The listener's address, for the leader's own member entry.</summary>
    public string ListenAddress => _listener.LocalEndPoint is { } local ? Transport.EndPointText.Describe(local) : "(unknown)";

    /// <summary>The channels this leader hosts, for the inspector's report; none when not given.</summary>
    public Func<IReadOnlyCollection<ILeaderChannel>>? Channels { get; init; }

    /// <summary>The leader's view for an inspector: every other session, every channel and its real subscriptions.</summary>
    internal ClusterStatus Inspect(FollowerSession asking)
    {
        FollowerSession[] sessions;
        lock (_gate) sessions = [.. _sessions];
        long now = System.Diagnostics.Stopwatch.GetTimestamp();
        var followers = sessions.Where(s => s != asking && !s.IsClosed).Select(s => s.Describe(now)).ToArray();
        var channels = (Channels?.Invoke() ?? []).Select(channel => new ChannelStatus(channel.Name, channel.Readiness.IsReady,
            channel is ISubscriptionHost host
                ? [.. host.Hub.Describe().Select(d => new SubscriptionStatus(d.Method.Name, DescribeKey(d.Registration), d.Subscribers))]
                : [])).ToArray();
        string address = _listener.LocalEndPoint is { } local ? Transport.EndPointText.Describe(local) : "(unknown)";
        return new ClusterStatus(Environment.ProcessId, Options.Port, Epoch, StartedAt, address, followers, channels);
    }

    private static string DescribeKey(byte[] registration)
    {
        string json;
        try
        {
            json = MessagePack.MessagePackSerializer.ConvertToJson(registration);
        }
        catch (MessagePack.MessagePackSerializationException)
        {
            json = Convert.ToHexString(registration);
        }
        return json.Length > 200 ? json[..200] + "..." : json;
    }

    internal void OnSessionClosed(FollowerSession session)
    {
        if (session.ReleaseAdmitted()) ReleaseAdmission();
        _monitor.Remove(session);
        Pulse?.Forget(session.PeerPort);
        lock (_gate) _sessions.Remove(session);
    }

    public async ValueTask DisposeAsync()
    {
        FollowerSession[] sessions;
        lock (_gate)
        {
            if (_disposed) return;
            _disposed = true;
            sessions = [.. _sessions];
        }
        _stop.Cancel();
        _listener.Dispose();
        if (Pulse is { } pulse)
        {
            _monitor.Remove(pulse);
            pulse.Dispose();
        }
        try
        {
            await _acceptLoop.ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is OperationCanceledException or ObjectDisposedException or SocketException)
        {
            // The listener was closed under the accept; that is how the loop ends.
        }
        await Task.WhenAll(sessions.Select(s => s.CloseAsync("the leader is closing").AsTask())).ConfigureAwait(false);
        _stop.Dispose();
    }
}
