namespace ClusterSharing.Harness;

/// <summary>The contract every harness worker shares: one primitive invoke and a subscribe/publish pair.</summary>
[ClusterDelegate]
public partial interface IEchoClient
{
    Task<long> EchoAsync(long value);

    void Subscribe(string topic, Action<Tick> listener);

    void Unsubscribe(string topic, Action<Tick>? listener);

    [Publish]
    void Publish(Tick tick);
}

/// <summary>A publication; <see cref="Timestamp"/> is the publisher's <c>Stopwatch</c> (CLOCK_MONOTONIC) time in ns.</summary>
public readonly record struct Tick(string Topic, long Sequence, long Timestamp);

/// <summary>The real client: echoes, and hands every publication to the topic's listeners.</summary>
internal sealed class EchoClient : IEchoClient
{
    private readonly Lock _gate = new();
    private readonly Dictionary<string, Action<Tick>[]> _listeners = new(StringComparer.Ordinal);

    public Task<long> EchoAsync(long value) => Task.FromResult(value);

    public void Subscribe(string topic, Action<Tick> listener)
    {
        lock (_gate) _listeners[topic] = [.. _listeners.GetValueOrDefault(topic) ?? [], listener];
    }

    public void Unsubscribe(string topic, Action<Tick>? listener)
    {
        lock (_gate)
        {
            if (listener is null || !_listeners.TryGetValue(topic, out var list)) _listeners.Remove(topic);
            else _listeners[topic] = Array.FindAll(list, l => l != listener);
        }
    }

    public void Publish(Tick tick)
    {
        Action<Tick>[]? targets;
        lock (_gate) targets = _listeners.GetValueOrDefault(tick.Topic);
        if (targets is null) return;
        foreach (var listener in targets) listener(tick);
    }
}
