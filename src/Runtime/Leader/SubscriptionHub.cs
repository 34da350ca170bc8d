using System.Buffers;
using ClusterSharing.Protocol;
using ClusterSharing.Proxies;
using ClusterSharing.Serialization;
using MessagePack;
using MessagePack.Formatters;
using Microsoft.Extensions.Logging;
using ClusterSharing.Diagnostics;

namespace ClusterSharing.Leader;

/// <summary>Receives the encoded values of one hub subscription (a follower's subscription id, or a local listener set).</summary>
internal interface ISubscriber
{
    /// <summary>The follower session it belongs to, or null for this process's own listeners.</summary>
    object? Owner { get; }

    /// <summary>Identifies the subscriber within its owner.</summary>
    long SubscriptionId { get; }

    /// <summary>One value, encoded once for all subscribers.</summary>
    void Deliver(ReadOnlySpan<byte> value);

    /// <summary>The real subscription ended (async streams) or failed.</summary>
    void Complete(Exception? error);

    /// <summary>The real client holds the subscription (the real subscribe returned); called for awaitable members only.</summary>
    void Attached();
}

/// <summary>A leader channel that hosts subscriptions.</summary>
internal interface ISubscriptionHost
{
    SubscriptionHub Hub { get; }
}

/// <summary>
/// The leader's subscriptions of one channel: the real client is subscribed once per (method, registration bytes)
/// and every value is encoded once and fanned out to the subscribers of that key (all of them, or one in turn for
/// <c>[Subscribe(Broadcast = false)]</c>); the last value of a listener or stream subscription is cached and replayed
/// to a late subscriber. Subscriptions made before the real client exists start when it does.
/// When the last subscriber of a key leaves, the real subscription is undone if the contract can undo it (a paired
/// unsubscribe member, an event, a stream); otherwise the real listener stays and the key is kept, idle, with its
/// cached value, so a later subscriber reuses it instead of subscribing the real client a second time.
/// </summary>
internal sealed class SubscriptionHub
{
    private readonly object _gate = new();
    private readonly Dictionary<Key, Entry> _entries = new();
    private readonly string _channel;
    private readonly Func<uint, ClusterMethod?> _findMethod;
    private readonly Func<ClusterMethod, byte[], ISubscriptionSink, object?> _subscribe;
    private readonly Func<ClusterMethod, byte[], object, bool> _unsubscribe;
    private readonly Func<ClusterMethod, object, bool> _canUndo;
    private readonly ILogger _logger;
    private readonly HashSet<uint> _keepsIdle = new();
    private int _idle;
    private bool _active;

    /// <param name="channel">Channel name, for messages.</param>
    /// <param name="findMethod">The contract's method of an id.</param>
    /// <param name="subscribe">Subscribes the real client; returns the token that undoes it.</param>
    /// <param name="unsubscribe">Undoes a real subscription; false when nothing could be undone.</param>
    /// <param name="canUndo">Whether <paramref name="unsubscribe"/> can undo a subscription made with this token.</param>
    /// <param name="logger">Where failures go.</param>
    public SubscriptionHub(string channel, Func<uint, ClusterMethod?> findMethod, Func<ClusterMethod, byte[], ISubscriptionSink, object?> subscribe,
        Func<ClusterMethod, byte[], object, bool> unsubscribe, Func<ClusterMethod, object, bool> canUndo, ILogger logger)
    {
        _channel = channel;
        _findMethod = findMethod;
        _subscribe = subscribe;
        _unsubscribe = unsubscribe;
        _canUndo = canUndo;
        _logger = logger;
        ClusterClientMetrics.TrackSubscriptions(this, () => Count);
    }

    /// <summary>Number of distinct keys, idle ones included (tests).</summary>
    internal int Count
    {
        get { lock (_gate) return _entries.Count; }
    }

    /// <summary>Idle keys: no subscriber left, real listener kept because the contract cannot undo it (tests).</summary>
    internal int IdleCount
    {
        get { lock (_gate) return _idle; }
    }

    /// <summary>Subscribers across all registrations of <paramref name="methodId"/> (tests).</summary>
    internal int SubscriberCount(uint methodId)
    {
        lock (_gate)
        {
            int count = 0;
            foreach (var (key, entry) in _entries)
            {
                if (key.MethodId == methodId) count += entry.Subscribers.Length;
            }
            return count;
        }
    }

    /// <summary>The cached last value of a key, or null (tests and the leader's own resynchronisation).</summary>
    /// <summary>Every real subscription with its subscriber count (the inspector's report).</summary>
    internal (ClusterMethod Method, byte[] Registration, int Subscribers)[] Describe()
    {
        lock (_gate)
        {
            var result = new (ClusterMethod, byte[], int)[_entries.Count];
            int i = 0;
            foreach (var entry in _entries.Values)
            {
                lock (entry.DeliveryGate) result[i++] = (entry.Method, entry.Registration, entry.Subscribers.Length);
            }
            return result;
        }
    }

    internal byte[]? LastValue(uint methodId, byte[] registration)
    {
        lock (_gate) return _entries.TryGetValue(new Key(methodId, registration), out var entry) ? entry.LastValue : null;
    }

    /// <summary>Adds <paramref name="subscriber"/> to the key (<paramref name="methodId"/>, <paramref name="registration"/>).</summary>
    /// <param name="methodId">The subscribe member.</param>
    /// <param name="registration">Canonical registration bytes (the key).</param>
    /// <param name="subscriber">Receives the values.</param>
    /// <param name="maxIdleKeys">
    /// For followers: refuse (fault the subscriber, return false) to create a new key of a method whose keys stay idle
    /// once this channel already keeps this many idle keys.
    /// </param>
    /// <returns>False when the subscriber was refused (and faulted).</returns>
    public bool Add(uint methodId, byte[] registration, ISubscriber subscriber, int maxIdleKeys = int.MaxValue)
    {
        var method = _findMethod(methodId);
        if (method is null || method.Kind is not (ClusterMethodKind.Subscribe or ClusterMethodKind.Event))
        {
            subscriber.Complete(new ClusterClientException($"Channel '{_channel}' has no subscription member with id 0x{methodId:x8}; deploy the same contract version to every process."));
            return false;
        }
        Entry entry = null!;
        bool start = false, attached = false;
        string? refusal = null;
        lock (_gate)
        {
            var key = new Key(methodId, registration);
            if (!_entries.TryGetValue(key, out entry!))
            {
                if (_idle >= maxIdleKeys && _keepsIdle.Contains(methodId))
                {
                    refusal = $"channel '{_channel}' already keeps {_idle} idle subscriptions of members that cannot be unsubscribed on the leader " +
                              $"(MaxIdleSubscriptionsPerChannel {maxIdleKeys}); reuse an existing registration, or add an unsubscribe member paired with '{method.Name}'";
                }
                else
                {
                    entry = new Entry(this, method, registration) { Creator = subscriber.Owner };
                    _entries.Add(key, entry);
                }
            }
            if (refusal is null && entry.Idle)
            {
                entry.Idle = false;
                _idle--;
            }
            if (refusal is null)
            {
                // Under the key's delivery lock: a late subscriber gets the cached value exactly once, before any newer one.
                lock (entry.DeliveryGate)
                {
                    // A follower may send the same subscription twice (its re-subscribe after attaching races a new
                    // Subscribe call); one delivery per (owner, id) is what it expects.
                    if (Array.Exists(entry.Subscribers, s => s.Owner == subscriber.Owner && s.SubscriptionId == subscriber.SubscriptionId)) return true;
                    entry.Subscribers = [.. entry.Subscribers, subscriber];
                    if (entry.LastValue is { } last && entry.ReplaysLastValue) Deliver(subscriber, last);
                }
                start = _active && entry.Token is null && !entry.Starting;
                if (start) entry.Starting = true;
                // Already held by the real client (another subscriber's, or an idle key): attached now. Otherwise Started tells it.
                attached = entry.Token is not null;
            }
        }
        if (refusal is not null)
        {
            subscriber.Complete(new ClusterClientException($"The leader refused the subscription: {refusal}."));
            return false;
        }
        if (start) Start(entry);
        else if (attached && method.Awaitable) NotifyAttached(subscriber);
        return true;
    }

    /// <summary>Removes one subscriber.</summary>
    /// <returns>True when this left the key idle (kept, with no subscriber) and <paramref name="owner"/> created it: the owner is charged for it.</returns>
    public bool Remove(uint methodId, byte[] registration, object? owner, long subscriptionId)
    {
        Entry? entry;
        lock (_gate)
        {
            if (!_entries.TryGetValue(new Key(methodId, registration), out entry)) return false;
            lock (entry.DeliveryGate) entry.Subscribers = Array.FindAll(entry.Subscribers, s => !(s.Owner == owner && s.SubscriptionId == subscriptionId));
        }
        StopIfUnused(methodId, registration);
        lock (_gate) return owner is not null && entry.Idle && entry.Creator == owner;
    }

    /// <summary>A follower left: drop all of its subscriptions.</summary>
    public void RemoveAll(object owner)
    {
        List<Entry> emptied = new();
        lock (_gate)
        {
            foreach (var entry in _entries.Values)
            {
                lock (entry.DeliveryGate)
                {
                    if (!Array.Exists(entry.Subscribers, s => s.Owner == owner)) continue;
                    entry.Subscribers = Array.FindAll(entry.Subscribers, s => s.Owner != owner);
                    if (entry.Subscribers.Length == 0) emptied.Add(entry);
                }
            }
        }
        foreach (var entry in emptied) StopIfUnused(entry.Method.Id, entry.Registration);
    }

    /// <summary>The last subscriber of a key left: undo the real subscription if the contract can, else keep the key idle.</summary>
    private void StopIfUnused(uint methodId, byte[] registration)
    {
        object? token;
        Entry? entry;
        lock (_gate)
        {
            if (!_entries.TryGetValue(new Key(methodId, registration), out entry)) return;
            lock (entry.DeliveryGate)
            {
                if (entry.Subscribers.Length != 0) return;
            }
            // Not started yet (or the real client is gone): nothing real to keep, forget the key.
            if (entry.Token is null && !entry.Starting)
            {
                Forget(entry);
                return;
            }
            if (entry.Starting) return; // Start sees no subscriber left and decides then
            if (!_canUndo(entry.Method, entry.Token!))
            {
                MarkIdle(entry); // the real listener stays, the cache with it
                return;
            }
            Forget(entry);
            token = entry.Token;
            entry.Token = null;
        }
        Undo(entry, token!);
    }

    /// <summary>The real client exists: start every subscription made so far.</summary>
    public void Activate()
    {
        List<Entry> start = new();
        lock (_gate)
        {
            _active = true;
            foreach (var entry in _entries.Values)
            {
                if (entry.Token is null && !entry.Starting)
                {
                    entry.Starting = true;
                    start.Add(entry);
                }
            }
        }
        foreach (var entry in start) Start(entry);
    }

    /// <summary>The real client goes away: undo every real subscription (subscribers stay, for a later activation).</summary>
    public void Deactivate()
    {
        List<(Entry, object)> stop = new();
        lock (_gate)
        {
            _active = false;
            foreach (var entry in _entries.Values)
            {
                if (entry.Token is { } token) stop.Add((entry, token));
                entry.Token = null;
            }
        }
        foreach (var (entry, token) in stop) Undo(entry, token);
    }

    private void Start(Entry entry)
    {
        object? token;
        try
        {
            token = _subscribe(entry.Method, entry.Registration, entry);
        }
        catch (Exception ex)
        {
            StartFailed(entry, ex);
            return;
        }
        if (token is PendingSubscription pending)
        {
            // An awaitable member: the real client holds the subscription when its task completes.
            if (!pending.Attached.IsCompleted)
            {
                _ = StartWhenAttachedAsync(entry, pending);
                return;
            }
            if (!pending.Attached.IsCompletedSuccessfully)
            {
                StartFailed(entry, Failure(pending.Attached));
                return;
            }
            token = pending.Token;
        }
        Started(entry, token);
    }

    private async Task StartWhenAttachedAsync(Entry entry, PendingSubscription pending)
    {
        try
        {
            await pending.Attached.ConfigureAwait(false);
        }
        catch (Exception ex)
        {
            StartFailed(entry, ex);
            return;
        }
        Started(entry, pending.Token);
    }

    private static Exception Failure(Task task) =>
        task.Exception is { } faulted ? faulted.InnerException ?? faulted : new OperationCanceledException("The real subscribe member's task was cancelled.");

    /// <summary>The real subscribe failed: the key is forgotten and each of its subscribers ends with <paramref name="error"/>.</summary>
    private void StartFailed(Entry entry, Exception error)
    {
        LeaderLog.SubscriptionFailed(_logger, _channel, error);
        ISubscriber[] subscribers;
        lock (_gate)
        {
            entry.Starting = false;
            if (_entries.TryGetValue(new Key(entry.Method.Id, entry.Registration), out var same) && same == entry) Forget(entry);
            lock (entry.DeliveryGate) subscribers = entry.Subscribers;
        }
        foreach (var subscriber in subscribers) subscriber.Complete(error);
    }

    /// <summary>The real subscribe returned <paramref name="token"/>: keep it (or undo it when nobody wants it any more).</summary>
    private void Started(Entry entry, object? token)
    {
        bool undo;
        ISubscriber[] attached = [];
        lock (_gate)
        {
            entry.Starting = false;
            bool unused;
            lock (entry.DeliveryGate) unused = entry.Subscribers.Length == 0;
            bool current = _entries.TryGetValue(new Key(entry.Method.Id, entry.Registration), out var same) && same == entry;
            undo = token is not null && (!current || !_active || (unused && _canUndo(entry.Method, token)));
            if (undo)
            {
                if (current) Forget(entry);
            }
            else
            {
                entry.Token = token;
                if (unused && current && token is not null) MarkIdle(entry);
                // Those here now are told below; a subscriber added from here on sees the token in Add.
                if (current && entry.Method.Awaitable) lock (entry.DeliveryGate) attached = entry.Subscribers;
            }
        }
        if (undo) Undo(entry, token!);
        foreach (var subscriber in attached) NotifyAttached(subscriber);
    }

    private void NotifyAttached(ISubscriber subscriber)
    {
        try
        {
            subscriber.Attached();
        }
        catch (Exception ex)
        {
            LeaderLog.SubscriptionFailed(_logger, _channel, ex);
        }
    }

    /// <summary>The key stays with no subscriber (its real subscription cannot be undone). Under the hub's lock.</summary>
    private void MarkIdle(Entry entry)
    {
        _keepsIdle.Add(entry.Method.Id);
        if (entry.Idle) return;
        entry.Idle = true;
        _idle++;
    }

    /// <summary>Removes the key of <paramref name="entry"/>. Under the hub's lock.</summary>
    private void Forget(Entry entry)
    {
        _entries.Remove(new Key(entry.Method.Id, entry.Registration));
        if (!entry.Idle) return;
        entry.Idle = false;
        _idle--;
    }

    private void Undo(Entry entry, object token)
    {
        try
        {
            if (!_unsubscribe(entry.Method, entry.Registration, token)) LeaderLog.SubscriptionKept(_logger, _channel, entry.Method.Name);
        }
        catch (Exception ex)
        {
            LeaderLog.SubscriptionFailed(_logger, _channel, ex);
        }
    }

    private void Ended(Entry entry, Exception? error)
    {
        ISubscriber[] subscribers;
        lock (_gate)
        {
            var key = new Key(entry.Method.Id, entry.Registration);
            if (_entries.TryGetValue(key, out var current) && current == entry) Forget(entry);
            entry.Token = null;
            lock (entry.DeliveryGate)
            {
                subscribers = entry.Subscribers;
                entry.Subscribers = [];
            }
        }
        foreach (var subscriber in subscribers)
        {
            try
            {
                subscriber.Complete(error);
            }
            catch (Exception ex)
            {
                LeaderLog.SubscriptionFailed(_logger, _channel, ex);
            }
        }
    }

    private void Deliver(ISubscriber subscriber, byte[] value)
    {
        try
        {
            ClusterClientMetrics.Delivered();
            subscriber.Deliver(value);
        }
        catch (Exception ex)
        {
            // A subscriber never throws by design (remote sends and local queues do not); if one does, the others still get the value.
            LeaderLog.SubscriptionFailed(_logger, _channel, ex);
        }
    }

    private readonly struct Key(uint methodId, byte[] registration) : IEquatable<Key>
    {
        public uint MethodId { get; } = methodId;

        public byte[] Registration { get; } = registration;

        public bool Equals(Key other) => MethodId == other.MethodId && Registration.AsSpan().SequenceEqual(other.Registration);

        public override bool Equals(object? obj) => obj is Key other && Equals(other);

        public override int GetHashCode()
        {
            var hash = new HashCode();
            hash.Add(MethodId);
            hash.AddBytes(Registration);
            return hash.ToHashCode();
        }
    }

    /// <summary>One real subscription; the sink the contract's Subscribe pushes values into.</summary>
    private sealed class Entry(SubscriptionHub hub, ClusterMethod method, byte[] registration) : ISubscriptionSink
    {
        private int _next;

        public ClusterMethod Method { get; } = method;

        public byte[] Registration { get; } = registration;

        /// <summary>Orders values, replays and subscriber changes of this key; never held while calling user code.</summary>
        public object DeliveryGate { get; } = new();

        /// <summary>Copy-on-write under <see cref="DeliveryGate"/>.</summary>
        public ISubscriber[] Subscribers { get; set; } = [];

        /// <summary>Guarded by the hub's lock.</summary>
        public object? Token { get; set; }

        /// <summary>Guarded by the hub's lock.</summary>
        public bool Starting { get; set; }

        /// <summary>No subscriber, real subscription kept (cannot be undone); counted in the hub's idle keys. Guarded by the hub's lock.</summary>
        public bool Idle { get; set; }

        /// <summary>The follower session (or null: this process) whose subscription created the key; charged while it stays idle.</summary>
        public object? Creator { get; init; }

        /// <summary>Guarded by <see cref="DeliveryGate"/>.</summary>
        public byte[]? LastValue { get; private set; }

        /// <summary>
        /// Events are occurrences, not state, and a one-of-N value was already taken by someone: only broadcast
        /// subscriptions replay their last value to a late subscriber.
        /// </summary>
        public bool ReplaysLastValue => Method.Kind == ClusterMethodKind.Subscribe && Method.Broadcast;

        public void OnValue<TValue>(TValue value, IMessagePackFormatter<TValue> formatter, MessagePackSerializerOptions options)
        {
            byte[] encoded = WireSerializer.ToBytes(value, formatter, options);
            // Subscribers only queue (a socket send or a local delivery queue), so holding the key's lock while
            // fanning out is short, and it keeps the values of one key in order when the real client emits from several threads.
            lock (DeliveryGate)
            {
                if (Method.Kind == ClusterMethodKind.Subscribe) LastValue = encoded;
                var subscribers = Subscribers;
                if (subscribers.Length == 0) return;
                // Current during the fan-out, so each follower's value carries its context (FollowerSession.SendValue).
                var span = ClusterClientTracing.StartProducer(Method.Name, ClusterClientTracing.LeaderRole, ClusterClientTracing.DeliverOperation);
                if (Method.Broadcast)
                {
                    span?.SetTag("clusterclient.subscribers", subscribers.Length);
                    foreach (var subscriber in subscribers) hub.Deliver(subscriber, encoded);
                }
                else
                {
                    // One of N, round-robin over the subscribers present now (cluster-client picks at random).
                    span?.SetTag("clusterclient.subscribers", 1);
                    _next = (_next + 1) % subscribers.Length;
                    hub.Deliver(subscribers[_next], encoded);
                }
                ClusterClientTracing.Stop(span);
            }
        }

        public void OnCompleted(Exception? error) => hub.Ended(this, error);
    }
}
