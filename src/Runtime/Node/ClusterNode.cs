using System.Diagnostics;
using System.Net.Sockets;
using ClusterSharing.Liveness;
using ClusterSharing.Coordination.Local;
using ClusterSharing.Follower;
using ClusterSharing.Leader;
using ClusterSharing.Protocol;
using ClusterSharing.Proxies;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace ClusterSharing.Node;

/// <summary>
/// One participant per (process, port): competes for the port, then either hosts the real clients of all its
/// channels (leader) or connects to the leader and registers them (follower). After losing the leader it competes
/// again at once. Several channels (contracts) share one listener or one connection.
/// Tests create independent nodes in one process; <see cref="ClusterNodeRegistry"/> keeps one per port for real use.
/// </summary>
internal sealed class ClusterNode : IAsyncDisposable
{
    private static readonly TimeSpan MaxRetryDelay = TimeSpan.FromSeconds(1);
    private readonly object _gate = new();
    private readonly Dictionary<string, NodeChannel> _channels = new(StringComparer.Ordinal);
    private readonly CancellationTokenSource _stop = new();
    private readonly LivenessMonitor _monitor;
    private Task _loop = Task.CompletedTask;
    private bool _started;
    private bool _disposed;
    private LeaderServer? _server;
    private LeaderConnection? _connection;
    private readonly LocalElection? _election;
    private LeaseKeeper? _keeper;
    private TaskCompletionSource? _term;
    private long _epoch;
    private readonly byte[]? _secret;
    private volatile bool _isLeader;
    private volatile string _status = "the election has not started";

    public ClusterNode(ClusterClientOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        options.Validate();
        Options = options;
        Port = options.Port;
        Logger = options.Logger ?? NullLogger.Instance;
        _monitor = new LivenessMonitor($"ClusterClient monitor :{Port}");
        if (!options.SingleMode)
        {
            _election = new LocalElection(options, Logger);
            // Resolved now, so a bad state directory or secret file fails Create with its name instead of every connection.
            _secret = StateDirectory.PeerSecret(options);
        }
    }

    public ClusterClientOptions Options { get; }

    public int Port { get; }

    public ILogger Logger { get; }

    public bool IsLeader => _isLeader;

    public long Epoch => Interlocked.Read(ref _epoch);

    public bool SingleMode => Options.SingleMode;

    /// <summary>What the node is doing or last saw while it has no leader; used in error messages.</summary>
    public string Status => _status;

    /// <summary>Raised (outside locks) when this node becomes leader or learns of a new leader epoch.</summary>
    public event Action<bool, long>? RoleChanged;

    internal LivenessMonitor Monitor => _monitor;

    /// <summary>Number of followers connected while leading (tests and diagnostics).</summary>
    internal int FollowerCount => _server?.SessionCount ?? 0;

    /// <summary>Opens (or adds a reference to) the channel <paramref name="name"/> and starts the node on first use.</summary>
    public NodeChannel<T> OpenChannel<T>(string name, ClusterContract<T> contract, Func<T> factory, ClusterClientOptions options) where T : class
    {
        NodeChannel<T> channel;
        LeaderConnection? register = null;
        lock (_gate)
        {
            ObjectDisposedException.ThrowIf(_disposed, this);
            if (_channels.TryGetValue(name, out var existing))
            {
                if (existing is not NodeChannel<T> same)
                    throw new ClusterClientException($"Channel '{name}' on port {Port} is already open in this process for {existing.ContractType.FullName}; it cannot also serve {typeof(T).FullName}. Give one of them another ClusterClientOptions.Name.");
                same.References++;
                return same;
            }
            channel = new NodeChannel<T>(this, name, contract, factory, options, Logger) { References = 1 };
            _channels.Add(name, channel);
            if (_isLeader) channel.StartLeading(Logger);
            else
            {
                channel.WaitingFor = null;
                register = _connection;
            }
            if (!_started)
            {
                _started = true;
                _loop = Task.Run(() => RunAsync(_stop.Token));
            }
        }
        if (register is not null) _ = RegisterLoopAsync(register, channel);
        return channel;
    }

    /// <summary>Drops one reference; the last one stops the channel (disposing the real client if this process leads).</summary>
    /// <returns>True when the node has no channel left.</returns>
    public async ValueTask<bool> ReleaseChannelAsync(NodeChannel channel)
    {
        bool stop;
        bool empty;
        lock (_gate)
        {
            channel.References--;
            stop = channel.References == 0 && _channels.Remove(channel.Name);
            empty = _channels.Count == 0;
        }
        if (stop) await channel.StopAsync().ConfigureAwait(false);
        return empty;
    }

    /// <summary>Channel names currently open (tests).</summary>
    internal NodeChannel? FindChannel(string name)
    {
        lock (_gate) return _channels.GetValueOrDefault(name);
    }

    private async Task RunAsync(CancellationToken stop)
    {
        var retryDelay = TimeSpan.FromMilliseconds(10);
        while (!stop.IsCancellationRequested)
        {
            try
            {
                if (SingleMode)
                {
                    BecomeLeader(null, 0);
                    return;
                }
                var election = _election!;
                var step = await election.NextAsync(Options.Role != ClusterRole.Follower, stop).ConfigureAwait(false);
                if (step is WaitStep wait)
                {
                    SetStatus(wait.Status);
                    if (wait.Delay > TimeSpan.Zero) await Task.Delay(wait.Delay, stop).ConfigureAwait(false);
                    continue;
                }
                if (step is LeadStep lead)
                {
                    var term = BecomeLeader(lead.Listener, lead.LeaseWord);
                    if (term is null) return;
                    // Leads until deposed (a hung process that resumes) or disposed; then follows the new leader.
                    await term.Task.WaitAsync(stop).ConfigureAwait(false);
                    retryDelay = TimeSpan.FromMilliseconds(10);
                    continue;
                }
                var follow = (FollowStep)step;
                if (Options.Role == ClusterRole.Leader)
                {
                    SetStatus($"port {Port} is held by another process and Role is Leader, so this process will not follow; stop the other process or use Role Auto");
                    await DelayAsync(ref retryDelay, stop).ConfigureAwait(false);
                    continue;
                }

                string where = ElectionEndpoint.Describe(follow.Endpoint);
                LeaderConnection connection;
                try
                {
                    connection = await LeaderConnection.ConnectAsync(follow.Endpoint, Options, _secret, Epoch, _monitor, OnConnectionClosing, Logger, stop).ConfigureAwait(false);
                }
                catch (SocketException ex) when (!stop.IsCancellationRequested)
                {
                    election.Lost(follow.Lease);
                    SetStatus(ex.SocketErrorCode is SocketError.ConnectionRefused or SocketError.AddressNotAvailable
                        ? $"nothing is listening on {where} (connection refused)" + (Options.Role == ClusterRole.Follower ? "; Role is Follower, so this process waits for a leader to start" : "")
                        : $"connecting to {where} failed: {ex.SocketErrorCode} ({ex.Message})");
                    await DelayAsync(ref retryDelay, stop).ConfigureAwait(false);
                    continue;
                }
                catch (ClusterClientException ex) when (!stop.IsCancellationRequested)
                {
                    // A handshake that timed out may be a stopped leader; one that failed authentication is not.
                    if (ex is not AuthenticationFailedException) election.Lost(follow.Lease);
                    SetStatus(ex.Message);
                    await DelayAsync(ref retryDelay, stop).ConfigureAwait(false);
                    continue;
                }

                retryDelay = TimeSpan.FromMilliseconds(10);
                await FollowAsync(connection, stop).ConfigureAwait(false);
                election.Lost(follow.Lease);
            }
            catch (OperationCanceledException) when (stop.IsCancellationRequested)
            {
                return;
            }
            catch (Exception ex)
            {
                NodeLog.ElectionFailed(Logger, Port, ex);
                SetStatus($"the election failed: {ex.GetType().Name}: {ex.Message}");
                try
                {
                    await DelayAsync(ref retryDelay, stop).ConfigureAwait(false);
                }
                catch (OperationCanceledException)
                {
                    return;
                }
            }
        }
    }

    private static Task DelayAsync(ref TimeSpan delay, CancellationToken stop)
    {
        var current = delay;
        delay = TimeSpan.FromTicks(Math.Min(delay.Ticks * 2, MaxRetryDelay.Ticks));
        return Task.Delay(current, stop);
    }

    private void SetStatus(string status)
    {
        if (status != _status) NodeLog.Waiting(Logger, Port, status);
        _status = status;
    }

    /// <returns>The leadership term, completed when this process is deposed; null when the node is disposed.</returns>
    private TaskCompletionSource? BecomeLeader(Socket? listener, long leaseWord)
    {
        long epoch;
        TaskCompletionSource term;
        lock (_gate)
        {
            if (_disposed)
            {
                listener?.Dispose();
                if (leaseWord != 0) _election?.Lease?.Release(leaseWord);
                return null;
            }
            epoch = leaseWord != 0 ? LeaderLease.EpochOf(leaseWord) : _epoch + 1;
            Interlocked.Exchange(ref _epoch, epoch);
            _isLeader = true;
            term = _term = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            foreach (var channel in _channels.Values) channel.StartLeading(Logger);
            if (listener is not null)
            {
                _server = new LeaderServer(listener, Options, _secret, () => Epoch, ObserveFollowerEpoch, FindLeaderChannel, _monitor, Logger);
                _server.Start();
            }
            if (leaseWord != 0)
            {
                _keeper = new LeaseKeeper(this, _election!, leaseWord);
                _monitor.Add(_keeper);
            }
        }
        SetStatus(SingleMode ? "single mode: this process holds the real client" : $"this process leads on port {Port}");
        NodeLog.BecameLeader(Logger, Port, epoch);
        RaiseRoleChanged(true, epoch);
        return term;
    }

    /// <summary>
    /// The lease moved on while this process led: it was stopped or starved for longer than the lease lasts and another
    /// process took over. Stop serving (listener, sessions, real clients) and follow the new leader.
    /// </summary>
    private void OnDeposed(LeaseKeeper keeper, LeaseState current)
    {
        LeaderServer? server;
        NodeChannel[] channels;
        TaskCompletionSource? term;
        long ourEpoch;
        lock (_gate)
        {
            if (_disposed || _keeper != keeper || !_isLeader) return;
            _monitor.Remove(keeper);
            _keeper = null;
            _isLeader = false;
            server = _server;
            _server = null;
            term = _term;
            _term = null;
            channels = [.. _channels.Values];
            ourEpoch = _epoch;
            Interlocked.Exchange(ref _epoch, Math.Max(_epoch, current.Epoch));
        }
        ElectionLog.Deposed(Logger, Port, current.ToString(), ourEpoch);
        SetStatus($"this process was deposed (epoch {ourEpoch}; the lease is now at epoch {current.Epoch}); following the new leader");
        _ = Task.Run(async () =>
        {
            try
            {
                // Channels first: their calls wait for the new leader instead of reaching a closing server.
                foreach (var channel in channels) await channel.StopLeadingAsync().ConfigureAwait(false);
                if (server is not null) await server.DisposeAsync().ConfigureAwait(false);
            }
            catch (Exception ex)
            {
                NodeLog.ElectionFailed(Logger, Port, ex);
            }
            finally
            {
                RaiseRoleChanged(false, Epoch);
                term?.TrySetResult();
            }
        });
    }

    /// <summary>Renews the lease from the monitor thread (not the thread pool) while this process leads.</summary>
    private sealed class LeaseKeeper(ClusterNode node, LocalElection election, long word) : IMonitored
    {
        private readonly long _renewTicks = Math.Max(1, (long)(election.RenewEvery.TotalSeconds * Stopwatch.Frequency));
        private long _word = word;
        private long _lastRenewal; // 0: renew on the first tick, the lease was taken a while (bind, publish) ago
        private int _lost;

        public long Word => Interlocked.Read(ref _word);

        public void OnTick(long timestamp)
        {
            if (Volatile.Read(ref _lost) != 0 || timestamp - _lastRenewal < _renewTicks) return;
            _lastRenewal = timestamp;
            long current = Interlocked.Read(ref _word);
            if (election.Lease!.TryRenew(ref current))
            {
                Interlocked.Exchange(ref _word, current);
                return;
            }
            if (Interlocked.Exchange(ref _lost, 1) != 0) return;
            var state = election.Lease.Read();
            ThreadPool.UnsafeQueueUserWorkItem(static s => s.node.OnDeposed(s.keeper, s.state), (node, keeper: this, state), preferLocal: false);
        }

        /// <summary>Gives the lease up so a successor need not wait for it to go stale.</summary>
        public void Release()
        {
            if (Interlocked.Exchange(ref _lost, 1) == 0) election.Lease!.Release(Word);
        }
    }

    private long ObserveFollowerEpoch(long followerEpoch)
    {
        long raised;
        lock (_gate)
        {
            // With a lease the epoch is the lease's: a follower that knows a higher one will find the real holder there.
            if (followerEpoch < _epoch || !_isLeader || _keeper is not null) return _epoch;
            raised = Protocol.Epochs.Next(followerEpoch);
            Interlocked.Exchange(ref _epoch, raised);
        }
        NodeLog.BecameLeader(Logger, Port, raised);
        RaiseRoleChanged(true, raised);
        return raised;
    }

    private ILeaderChannel? FindLeaderChannel(string name)
    {
        lock (_gate) return _channels.TryGetValue(name, out var channel) ? channel.LeaderSide : null;
    }

    private async Task FollowAsync(LeaderConnection connection, CancellationToken stop)
    {
        NodeChannel[] channels;
        bool newEpoch;
        lock (_gate)
        {
            if (_disposed)
            {
                _ = connection.CloseAsync("the follower is closing");
                return;
            }
            _connection = connection;
            newEpoch = connection.LeaderEpoch != _epoch;
            Interlocked.Exchange(ref _epoch, Math.Max(_epoch, connection.LeaderEpoch));
            channels = [.. _channels.Values];
        }
        SetStatus($"following the leader on port {Port}");
        NodeLog.BecameFollower(Logger, Port, connection.LeaderEpoch);
        if (newEpoch) RaiseRoleChanged(false, connection.LeaderEpoch);
        foreach (var channel in channels) _ = RegisterLoopAsync(connection, channel);

        string reason = await connection.Completion.WaitAsync(stop).ConfigureAwait(false);
        lock (_gate)
        {
            if (_connection == connection) _connection = null;
        }
        if (!stop.IsCancellationRequested)
        {
            SetStatus($"the leader was lost ({reason}); electing a new one");
            NodeLog.LeaderLost(Logger, Port, reason);
        }
    }

    /// <summary>Runs synchronously when a leader connection closes, before its pending calls fail, so retried calls wait for the next leader.</summary>
    private void OnConnectionClosing(LeaderConnection connection)
    {
        NodeChannel[] channels;
        lock (_gate) channels = [.. _channels.Values];
        foreach (var channel in channels) channel.DetachRemote(connection);
    }

    private async Task RegisterLoopAsync(LeaderConnection connection, NodeChannel channel)
    {
        var delay = TimeSpan.FromMilliseconds(50);
        var maxDelay = TimeSpan.FromTicks(Math.Min(MaxRetryDelay.Ticks, Options.MaxWaitTime.Ticks / 4 + 1));
        while (!connection.IsClosed && !_stop.IsCancellationRequested)
        {
            lock (_gate)
            {
                if (!_channels.TryGetValue(channel.Name, out var current) || current != channel) return;
            }
            RegistrationResult result;
            try
            {
                result = await connection.RegisterAsync(channel.Name, channel.Fingerprint, Options.MaxWaitTime, _stop.Token).ConfigureAwait(false);
            }
            catch (TimeoutException)
            {
                channel.WaitingFor = $"the leader on port {Port} to answer the registration of channel '{channel.Name}'";
                continue;
            }
            catch (Exception) when (connection.IsClosed || _stop.IsCancellationRequested)
            {
                return;
            }
            switch (result.Outcome)
            {
                case RegistrationOutcome.Accepted:
                    channel.AttachRemote(connection, result.ChannelId);
                    return;
                case RegistrationOutcome.FactoryFailed:
                    channel.WaitingFor = null;
                    channel.Readiness.SetFailed(LeaderChannelFailure.Factory(channel.Name, result.Error));
                    break;
                default:
                    channel.WaitingFor = result.Error;
                    break;
            }
            try
            {
                await Task.Delay(delay, _stop.Token).ConfigureAwait(false);
            }
            catch (OperationCanceledException)
            {
                return;
            }
            delay = TimeSpan.FromTicks(Math.Min(delay.Ticks * 2, maxDelay.Ticks));
        }
    }

    private void RaiseRoleChanged(bool isLeader, long epoch)
    {
        var handlers = RoleChanged;
        if (handlers is null) return;
        foreach (Action<bool, long> handler in handlers.GetInvocationList())
        {
            try
            {
                handler(isLeader, epoch);
            }
            catch (Exception ex)
            {
                NodeLog.HandlerFailed(Logger, ex);
            }
        }
    }

    /// <summary>The message of a <c>ReadyAsync</c> that gave up waiting.</summary>
    public string DescribeNotReady(NodeChannel channel, TimeSpan waited)
    {
        string role = Options.Role switch
        {
            ClusterRole.Follower => " (Role is Follower)",
            ClusterRole.Leader => " (Role is Leader)",
            _ => "",
        };
        string what = channel.WaitingFor ?? (IsLeader ? "the client factory to complete" : Status);
        return $"ClusterClient channel '{channel.Name}' on port {Port}{role} is not ready after {waited.TotalMilliseconds:0} ms: {what}. " +
               "All processes sharing a port must create the same clients; raise ClusterClientOptions.MaxWaitTime if the leader is slow to start.";
    }

    /// <summary>Stops competing, closes the listener or the leader connection and every channel.</summary>
    public async ValueTask DisposeAsync()
    {
        NodeChannel[] channels;
        LeaderServer? server;
        LeaderConnection? connection;
        LeaseKeeper? keeper;
        lock (_gate)
        {
            if (_disposed) return;
            _disposed = true;
            channels = [.. _channels.Values];
            _channels.Clear();
            server = _server;
            connection = _connection;
            _server = null;
            _connection = null;
            keeper = _keeper;
            _keeper = null;
            // The term is left pending: the loop's wait ends through the stop token, so it cannot start another election.
            _term = null;
        }
        if (keeper is not null) _monitor.Remove(keeper);
        _stop.Cancel();
        bool wasLeader = _isLeader;
        _isLeader = false;
        try
        {
            await _loop.WaitAsync(TimeSpan.FromSeconds(10)).ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is OperationCanceledException or TimeoutException)
        {
            // The loop observes the stop token at every await; a timeout here only means a slow connect attempt.
        }
        if (server is not null) await server.DisposeAsync().ConfigureAwait(false);
        // After the listener closed: a successor then binds the primary endpoint instead of an alternate one.
        keeper?.Release();
        if (connection is not null) await connection.CloseAsync("the follower closed its client").ConfigureAwait(false);
        foreach (var channel in channels) await channel.StopAsync().ConfigureAwait(false);
        _monitor.Dispose();
        _election?.Dispose();
        _stop.Dispose();
        if (wasLeader) RaiseRoleChanged(false, Epoch);
        NodeLog.Closed(Logger, Port);
    }
}
