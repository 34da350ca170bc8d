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
internal sealed class NodeChannel<T> : NodeChannel, ISubscriptionReceiver where T : class
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
        (ClusterMethod, byte[])[] publications;
        lock (_routeGate)
        {
            Volatile.Write(ref _leader, leader);
            var route = _route = new Route(leader, null, 0);
            // Ready again only when this process's real client exists, whatever a previous route said.
            Readiness.SetNotReady();
            _subscriptions.AttachAll(route);
            publications = _publications.Snapshot();
        }
        WaitingFor = "the client factory to complete on this process (the leader)";
        _publications.ReplayLocally(leader, publications);
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

    public TimeSpan TimeoutOf(ClusterMethod method) =>
        method.TimeoutMilliseconds > 0 ? TimeSpan.FromMilliseconds(method.TimeoutMilliseconds) : _responseTimeout;

    public ValueTask<TResult> InvokeAsync<TArgs, TResult>(ClusterMethod method, in TArgs arguments,
        IMessagePackFormatter<TArgs> argumentsFormatter, IMessagePackFormatter<TResult> resultFormatter, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(resultFormatter);
        // Fast path, allocation-free: a follower with a live connection hands out the pending call itself. The async
        // wrapper is only needed to wait for readiness, for a call that could not be sent, or to retry an idempotent one.
        var route = _route;
        if (route?.Connection is { } connection && !method.Idempotent && Readiness.IsReady && !cancellationToken.IsCancellationRequested)
        {
            var timeout = TimeoutOf(method);
            var retry = NotRunRetry<TArgs, TResult>.Rent(this, route, method, arguments, argumentsFormatter, resultFormatter, cancellationToken);
            if (connection.TryStartInvoke(route.ChannelId, method, arguments, argumentsFormatter, resultFormatter, SerializerOptions, timeout, timeout, retry, cancellationToken, out var pending))
                return pending;
        }
        return InvokeCoreAsync(method, arguments, argumentsFormatter, resultFormatter, 0, cancellationToken);
    }

    /// <summary>
    /// What a fast-path call needs to run again if a deposed leader refuses it unrun (fencing): it then waits for the
    /// next leader and runs there, within the call's own timeout. Pooled, so the fast path stays allocation-free.
    /// </summary>
    private sealed class NotRunRetry<TArgs, TResult> : INotRunRetry<TResult>
    {
        private static readonly BoundedPool<NotRunRetry<TArgs, TResult>> Pool = new(1024);
        private NodeChannel<T>? _channel;
        private Route? _route;
        private ClusterMethod? _method;
        private TArgs _arguments = default!;
        private IMessagePackFormatter<TArgs>? _argumentsFormatter;
        private IMessagePackFormatter<TResult>? _resultFormatter;
        private long _started;
        private CancellationToken _cancellationToken;

        public static NotRunRetry<TArgs, TResult> Rent(NodeChannel<T> channel, Route route, ClusterMethod method, in TArgs arguments,
            IMessagePackFormatter<TArgs> argumentsFormatter, IMessagePackFormatter<TResult>? resultFormatter, CancellationToken cancellationToken)
        {
            if (!Pool.TryRent(out var retry)) retry = new NotRunRetry<TArgs, TResult>();
            retry._channel = channel;
            retry._route = route;
            retry._method = method;
            retry._arguments = arguments;
            retry._argumentsFormatter = argumentsFormatter;
            retry._resultFormatter = resultFormatter;
            retry._started = Stopwatch.GetTimestamp();
            retry._cancellationToken = cancellationToken;
            return retry;
        }

        public void Release()
        {
            _channel = null;
            _route = null;
            _method = null;
            _arguments = default!;
            _argumentsFormatter = null;
            _resultFormatter = null;
            _cancellationToken = default;
            Pool.TryReturn(this);
        }

        public void Retry(PendingCall<TResult> call)
        {
            var (channel, route, method, arguments, argumentsFormatter, resultFormatter, started, cancellationToken) =
                (_channel!, _route!, _method!, _arguments, _argumentsFormatter!, _resultFormatter, _started, _cancellationToken);
            Release();
            _ = RunAsync(call, channel, route, method, arguments, argumentsFormatter, resultFormatter, started, cancellationToken);
        }

        private static async Task RunAsync(PendingCall<TResult> call, NodeChannel<T> channel, Route route, ClusterMethod method, TArgs arguments,
            IMessagePackFormatter<TArgs> argumentsFormatter, IMessagePackFormatter<TResult>? resultFormatter, long started, CancellationToken cancellationToken)
        {
            // The refusing leader closes the connection; detach now so the retry waits for the next leader.
            if (channel._route == route) channel.DetachRemote(route.Connection!);
            TResult result;
            try
            {
                result = await channel.InvokeCoreAsync(method, arguments, argumentsFormatter, resultFormatter, started, cancellationToken).ConfigureAwait(false);
            }
            catch (Exception ex)
            {
                call.FailRetried(ex);
                return;
            }
            call.CompleteRetried(result);
        }
    }

    [AsyncMethodBuilder(typeof(PoolingAsyncValueTaskMethodBuilder))]
    public async ValueTask InvokeAsync<TArgs>(ClusterMethod method, TArgs arguments, IMessagePackFormatter<TArgs> argumentsFormatter, CancellationToken cancellationToken) =>
        await InvokeCoreAsync<TArgs, object?>(method, arguments, argumentsFormatter, null, 0, cancellationToken).ConfigureAwait(false);

    [AsyncMethodBuilder(typeof(PoolingAsyncValueTaskMethodBuilder<>))]
    private async ValueTask<TResult> InvokeCoreAsync<TArgs, TResult>(ClusterMethod method, TArgs arguments,
        IMessagePackFormatter<TArgs> argumentsFormatter, IMessagePackFormatter<TResult>? resultFormatter, long started, CancellationToken cancellationToken)
    {
        var timeout = TimeoutOf(method);
        if (started == 0) started = Stopwatch.GetTimestamp();
        while (true)
        {
            cancellationToken.ThrowIfCancellationRequested();
            var remaining = timeout - Stopwatch.GetElapsedTime(started);
            if (remaining <= TimeSpan.Zero) throw new ClusterTimeoutException(method.Name, timeout);
            var route = _route;
            if (route is null || !Readiness.IsReady)
            {
                await WaitForCallAsync(method, timeout, started, cancellationToken).ConfigureAwait(false);
                continue;
            }
            if (route.Local is { } leader)
            {
                long fence = _node.ConfirmedEpoch();
                if (fence == 0)
                {
                    // This process's term ended (it was stopped and deposed): run nothing; the step-down detaches this route.
                    await Task.Delay(FencedRetryDelay, cancellationToken).ConfigureAwait(false);
                    continue;
                }
                return await InvokeLocalAsync(leader, method, arguments, argumentsFormatter, resultFormatter, timeout, remaining, fence, cancellationToken).ConfigureAwait(false);
            }
            try
            {
                return await route.Connection!.InvokeAsync(route.ChannelId, method, arguments, argumentsFormatter, resultFormatter, SerializerOptions, timeout, remaining, cancellationToken).ConfigureAwait(false);
            }
            catch (LeaderLostException lost) when (!lost.RequestSent || method.Idempotent)
            {
                // Not sent, or safe to repeat: wait for the next leader within this call's own timeout.
                if (_route == route) DetachRemote(route.Connection!);
            }
        }
    }

    /// <summary>
    /// Waits until the channel is ready, within the call's timeout (counted from <paramref name="started"/>). While no
    /// leader is known the wait is also bounded by MaxWaitTime, and a call that found none fails with
    /// <see cref="ClusterNoLeaderException"/> saying where this process looked.
    /// </summary>
    private async ValueTask WaitForCallAsync(ClusterMethod method, TimeSpan timeout, long started, CancellationToken cancellationToken)
    {
        var elapsed = Stopwatch.GetElapsedTime(started);
        var remaining = timeout - elapsed;
        bool leaderless = !_node.HasLeader;
        var wait = leaderless ? TimeSpan.FromTicks(Math.Min(remaining.Ticks, (_maxWaitTime - elapsed).Ticks)) : remaining;
        if (wait > TimeSpan.Zero)
        {
            try
            {
                await Readiness.WaitAsync(wait, cancellationToken).ConfigureAwait(false);
                return;
            }
            catch (TimeoutException)
            {
                // Decided below: still no leader, or out of time.
            }
        }
        elapsed = Stopwatch.GetElapsedTime(started);
        if (!_node.HasLeader && (elapsed >= _maxWaitTime || elapsed >= timeout))
            throw new ClusterNoLeaderException(method.Name, elapsed, _node.DescribeLeaderSearch());
        if (elapsed >= timeout) throw new ClusterTimeoutException(method.Name, timeout, _node.LeaderWhere);
        // A leader appeared (or went) meanwhile: the caller's loop waits again within what is left.
    }

    private async ValueTask<TResult> InvokeLocalAsync<TArgs, TResult>(LeaderChannel<T> leader, ClusterMethod method, TArgs arguments,
        IMessagePackFormatter<TArgs> argumentsFormatter, IMessagePackFormatter<TResult>? resultFormatter, TimeSpan timeout, TimeSpan remaining, long fence,
        CancellationToken cancellationToken)
    {
        bool sameAsFollowers = LeaderCalls == LeaderCallMode.SameAsFollowers;
        using var deadline = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        deadline.CancelAfter(remaining);
        var telemetry = CallTelemetry.StartLocal(method.Name);
        try
        {
            ValueTask<TResult> call;
            long outerFence = FencingScope.Enter(fence);
            try
            {
                call = leader.InvokeLocalAsync(method, arguments, argumentsFormatter, resultFormatter, deadline.Token);
            }
            finally
            {
                FencingScope.Exit(outerFence);
            }
            var result = await call.AsTask().WaitAsync(remaining, cancellationToken).ConfigureAwait(false);
            telemetry.End(null);
            return result;
        }
        catch (Exception ex) when (ex is TimeoutException || (ex is OperationCanceledException && !cancellationToken.IsCancellationRequested && deadline.IsCancellationRequested))
        {
            var timedOut = new ClusterTimeoutException(method.Name, timeout, "this process");
            telemetry.End(timedOut);
            throw timedOut;
        }
        catch (Exception ex) when (sameAsFollowers && ex is not ClusterClientException and not OperationCanceledException and not MessagePackSerializationException)
        {
            // The real client threw: surface it as a follower would see it, with the real exception inside.
            telemetry.End(ex);
            throw new ClusterRemoteException(ex.GetType().FullName ?? ex.GetType().Name, ex.Message, ex.StackTrace, ex.Data["Code"]?.ToString(), ex);
        }
        catch (Exception ex)
        {
            telemetry.End(ex);
            throw;
        }
    }

    public void InvokeOneway<TArgs>(ClusterMethod method, in TArgs arguments, IMessagePackFormatter<TArgs> argumentsFormatter)
    {
        var route = _route;
        if (route is not null && Readiness.IsReady && route.Connection is { } connection
            && connection.TrySendOneway(route.ChannelId, method, arguments, argumentsFormatter, SerializerOptions))
        {
            return;
        }
        _ = OnewayWhenReadyAsync(method, arguments, argumentsFormatter);
    }

    private async Task OnewayWhenReadyAsync<TArgs>(ClusterMethod method, TArgs arguments, IMessagePackFormatter<TArgs> argumentsFormatter)
    {
        try
        {
            var timeout = TimeoutOf(method);
            long started = Stopwatch.GetTimestamp();
            while (true)
            {
                var remaining = timeout - Stopwatch.GetElapsedTime(started);
                if (remaining <= TimeSpan.Zero) throw new ClusterTimeoutException(method.Name, timeout);
                var route = _route;
                if (route is null || !Readiness.IsReady)
                {
                    await WaitForCallAsync(method, timeout, started, CancellationToken.None).ConfigureAwait(false);
                    continue;
                }
                if (route.Local is { } leader)
                {
                    long fence = _node.ConfirmedEpoch();
                    if (fence == 0)
                    {
                        await Task.Delay(FencedRetryDelay).ConfigureAwait(false);
                        continue;
                    }
                    await InvokeLocalAsync<TArgs, object?>(leader, method, arguments, argumentsFormatter, null, timeout, remaining, fence, CancellationToken.None).ConfigureAwait(false);
                    return;
                }
                if (route.Connection!.TrySendOneway(route.ChannelId, method, arguments, argumentsFormatter, SerializerOptions)) return;
                if (_route == route) DetachRemote(route.Connection);
            }
        }
        catch (Exception ex)
        {
            NodeLog.OnewayFailed(_logger, method.Name, ex);
        }
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
