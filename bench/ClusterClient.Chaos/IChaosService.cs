namespace ClusterSharing.Chaos;

/// <summary>The contract every chaos worker shares: who answered (the leader's pid), and a versioned state topic.</summary>
[ClusterDelegate]
public partial interface IChaosService
{
    /// <summary>The pid of the process holding the real client; a plain call, failed with LeaderLostException when in flight at a kill.</summary>
    Task<int> GetLeaderPidAsync();

    /// <summary>The same answer, marked safe to retry on the next leader.</summary>
    [Idempotent]
    Task<int> GetLeaderPidIdempotentAsync();

    /// <summary>Listens to a topic's current sequence number; the real client replays the current one at once.</summary>
    void Subscribe(string topic, Action<long> listener);

    /// <summary>Stops listening.</summary>
    void Unsubscribe(string topic, Action<long>? listener);

    /// <summary>Announces a sequence number for a topic; the highest one seen is the topic's current value.</summary>
    [Publish]
    void Publish(StateValue value);
}

/// <summary>A publication: the topic's value is the highest <paramref name="Sequence"/> published.</summary>
public sealed record StateValue(string Topic, long Sequence);

/// <summary>
/// The real client, living only in the leader. Last-value semantics keyed by a sequence number, so re-publications
/// after a failover (in any order) converge on the newest value, as a versioned registry or configuration would.
/// </summary>
/// <remarks>
/// Topics named <see cref="OrderTopicPrefix"/> + a worker's pid carry that worker's ordered publication stream: each
/// arrival is checked against the previous one of the same stream (<paramref name="onOrdered"/>), for the chaos report's
/// publication-order inversions.
/// </remarks>
internal sealed class ChaosService(Action<OrderedArrival>? onOrdered = null) : IChaosService
{
    /// <summary>Topic prefix of the per-worker ordered publication streams.</summary>
    public const string OrderTopicPrefix = "order-";

    private readonly Lock _gate = new();
    private readonly Dictionary<string, long> _current = new(StringComparer.Ordinal);
    private readonly Dictionary<string, long> _lastOrdered = new(StringComparer.Ordinal);
    private readonly Dictionary<string, List<Action<long>>> _listeners = new(StringComparer.Ordinal);

    public Task<int> GetLeaderPidAsync() => Task.FromResult(Environment.ProcessId);

    public Task<int> GetLeaderPidIdempotentAsync() => Task.FromResult(Environment.ProcessId);

    // Listeners are called under the lock: a replayed value and a concurrent newer publication must reach the
    // listener (and the leader's last-value cache behind it) in order, or a late subscriber would be given the older one.
    public void Subscribe(string topic, Action<long> listener)
    {
        lock (_gate)
        {
            if (!_listeners.TryGetValue(topic, out var list)) _listeners[topic] = list = new List<Action<long>>();
            list.Add(listener);
            long current = _current.GetValueOrDefault(topic);
            if (current > 0) listener(current);
        }
    }

    public void Unsubscribe(string topic, Action<long>? listener)
    {
        lock (_gate)
        {
            if (!_listeners.TryGetValue(topic, out var list)) return;
            if (listener is null) list.Clear();
            else list.Remove(listener);
            if (list.Count == 0) _listeners.Remove(topic);
        }
    }

    public void Publish(StateValue value)
    {
        if (value.Topic.StartsWith(OrderTopicPrefix, StringComparison.Ordinal))
        {
            OrderedArrival arrival;
            lock (_gate)
            {
                long previous = _lastOrdered.GetValueOrDefault(value.Topic, -1);
                _lastOrdered[value.Topic] = value.Sequence;
                arrival = new OrderedArrival(value.Topic, value.Sequence, previous);
            }
            onOrdered?.Invoke(arrival);
            return;
        }
        lock (_gate)
        {
            if (value.Sequence <= _current.GetValueOrDefault(value.Topic)) return;
            _current[value.Topic] = value.Sequence;
            if (!_listeners.TryGetValue(value.Topic, out var list)) return;
            foreach (var listener in list.ToArray()) listener(value.Sequence);
        }
    }
}

/// <summary>One publication of an ordered stream reached the real client, after <paramref name="Previous"/> (-1: the first).</summary>
internal readonly record struct OrderedArrival(string Topic, long Sequence, long Previous)
{
    /// <summary>Older than the one before it: the stream reached the real client out of order.</summary>
    public bool IsInversion => Sequence < Previous;

    /// <summary>The same publication twice in a row.</summary>
    public bool IsRepeat => Sequence == Previous;
}
