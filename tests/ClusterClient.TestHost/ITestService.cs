namespace ClusterSharing.TestHost;

/// <summary>
/// The contract every TestHost process shares. Each member exists to drive one behaviour of the
/// multi-process tests: plain invokes, cancellation, idempotent retry, remote exceptions, oneways,
/// "who answered" (the leader's pid) and a subscription/publication pair.
/// </summary>
[ClusterDelegate]
public partial interface ITestService
{
    Task<string> EchoAsync(string text);

    Task<int> AddAsync(int a, int b);

    /// <summary>Waits <paramref name="delayMs"/> on the leader (honouring cancellation) and returns the leader's pid.</summary>
    Task<int> SlowAsync(int delayMs, CancellationToken cancellationToken = default);

    /// <summary>Like <see cref="SlowAsync"/>, but safe to retry on a new leader.</summary>
    [Idempotent]
    Task<int> SlowIdempotentAsync(int delayMs, CancellationToken cancellationToken = default);

    /// <summary>Throws <see cref="InvalidOperationException"/> with <paramref name="message"/> on the leader.</summary>
    Task FailAsync(string message);

    /// <summary>Adds <paramref name="amount"/> to the leader's counter; no reply.</summary>
    [Oneway]
    void Record(int amount);

    Task<long> GetRecordedAsync();

    Task<int> GetLeaderPidAsync();

    void Subscribe(string topic, Action<string> listener);

    void Unsubscribe(string topic, Action<string>? listener);

    [Publish]
    void Publish(Announcement announcement);

    /// <summary>A work queue: each value goes to ONE subscribed process (round-robin), not to all.</summary>
    [Subscribe(Broadcast = false)]
    void SubscribeWork(string queue, Action<string> listener);

    void UnsubscribeWork(string queue, Action<string>? listener);

    /// <summary>Makes the real client emit "PREFIX-0" .. "PREFIX-(count-1)" to the topic's listeners as fast as it can (not remembered).</summary>
    Task BurstAsync(string topic, int count, string prefix);

    /// <summary>Raised by the real client; handlers in every process receive it.</summary>
    event EventHandler<string> Notice;

    /// <summary>Makes the real client raise <see cref="Notice"/>.</summary>
    Task RaiseNoticeAsync(string text);

    /// <summary>A non-idempotent call the real client counts by fencing token (<c>FencedLedger</c>); returns the token.</summary>
    Task<long> StampAsync(int sequence);

    /// <summary>The oneway form of <see cref="StampAsync"/>.</summary>
    [Oneway]
    void Stamp(int sequence);

    /// <summary>An async-stream subscription: 1, 2, 3, ... every 50 ms until the subscriber stops.</summary>
    IAsyncEnumerable<int> SubscribeCounter(string name, CancellationToken cancellationToken = default);

    /// <summary>Returns a string of <paramref name="length"/> characters (a result as large as asked).</summary>
    Task<string> BigAsync(int length);

    /// <summary>
    /// An awaitable subscription: completes once the real client holds the listener. The real subscribe takes 1 s for
    /// topics starting with "slow" (a client that attaches over the network) and throws for topics starting with "refuse".
    /// Values come from <see cref="BurstAsync"/> like those of <see cref="Subscribe"/>.
    /// </summary>
    Task SubscribeAwaited(string topic, Action<string> listener, CancellationToken cancellationToken = default);

    void UnsubscribeAwaited(string topic, Action<string>? listener);

    /// <summary>A last-value publication: after a failover only the latest value per key reaches the new real client.</summary>
    [Publish(LastValue = true)]
    void PublishLatest(string key, string value);
}

/// <summary>A publication: the real client remembers it and tells the topic's subscribers.</summary>
public sealed record Announcement(string Topic, string Value);
