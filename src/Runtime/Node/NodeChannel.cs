using System.Diagnostics;
using System.Runtime.CompilerServices;
using ClusterSharing.Follower;
using ClusterSharing.Leader;
using ClusterSharing.Node.Subscriptions;
using ClusterSharing.Protocol;
using ClusterSharing.Proxies;
using ClusterSharing.Serialization;
using MessagePack;
using MessagePack.Formatters;
using Microsoft.Extensions.Logging;
using ClusterSharing.Diagnostics;
using ClusterSharing.Transport;

namespace ClusterSharing.Node;

/// <summary>One channel (contract + name) of a node, shared by every handle on it in this process.</summary>
internal abstract class NodeChannel
{
    protected NodeChannel(string name, Type contractType, uint fingerprint)
    {
        Name = name;
        ContractType = contractType;
        Fingerprint = fingerprint;
    }

    public string Name { get; }

    public Type ContractType { get; }

    public uint Fingerprint { get; }

    /// <summary>Ready when this process leads and the real client exists, or follows and the leader accepted the channel.</summary>
    public ReadinessSignal Readiness { get; } = new();

    /// <summary>Why the channel is not ready yet, for the message of a failed <c>ReadyAsync</c> (null when unknown).</summary>
    public string? WaitingFor { get; set; }

    /// <summary>Number of open handles; guarded by the node's lock.</summary>
    public int References { get; set; }

    /// <summary>The leader side while this process leads.</summary>
    public abstract ILeaderChannel? LeaderSide { get; }

    /// <summary>This process became the leader: build the real client.</summary>
    public abstract void StartLeading(ILogger logger);

    /// <summary>This process was deposed: dispose the real client; calls wait for the new leader.</summary>
    public abstract ValueTask StopLeadingAsync();

    /// <summary>The leader accepted the channel on <paramref name="connection"/> as <paramref name="channelId"/>.</summary>
    public abstract void AttachRemote(LeaderConnection connection, int channelId);

    /// <summary><paramref name="connection"/> is gone; calls wait for the next leader.</summary>
    public abstract void DetachRemote(LeaderConnection connection);

    /// <summary>The channel's last handle closed, or the node stops: dispose the real client, stop subscriptions.</summary>
    public abstract ValueTask StopAsync();
}

/// <summary>
/// The runtime's implementation of what proxies call, and the one owner of the channel's route: invokes, oneways,
/// publications (<see cref="Publications"/>) and subscriptions (<see cref="Subscriptions"/>) all go where
/// <see cref="CurrentRoute"/> says, the real client when this process leads or the leader connection when it follows.
/// Calls wait for readiness within their own timeout and are retried across a failover when that is safe.
/// </summary>
/// <remarks>
/// Route changes happen under <see cref="RouteGate"/>, together with what a new route needs (re-subscribe, re-publish),
/// so a subscription or publication made meanwhile reaches the new leader exactly once.
/// </remarks>
internal sealed partial class NodeChannel<T> : NodeChannel, ISubscriptionReceiver where T : class
{
    // How often a call made in a process whose term ended re-checks, until the step-down gives it a new route.
    private static readonly TimeSpan FencedRetryDelay = TimeSpan.FromMilliseconds(10);
    private readonly ClusterNode _node;
    private readonly Func<CancellationToken, ValueTask<T>> _factory;
    private readonly TimeSpan _responseTimeout;
    private readonly TimeSpan _maxWaitTime;
    private readonly ILogger _logger;
    private readonly LocalSubscriptions<T> _subscriptions;
    private readonly PublicationLog<T> _publications;
    private readonly object _routeGate = new();
    private volatile Route? _route;
    private LeaderChannel<T>? _leader;

    public NodeChannel(ClusterNode node, string name, ClusterContract<T> contract, Func<CancellationToken, ValueTask<T>> factory, ClusterClientOptions options, ILogger logger)
        : base(name, typeof(T), contract.Fingerprint)
    {
        _node = node;
        Contract = contract;
        _factory = factory;
        _responseTimeout = options.ResponseTimeout;
        _maxWaitTime = options.MaxWaitTime;
        LeaderCalls = options.LeaderCalls;
        _logger = logger;
        Methods = LeaderChannel<T>.MethodTable(contract);
        SerializerOptions = WireSerializer.CreateOptions(contract.Resolver, options.SerializerOptions, DecodingLimits.UntrustedData);
        _subscriptions = new LocalSubscriptions<T>(this, options.SubscriptionBufferSize, logger);
        _publications = new PublicationLog<T>(this, logger);
    }

    public ClusterContract<T> Contract { get; }

    /// <summary>The resolver chain and security every value of this channel is written and read with.</summary>
    public MessagePackSerializerOptions SerializerOptions { get; }

    public Dictionary<uint, ClusterMethod> Methods { get; }

    public ClusterNode Node => _node;

    public override ILeaderChannel? LeaderSide => Volatile.Read(ref _leader);

    /// <summary>
    /// The real client when this process leads under a term that is still current and the client exists (fencing: a
    /// deposed process that resumed gets null, so its proxy's direct calls take the checked path and wait).
    /// </summary>
    public T? LocalTarget => _route?.Local is { } local && _node.ConfirmedEpoch() != 0 ? local.Target : null;

    /// <summary>How this process's calls reach the real client while it leads (from the first handle's options).</summary>
    public LeaderCallMode LeaderCalls { get; }

    /// <summary>Where calls, publications and subscriptions go right now; null while no leader is attached.</summary>
    internal Route? CurrentRoute => _route;

    /// <summary>Guards route changes; the subscription registry and the publication log share it.</summary>
    internal object RouteGate => _routeGate;

    public override void StartLeading(ILogger logger)
    {
        var leader = new LeaderChannel<T>(Name, Contract, SerializerOptions, _factory, logger, Readiness);
        lock (_routeGate)
        {
            Volatile.Write(ref _leader, leader);
            var route = _route = new Route(leader, null, 0);
            // Ready again only when this process's real client exists, whatever a previous route said.
            Readiness.SetNotReady();
            _subscriptions.AttachAll(route);
            // Queued before any publication made on this route, so the real client gets them all in order.
            _publications.ReplayLocally(leader);
        }
        WaitingFor = "the client factory to complete on this process (the leader)";
        leader.Start();
    }

    public override async ValueTask StopLeadingAsync()
    {
        var leader = Interlocked.Exchange(ref _leader, null);
        lock (_routeGate)
        {
            if (_route?.Local is not null) _route = null;
        }
        WaitingFor = "a new leader after this process was deposed";
        Readiness.SetNotReady();
        if (leader is not null) await leader.DisposeAsync().ConfigureAwait(false);
    }

    public override void AttachRemote(LeaderConnection connection, int channelId)
    {
        lock (_routeGate)
        {
            // A registration answer that arrives after its connection closed, or after this process won the next
            // election, is stale: routing calls to it would detach the live route and leave the channel not ready.
            if (connection.IsClosed || _route?.Local is not null) return;
            connection.AddReceiver(channelId, this);
            var route = _route = new Route(null, connection, channelId);
            _subscriptions.AttachAll(route);
            _publications.ReplayTo(connection, channelId);
            WaitingFor = null;
            Readiness.SetReady();
        }
    }

    public override void DetachRemote(LeaderConnection connection)
    {
        lock (_routeGate)
        {
            var route = _route;
            if (route?.Connection != connection) return;
            _route = null;
            WaitingFor = "a new leader after the previous one was lost";
            Readiness.SetNotReady();
        }
    }

    public override async ValueTask StopAsync()
    {
        LocalSubscription[] stopped;
        lock (_routeGate)
        {
            stopped = _subscriptions.StopLocked(_route);
            _publications.Clear();
            _route = null;
            Readiness.SetNotReady();
        }
        LocalSubscriptions<T>.CompleteStopped(stopped);
        var leader = Interlocked.Exchange(ref _leader, null);
        if (leader is not null) await leader.DisposeAsync().ConfigureAwait(false);
    }


    public LocalSubscriptions<T> Subscriptions => _subscriptions;

    public PublicationLog<T> Publications => _publications;

    /// <summary>A listener of this channel threw, or this process fell behind its subscriptions; raised on a background thread.</summary>
    public event Action<ListenerErrorEventArgs>? ListenerError;

    internal void RaiseListenerError(string? member, Exception error)
    {
        var handlers = ListenerError;
        if (handlers is null) return;
        var args = new ListenerErrorEventArgs(member, error);
        foreach (Action<ListenerErrorEventArgs> handler in handlers.GetInvocationList())
        {
            try
            {
                handler(args);
            }
            catch (Exception ex)
            {
                // An error handler that throws must not take the delivery worker down with it.
                NodeLog.ListenerFailed(_logger, Name, ex);
            }
        }
    }

    void ISubscriptionReceiver.OnSubscriptionFrame(in Frame frame, in SubscribeResultHeader header)
    {
        // A value's receipt, linked to the leader's fan-out span; it covers handing the value to this process's listeners' queue.
        var span = header.Kind == SubscriptionEventKind.Value && ClusterClientTracing.Source.HasListeners()
            ? ClusterClientTracing.StartLinkedConsumer(MethodName(header.MethodId), ClusterClientTracing.FollowerRole, ClusterClientTracing.DeliverOperation,
                header.TraceParent, header.TraceState)
            : null;
        _subscriptions.OnRemote(frame, header);
        ClusterClientTracing.Stop(span);
    }

    private string MethodName(uint methodId)
    {
        foreach (var method in Contract.Methods)
        {
            if (method.Id == methodId) return method.Name;
        }
        return $"0x{methodId:x8}";
    }

    /// <summary>Where calls go right now: the local leader channel or a leader connection.</summary>
    internal sealed record Route(LeaderChannel<T>? Local, LeaderConnection? Connection, int ChannelId);
}
