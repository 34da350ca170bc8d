using System.Buffers;
using ClusterSharing.Protocol;
using ClusterSharing.Proxies;
using ClusterSharing.Serialization;
using Microsoft.Extensions.Logging;

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
}

/// <summary>A leader channel that hosts subscriptions.</summary>
internal interface ISubscriptionHost
{
    SubscriptionHub Hub { get; }
}

/// <summary>
/// The leader's subscriptions of one channel: the real client is subscribed once per (method, registration bytes)
/// and every value is encoded once and fanned out to the subscribers of that key; the last value is replayed to a
/// late subscriber. Subscriptions made before the real client exists start when it does.
/// </summary>
internal sealed class SubscriptionHub
{
    private readonly object _gate = new();
    private readonly Dictionary<Key, Entry> _entries = new();
    private readonly string _channel;
    private readonly Func<uint, ClusterMethod?> _findMethod;
    private readonly Func<ClusterMethod, byte[], ISubscriptionSink, object?> _subscribe;
    private readonly Action<ClusterMethod, byte[], object> _unsubscribe;
    private readonly ILogger _logger;
    private bool _active;

    public SubscriptionHub(string channel, Func<uint, ClusterMethod?> findMethod, Func<ClusterMethod, byte[], ISubscriptionSink, object?> subscribe,
        Action<ClusterMethod, byte[], object> unsubscribe, ILogger logger)
    {
        _channel = channel;
        _findMethod = findMethod;
        _subscribe = subscribe;
        _unsubscribe = unsubscribe;
        _logger = logger;
    }

    /// <summary>Number of distinct real subscriptions (tests).</summary>
    internal int Count
    {
        get { lock (_gate) return _entries.Count; }
    }

    /// <summary>Subscribers across all registrations of <paramref name="methodId"/> (tests).</summary>
    internal int SubscriberCount(uint methodId)
    {
        lock (_gate) return _entries.Where(e => e.Key.MethodId == methodId).Sum(e => e.Value.Subscribers.Length);
    }

    public void Add(uint methodId, byte[] registration, ISubscriber subscriber)
    {
        var method = _findMethod(methodId);
        if (method is null || method.Kind is not (ClusterMethodKind.Subscribe or ClusterMethodKind.Event))
        {
            subscriber.Complete(new ClusterClientException($"Channel '{_channel}' has no subscription member with id 0x{methodId:x8}; deploy the same contract version to every process."));
            return;
        }
        Entry entry;
        byte[]? last;
        bool start;
        lock (_gate)
        {
            var key = new Key(methodId, registration);
            if (!_entries.TryGetValue(key, out entry!))
            {
                entry = new Entry(this, method, registration);
                _entries.Add(key, entry);
            }
            // A follower may send the same subscription twice (its re-subscribe after attaching races a new
            // Subscribe call); one delivery per (owner, id) is what it expects.
            if (Array.Exists(entry.Subscribers, s => s.Owner == subscriber.Owner && s.SubscriptionId == subscriber.SubscriptionId)) return;
            entry.Subscribers = [.. entry.Subscribers, subscriber];
            last = entry.LastValue;
            start = _active && entry.Token is null && !entry.Starting;
            if (start) entry.Starting = true;
        }
        if (last is not null) subscriber.Deliver(last);
        if (start) Start(entry);
    }

    public void Remove(uint methodId, byte[] registration, object? owner, long subscriptionId)
    {
        Entry? stop = null;
        lock (_gate)
        {
            var key = new Key(methodId, registration);
            if (!_entries.TryGetValue(key, out var entry)) return;
            entry.Subscribers = Array.FindAll(entry.Subscribers, s => !(s.Owner == owner && s.SubscriptionId == subscriptionId));
            if (entry.Subscribers.Length == 0)
            {
                _entries.Remove(key);
                stop = entry;
            }
        }
        if (stop is not null) Stop(stop);
    }

    /// <summary>A follower left: drop all of its subscriptions.</summary>
    public void RemoveAll(object owner)
    {
        List<Entry> stop = new();
        lock (_gate)
        {
            foreach (var (key, entry) in _entries.ToArray())
            {
                entry.Subscribers = Array.FindAll(entry.Subscribers, s => s.Owner != owner);
                if (entry.Subscribers.Length == 0)
                {
                    _entries.Remove(key);
                    stop.Add(entry);
                }
            }
        }
        foreach (var entry in stop) Stop(entry);
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
        List<Entry> stop = new();
        lock (_gate)
        {
            _active = false;
            stop.AddRange(_entries.Values);
        }
        foreach (var entry in stop) Stop(entry);
    }

    private void Start(Entry entry)
    {
        try
        {
            var token = _subscribe(entry.Method, entry.Registration, entry);
            lock (_gate)
            {
                entry.Starting = false;
                if (!_entries.ContainsValue(entry) || !_active)
                {
                    if (token is not null) _unsubscribe(entry.Method, entry.Registration, token);
                    return;
                }
                entry.Token = token;
            }
        }
        catch (Exception ex)
        {
            LeaderLog.SubscriptionFailed(_logger, _channel, ex);
            lock (_gate)
            {
                entry.Starting = false;
                _entries.Remove(new Key(entry.Method.Id, entry.Registration));
            }
            foreach (var subscriber in entry.Subscribers) subscriber.Complete(ex);
        }
    }

    private void Stop(Entry entry)
    {
        object? token;
        lock (_gate)
        {
            token = entry.Token;
            entry.Token = null;
        }
        if (token is null) return;
        try
        {
            _unsubscribe(entry.Method, entry.Registration, token);
        }
        catch (Exception ex)
        {
            LeaderLog.SubscriptionFailed(_logger, _channel, ex);
        }
    }

    private void Ended(Entry entry, Exception? error)
    {
        lock (_gate)
        {
            var key = new Key(entry.Method.Id, entry.Registration);
            if (_entries.TryGetValue(key, out var current) && current == entry) _entries.Remove(key);
            entry.Token = null;
        }
        foreach (var subscriber in entry.Subscribers) subscriber.Complete(error);
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
        public ClusterMethod Method { get; } = method;

        public byte[] Registration { get; } = registration;

        public ISubscriber[] Subscribers { get; set; } = [];

        public object? Token { get; set; }

        public bool Starting { get; set; }

        public byte[]? LastValue { get; private set; }

        public void OnValue<TValue>(TValue value, IMessagePackFormatter<TValue> formatter)
        {
            var buffer = new ArrayBufferWriter<byte>(64);
            var writer = new MessagePackWriter(buffer);
            formatter.Serialize(ref writer, value);
            writer.Flush();
            byte[] encoded = buffer.WrittenSpan.ToArray();
            LastValue = encoded;
            foreach (var subscriber in Subscribers)
            {
                try
                {
                    subscriber.Deliver(encoded);
                }
                catch (Exception ex)
                {
                    LeaderLog.SubscriptionFailed(hub._logger, hub._channel, ex);
                }
            }
        }

        public void OnCompleted(Exception? error) => hub.Ended(this, error);
    }
}

/// <summary>A follower's subscription: values go to its connection as SubscribeResult frames.</summary>
internal sealed class RemoteSubscriber(FollowerSession session, int channelId, uint methodId, long subscriptionId) : ISubscriber
{
    public object? Owner => session;

    public long SubscriptionId => subscriptionId;

    public void Deliver(ReadOnlySpan<byte> value) => session.SendValue(channelId, methodId, subscriptionId, SubscriptionEventKind.Value, value);

    public void Complete(Exception? error)
    {
        if (error is null)
        {
            ReadOnlySpan<byte> nil = [MessagePackCode.Nil];
            session.SendValue(channelId, methodId, subscriptionId, SubscriptionEventKind.Completed, nil);
            return;
        }
        var buffer = new ArrayBufferWriter<byte>(128);
        var writer = new MessagePackWriter(buffer);
        RemoteError.Instance.Serialize(ref writer, error);
        writer.Flush();
        session.SendValue(channelId, methodId, subscriptionId, SubscriptionEventKind.Faulted, buffer.WrittenSpan);
    }
}
