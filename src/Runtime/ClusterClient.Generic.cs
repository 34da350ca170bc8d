using System.Diagnostics;
using ClusterSharing.Node;
using ClusterSharing.Proxies;
using MessagePack;
using MessagePack.Formatters;

namespace ClusterSharing;

/// <summary>
/// A handle on a shared client: <see cref="Client"/> is the proxy to call, the other members observe the cluster.
/// Create it with <see cref="ClusterClient.Create{T}(Func{T}, Action{ClusterClientOptions}?)"/>; dispose it when done (the last handle on the leader disposes
/// the real client).
/// </summary>
/// <typeparam name="T">The contract interface.</typeparam>
public sealed class ClusterClient<T> : IAsyncDisposable where T : class
{
    private readonly ClusterNode _node;
    private readonly NodeChannel<T> _channel;
    private readonly bool _ownsNodeReference;
    private readonly object _roleGate = new();
    private CancellationTokenSource _leadershipLost = new();
    private readonly Action<bool, long> _onRoleChanged;
    private readonly Action<ListenerErrorEventArgs> _onListenerError;
    private readonly List<LeaderWorkRegistration> _leaderWork = new();
    private int _disposed;
    private bool _wasLeader;
    private int _wasReady;
    private ClusterMembership? _membership;

    private ClusterClient(ClusterNode node, NodeChannel<T> channel, bool ownsNodeReference)
    {
        _node = node;
        _channel = channel;
        _ownsNodeReference = ownsNodeReference;
        Client = channel.Contract.CreateProxy(new HandleInvoker(this));
        _onRoleChanged = OnRoleChanged;
        node.RoleChanged += _onRoleChanged;
        _onListenerError = args => ListenerError?.Invoke(this, args);
        channel.ListenerError += _onListenerError;
        _wasLeader = node.IsLeader;
        WatchFirstReadiness();
    }

    /// <summary>Opens a handle on <paramref name="node"/> (tests pass their own node; <c>Create</c> passes the registry's).</summary>
    internal static ClusterClient<T> Open(ClusterNode node, ClusterContract<T> contract, Func<T> factory, ClusterClientOptions options, bool ownsNodeReference) =>
        Open(node, contract, ClusterClient.Synchronous(factory), options, ownsNodeReference);

    /// <summary>Opens a handle whose real client is built by an asynchronous factory.</summary>
    internal static ClusterClient<T> Open(ClusterNode node, ClusterContract<T> contract, Func<CancellationToken, ValueTask<T>> factory, ClusterClientOptions options,
        bool ownsNodeReference)
    {
        NodeChannel<T>? channel = null;
        try
        {
            channel = node.OpenChannel(options.Name ?? contract.Name, contract, factory, options);
            return new ClusterClient<T>(node, channel, ownsNodeReference);
        }
        catch
        {
            if (channel is not null) _ = node.ReleaseChannelAsync(channel).AsTask();
            if (ownsNodeReference) _ = ClusterNodeRegistry.ReleaseAsync(node).AsTask();
            throw;
        }
    }

    /// <summary>
    /// The proxy. Usable at once: calls made before the cluster is ready wait for it, each bounded by its own timeout
    /// (<see cref="TimeoutAttribute"/> or <see cref="ClusterClientOptions.ResponseTimeout"/>).
    /// </summary>
    public T Client { get; }

    /// <summary>True while this process holds the real client.</summary>
    public bool IsLeader => Volatile.Read(ref _disposed) == 0 && _node.IsLeader;

    /// <summary>True while calls are served (<see cref="State"/> is <see cref="ClusterClientState.Ready"/>). Never blocks.</summary>
    public bool IsReady => Volatile.Read(ref _disposed) == 0 && _channel.Readiness.IsReady;

    /// <summary>Where this handle stands right now; never blocks (for health checks and dashboards).</summary>
    public ClusterClientState State
    {
        get
        {
            if (Volatile.Read(ref _disposed) != 0) return ClusterClientState.Disposed;
            var readiness = _channel.Readiness;
            if (readiness.IsReady) return ClusterClientState.Ready;
            if (readiness.LastError is not null) return ClusterClientState.Faulted;
            return Volatile.Read(ref _wasReady) != 0 ? ClusterClientState.FailingOver : ClusterClientState.Starting;
        }
    }

    /// <summary>Remembers the first time the channel became ready, so <see cref="State"/> tells a failover from a start.</summary>
    private void WatchFirstReadiness() =>
        _channel.Readiness.NextOutcome.ContinueWith(static (outcome, state) =>
        {
            var self = (ClusterClient<T>)state!;
            if (outcome.IsCompletedSuccessfully) Volatile.Write(ref self._wasReady, 1);
            else if (Volatile.Read(ref self._disposed) == 0) self.WatchFirstReadiness();
        }, this, CancellationToken.None, TaskContinuationOptions.ExecuteSynchronously, TaskScheduler.Default);

    /// <summary>
    /// This process's membership on the port: who is in the cluster, their advertisements, channels and direct messages.
    /// Every process is a member; this object lives as long as this handle (its channel handlers stop when the handle is disposed).
    /// </summary>
    public ClusterMembership Membership
    {
        get
        {
            ObjectDisposedException.ThrowIf(Volatile.Read(ref _disposed) != 0, this);
            var membership = Volatile.Read(ref _membership);
            if (membership is not null) return membership;
            var created = new ClusterMembership(_node, ownsNode: false);
            if (Interlocked.CompareExchange(ref _membership, created, null) is { } raced)
            {
                _ = created.DisposeAsync();
                return raced;
            }
            return created;
        }
    }

    /// <summary>The leadership epoch known to this process (1 for the first leader, +1 for each failover it saw).</summary>
    public long Epoch => _node.Epoch;

    /// <summary>The channel name (the contract's name unless <see cref="ClusterClientOptions.Name"/> was set).</summary>
    public string Name => _channel.Name;

    /// <summary>The port competed for.</summary>
    public int Port => _node.Port;

    /// <summary>
    /// Fires when this process stops leading (on disposal or loss of leadership, for example when it was deposed after
    /// being stopped); never fires on a follower. Each term of leadership has its own token: read it again after
    /// <see cref="LeaderChanged"/> reports this process leading.
    /// </summary>
    public CancellationToken LeadershipLost
    {
        get { lock (_roleGate) return _leadershipLost.Token; }
    }

    /// <summary>Raised when this process becomes the leader or learns of a new leader. Handlers run on a background thread.</summary>
    public event EventHandler<LeaderChangedEventArgs>? LeaderChanged;

    /// <summary>
    /// Raised when a subscription listener, event handler or async-stream subscription of this channel in this process
    /// fails (the exception it threw, or the error that ended the subscription), and when this process's listeners fell
    /// more than <see cref="ClusterClientOptions.SubscriptionBufferSize"/> values behind and were resynchronised.
    /// Other listeners and the connection are not affected. Every handle on the channel in this process sees it;
    /// handlers run on a background thread. The error is logged as well.
    /// </summary>
    public event EventHandler<ListenerErrorEventArgs>? ListenerError;

    /// <summary>
    /// Completes when the client can be used: on the leader, when the factory has built the real client; on a follower,
    /// when the leader accepted this channel and its real client exists. Waits at most
    /// <see cref="ClusterClientOptions.MaxWaitTime"/>.
    /// </summary>
    /// <returns>This handle, for chaining after <see cref="ClusterClient.Create{T}(Func{T}, Action{ClusterClientOptions}?)"/>.</returns>
    /// <exception cref="ClusterClientException">No leader within MaxWaitTime (the message says what was seen on the port),
    /// or the leader's factory failed (the message carries its error; the factory is retried, so a later call can succeed).</exception>
    public async Task<ClusterClient<T>> ReadyAsync(CancellationToken cancellationToken = default)
    {
        ObjectDisposedException.ThrowIf(Volatile.Read(ref _disposed) != 0, this);
        var maxWait = _node.Options.MaxWaitTime;
        long started = Stopwatch.GetTimestamp();
        try
        {
            await _channel.Readiness.WaitAsync(maxWait, cancellationToken).ConfigureAwait(false);
        }
        catch (TimeoutException)
        {
            throw new ClusterClientException(_node.DescribeNotReady(_channel, Stopwatch.GetElapsedTime(started)));
        }
        return this;
    }

    /// <summary>
    /// Runs <paramref name="work"/> only while this process leads: it starts when this process wins a leadership term
    /// (at once if it leads now), its token fires when the term ends (leadership lost or deposed, the node closed, this
    /// handle or the registration disposed), and it starts again on the next term this process wins. Several handles of
    /// one port share the node's leadership, so their works start and stop together.
    /// </summary>
    /// <remarks>
    /// Rules: one run at a time per registration; a new term's run starts only after the previous run returned (the
    /// end of a term waits for it at most <see cref="LeaderWorkOptions.GracePeriod"/>, then logs event 1031 and still
    /// holds the next run back until it returns). A run that returns ends the work for this term. A run that throws is
    /// logged (event 1030) and runs again on the next term, or after a backoff with <see cref="LeaderWorkOptions.RestartOnFailure"/>.
    /// A process that was stopped (SIGSTOP) and deposed learns it when it resumes; until then its run has not been
    /// cancelled, so pass <see cref="Epoch"/> upstream as a fencing token where that matters.
    /// </remarks>
    /// <param name="work">The work; it receives a token that fires when this process stops leading.</param>
    /// <param name="options">Name, grace period and restart policy; defaults when null.</param>
    /// <returns>A registration; disposing it cancels the work (and <c>DisposeAsync</c> waits for it).</returns>
    /// <exception cref="ObjectDisposedException">This handle was disposed.</exception>
    /// <exception cref="ArgumentOutOfRangeException">An option is out of range (the message names it).</exception>
    public LeaderWorkRegistration WhenLeader(Func<CancellationToken, Task> work, LeaderWorkOptions? options = null) =>
        LeaderWorkRegistration.Register(_node, work, options, _roleGate, _leaderWork, () => Volatile.Read(ref _disposed) != 0, this);

    private void OnRoleChanged(bool isLeader, long epoch)
    {
        if (Volatile.Read(ref _disposed) != 0) return;
        bool lost;
        lock (_roleGate)
        {
            lost = _wasLeader && !isLeader;
            // A new term after a lost one (deposed, then elected again) gets a fresh token.
            if (isLeader && !_wasLeader && _leadershipLost.IsCancellationRequested) _leadershipLost = new CancellationTokenSource();
            _wasLeader = isLeader;
        }
        if (lost) CancelLeadership();
        LeaderChanged?.Invoke(this, new LeaderChangedEventArgs(isLeader, epoch));
    }

    private void CancelLeadership()
    {
        CancellationTokenSource source;
        lock (_roleGate) source = _leadershipLost;
        try
        {
            source.Cancel();
        }
        catch (AggregateException)
        {
            // Callbacks registered by user code threw; leadership is still lost.
        }
    }

    /// <summary>Closes this handle. Idempotent. The last handle in a leading process disposes the real client and gives up leadership.</summary>
    public async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0) return;
        _node.RoleChanged -= _onRoleChanged;
        _channel.ListenerError -= _onListenerError;
        LeaderWorkRegistration[] works;
        lock (_roleGate) works = [.. _leaderWork];
        // Before the channel is released: the work may still use the real client while it winds down.
        foreach (var work in works) await work.DisposeAsync().ConfigureAwait(false);
        if (Volatile.Read(ref _membership) is { } membership) await membership.DisposeAsync().ConfigureAwait(false);
        bool wasLeader;
        lock (_roleGate) wasLeader = _wasLeader || _node.IsLeader;
        bool empty = await _node.ReleaseChannelAsync(_channel).ConfigureAwait(false);
        if (_ownsNodeReference) await ClusterNodeRegistry.ReleaseAsync(_node).ConfigureAwait(false);
        else if (empty) await _node.DisposeAsync().ConfigureAwait(false);
        if (wasLeader) CancelLeadership();
    }

    /// <summary>What this handle's proxy calls: the shared channel, except that Close members close this handle only.</summary>
    private sealed class HandleInvoker(ClusterClient<T> owner) : IClusterInvoker<T>
    {
        private NodeChannel<T> Channel
        {
            get
            {
                ObjectDisposedException.ThrowIf(Volatile.Read(ref owner._disposed) != 0, owner);
                return owner._channel;
            }
        }

        // SameAsFollowers: no direct calls, so the leader's calls take the dispatch path a follower's take.
        public T? LocalTarget => Volatile.Read(ref owner._disposed) != 0 || owner._channel.LeaderCalls != LeaderCallMode.Direct ? null : owner._channel.LocalTarget;

        public ValueTask<TResult> InvokeAsync<TArgs, TResult>(ClusterMethod method, in TArgs arguments, IMessagePackFormatter<TArgs> argumentsFormatter,
            IMessagePackFormatter<TResult> resultFormatter, CancellationToken cancellationToken) =>
            Channel.InvokeAsync(method, arguments, argumentsFormatter, resultFormatter, cancellationToken);

        public ValueTask InvokeAsync<TArgs>(ClusterMethod method, in TArgs arguments, IMessagePackFormatter<TArgs> argumentsFormatter, CancellationToken cancellationToken) =>
            Channel.InvokeAsync(method, arguments, argumentsFormatter, cancellationToken);

        public void InvokeOneway<TArgs>(ClusterMethod method, in TArgs arguments, IMessagePackFormatter<TArgs> argumentsFormatter) =>
            Channel.InvokeOneway(method, arguments, argumentsFormatter);

        public void Publish<TArgs>(ClusterMethod method, in TArgs arguments, IMessagePackFormatter<TArgs> argumentsFormatter) =>
            Channel.Publications.Publish(method, arguments, argumentsFormatter);

        public void Subscribe<TReg, TValue>(ClusterMethod method, TReg registration, IMessagePackFormatter<TReg> registrationFormatter,
            Action<TValue> listener, IMessagePackFormatter<TValue> valueFormatter) =>
            Channel.Subscriptions.Subscribe(method, registration, registrationFormatter, listener, valueFormatter);

        public ValueTask SubscribeAsync<TReg, TValue>(ClusterMethod method, TReg registration, IMessagePackFormatter<TReg> registrationFormatter,
            Action<TValue> listener, IMessagePackFormatter<TValue> valueFormatter, CancellationToken cancellationToken) =>
            Channel.Subscriptions.SubscribeAsync(method, registration, registrationFormatter, listener, valueFormatter, cancellationToken);

        public ValueTask<IAsyncEnumerable<TValue>> SubscribeStreamAsync<TReg, TValue>(ClusterMethod method, TReg registration,
            IMessagePackFormatter<TReg> registrationFormatter, IMessagePackFormatter<TValue> valueFormatter, CancellationToken cancellationToken) =>
            Channel.Subscriptions.SubscribeStreamAsync(method, registration, registrationFormatter, valueFormatter, cancellationToken);

        public void Unsubscribe<TReg, TValue>(ClusterMethod method, TReg registration, IMessagePackFormatter<TReg> registrationFormatter, Action<TValue>? listener) =>
            Channel.Subscriptions.Unsubscribe(method, registration, registrationFormatter, listener);

        public IAsyncEnumerable<TValue> SubscribeStream<TReg, TValue>(ClusterMethod method, TReg registration, IMessagePackFormatter<TReg> registrationFormatter,
            IMessagePackFormatter<TValue> valueFormatter, CancellationToken cancellationToken) =>
            Channel.Subscriptions.SubscribeStream(method, registration, registrationFormatter, valueFormatter, cancellationToken);

        public void AddEventHandler<TValue>(ClusterMethod method, object sender, EventHandler<TValue> handler, IMessagePackFormatter<TValue> valueFormatter) =>
            Channel.Subscriptions.AddEventHandler(method, sender, handler, valueFormatter);

        public void RemoveEventHandler<TValue>(ClusterMethod method, EventHandler<TValue> handler) =>
            Channel.Subscriptions.RemoveEventHandler(method, handler);

        public ValueTask CloseAsync(ClusterMethod method) => owner.DisposeAsync();
    }
}

/// <summary>Data of <see cref="ClusterClient{T}.LeaderChanged"/>.</summary>
/// <param name="isLeader">True when this process became the leader.</param>
/// <param name="epoch">The new leadership epoch.</param>
public sealed class LeaderChangedEventArgs(bool isLeader, long epoch) : EventArgs
{
    /// <summary>True when this process became the leader; false when another process leads.</summary>
    public bool IsLeader { get; } = isLeader;

    /// <summary>The leadership epoch now in force.</summary>
    public long Epoch { get; } = epoch;

    /// <inheritdoc/>
    public override string ToString() => $"IsLeader = {IsLeader}, Epoch = {Epoch}";
}
