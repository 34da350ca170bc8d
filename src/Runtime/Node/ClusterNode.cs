using ClusterSharing.Coordination;
using ClusterSharing.Follower;
using ClusterSharing.Leader;
using ClusterSharing.Protocol;
using ClusterSharing.Liveness;
using ClusterSharing.Proxies;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using ClusterSharing.Diagnostics;
using ClusterSharing.Node.Membership;

namespace ClusterSharing.Node;

/// <summary>
/// One participant per (process, port): asks its election engine (<see cref="ILeaderElection"/>) what to do, then
/// either hosts the real clients of all its channels (leader) or connects to the leader and registers them
/// (follower). After losing the leader it asks again at once. Several channels (contracts) share one listener or one connection.
/// Tests create independent nodes in one process; <see cref="ClusterNodeRegistry"/> keeps one per port for real use.
/// </summary>
internal sealed partial class ClusterNode : IAsyncDisposable
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
    private readonly ILeaderElection? _election;
    private readonly IMemberRegistry? _registry;
    private ILeadershipTerm? _term;
    private TaskCompletionSource? _termEnded;
    private long _epoch;
    private readonly byte[]? _secret;
    private volatile bool _isLeader;
    private readonly List<LeaderWork> _leaderWorks = new();
    private long _termCount;
    private long _leadingTerm;
    private volatile string _status = "the election has not started";

    /// <param name="options">The node's options (validated here).</param>
    /// <param name="electionFactory">The election engine; null: the one the options choose (<see cref="LeaderElections.For"/>).</param>
    public ClusterNode(ClusterClientOptions options, LeaderElectionFactory? electionFactory = null)
    {
        ArgumentNullException.ThrowIfNull(options);
        options.Validate();
        Options = options;
        Port = options.Port;
        Logger = options.LoggerFor("Node") ?? NullLogger.Instance;
        CoordinationLogger = options.LoggerFor("Coordination") ?? NullLogger.Instance;
        LeaderLogger = options.LoggerFor("Leader") ?? NullLogger.Instance;
        FollowerLogger = options.LoggerFor("Follower") ?? NullLogger.Instance;
        _monitor = new LivenessMonitor($"ClusterClient monitor :{Port}");
        Membership = new NodeMembership(options, options.LoggerFor("Membership") ?? NullLogger.Instance);
        Membership.HandoverWanted += OnHandoverWanted;
        if (!options.SingleMode)
        {
            _election = (electionFactory ?? LeaderElections.For(options))(options, _monitor, CoordinationLogger);
            // A cluster scope also registers every member in the engine (members visible without a leader).
            _registry = LeaderElections.RegistryFor(options, CoordinationLogger);
            if (_registry is not null) Membership.PresenceChanged += () => _registry.Update(Membership.PresenceRecord());
            // Resolved now, so a bad state directory or secret file fails Create with its name instead of every connection.
            _secret = LeaderElections.PeerSecret(options);
        }
    }

    public ClusterClientOptions Options { get; }

    /// <summary>This process's membership (every node is a member: the view, its channels and messages).</summary>
    public NodeMembership Membership { get; }

    public int Port { get; }

    /// <summary>The node room's logger (election loop, roles, channels).</summary>
    public ILogger Logger { get; }

    /// <summary>The election engine's logger.</summary>
    public ILogger CoordinationLogger { get; }

    /// <summary>The leader room's logger (server, sessions, leader channels).</summary>
    public ILogger LeaderLogger { get; }

    /// <summary>The follower room's logger (the connection to the leader).</summary>
    public ILogger FollowerLogger { get; }

    public bool IsLeader => _isLeader;

    public long Epoch => Interlocked.Read(ref _epoch);

    /// <summary>A number for this process's current leadership term (a new one each time it wins); 0 while it does not lead.</summary>
    public long LeadingTerm => Interlocked.Read(ref _leadingTerm);

    public bool SingleMode => Options.SingleMode;

    /// <summary>What the node is doing or last saw while it has no leader; used in error messages.</summary>
    public string Status => _status;

    /// <summary>Raised (outside locks) when this node becomes leader or learns of a new leader epoch.</summary>
    public event Action<bool, long>? RoleChanged;

    internal LivenessMonitor Monitor => _monitor;

    /// <summary>Number of followers connected while leading (tests and diagnostics).</summary>
    internal int FollowerCount => _server?.SessionCount ?? 0;

    /// <summary>Opens (or adds a reference to) the channel <paramref name="name"/> and starts the node on first use.</summary>
    public NodeChannel<T> OpenChannel<T>(string name, ClusterContract<T> contract, Func<CancellationToken, ValueTask<T>> factory, ClusterClientOptions options) where T : class
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
            if (_isLeader) channel.StartLeading(LeaderLogger);
            else
            {
                channel.WaitingFor = null;
                register = _connection;
            }
            StartLocked();
        }
        if (register is not null) _ = RegisterLoopAsync(register, channel);
        return channel;
    }

    /// <summary>Starts the election loop if no channel did yet (a process that is only a member).</summary>
    public void Start()
    {
        lock (_gate)
        {
            ObjectDisposedException.ThrowIf(_disposed, this);
            StartLocked();
        }
    }

    private void StartLocked()
    {
        if (_started) return;
        _started = true;
        _registry?.Start(Membership.Id, Membership.PresenceRecord(), Membership.ApplyRegistry);
        _loop = Task.Run(() => RunAsync(_stop.Token));
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

    /// <summary>Registers work that runs only while this node leads (see <see cref="LeaderWork"/>); starts it now if it leads.</summary>
    public LeaderWork AddLeaderWork(Func<CancellationToken, Task> work, LeaderWorkOptions options)
    {
        var leaderWork = new LeaderWork(this, work, options);
        lock (_gate)
        {
            ObjectDisposedException.ThrowIf(_disposed, this);
            _leaderWorks.Add(leaderWork);
        }
        leaderWork.Kick();
        return leaderWork;
    }

    /// <summary>Forgets a registration (the caller stops it).</summary>
    public void RemoveLeaderWork(LeaderWork work)
    {
        lock (_gate) _leaderWorks.Remove(work);
    }

    /// <summary>Lets every leader work catch up with the term: start on a new one, cancel and await on a lost one.</summary>
    private Task SettleLeaderWorkAsync()
    {
        LeaderWork[] works;
        lock (_gate) works = [.. _leaderWorks];
        return works.Length == 0 ? Task.CompletedTask : Task.WhenAll(works.Select(w => w.SettleAsync()));
    }

    /// <summary>Channel names currently open (tests).</summary>
    internal NodeChannel? FindChannel(string name)
    {
        lock (_gate) return _channels.GetValueOrDefault(name);
    }

    private void SetStatus(string status)
    {
        if (status != _status) NodeLog.Waiting(Logger, Port, status);
        _status = status;
    }

    private void RaiseRoleChanged(bool isLeader, long epoch)
    {
        ClusterClientMetrics.Epoch(Port, epoch);
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

    /// <summary>True while a leader is known: this process leads, or it holds an open connection to the leader.</summary>
    internal bool HasLeader => IsLeader || Volatile.Read(ref _connection) is { IsClosed: false };

    /// <summary>Where the leader is, for messages: "this process" or the connected leader's endpoint; null when none.</summary>
    internal string? LeaderWhere => IsLeader ? "this process" : Volatile.Read(ref _connection) is { IsClosed: false } connection ? connection.Where : null;

    /// <summary>Where this process looks for a leader and what it saw there last, for a call that found none.</summary>
    internal string DescribeLeaderSearch() =>
        Options.Etcd is not null ? $"port {Port}, through etcd: {Status}"
        : Options.Redis is not null ? $"port {Port}, through Redis: {Status}"
        : $"port {Port}: {Status}";

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
        ILeadershipTerm? term;
        LeaderWork[] works;
        lock (_gate)
        {
            if (_disposed) return;
            _disposed = true;
            Interlocked.Exchange(ref _leadingTerm, 0);
            works = [.. _leaderWorks];
            _leaderWorks.Clear();
            channels = [.. _channels.Values];
            _channels.Clear();
            server = _server;
            connection = _connection;
            _server = null;
            _connection = null;
            term = _term;
            _term = null;
            // The term's end is left pending: the loop's wait ends through the stop token, so it cannot start another election.
            _termEnded = null;
        }
        // Leader work ends first, while the real clients it may use still exist.
        if (works.Length > 0) await Task.WhenAll(works.Select(w => w.StopAsync())).ConfigureAwait(false);
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
        // After the listener closed: a successor then binds the primary endpoint instead of an alternate one. After the
        // sessions closed too, which waited (within their drain) for the calls still running to reply, so no call of this
        // term runs once a successor can be elected.
        if (term is not null) await term.DisposeAsync().ConfigureAwait(false);
        if (connection is not null) await connection.CloseAsync("the follower closed its client").ConfigureAwait(false);
        // Before the membership: a closing member's entry goes at once (else with its lease).
        if (_registry is not null) await _registry.DisposeAsync().ConfigureAwait(false);
        await Membership.DisposeAsync().ConfigureAwait(false);
        foreach (var channel in channels) await channel.StopAsync().ConfigureAwait(false);
        _monitor.Dispose();
        if (_election is not null) await _election.DisposeAsync().ConfigureAwait(false);
        _stop.Dispose();
        if (wasLeader) RaiseRoleChanged(false, Epoch);
        NodeLog.Closed(Logger, Port);
    }
}
