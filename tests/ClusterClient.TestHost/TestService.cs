using System.Runtime.CompilerServices;

namespace ClusterSharing.TestHost;

/// <summary>
/// The real client. It lives only in the leader process; it reports what it executes on the leader's
/// stdout so a test can tell that a request reached the leader (for example before killing it).
/// </summary>
internal sealed class TestService : ITestService, IDisposable
{
    private readonly Lock _gate = new();
    private readonly Dictionary<string, List<Action<string>>> _listeners = new(StringComparer.Ordinal);
    private readonly Dictionary<string, List<string>> _announcements = new(StringComparer.Ordinal);
    private readonly int _instance;
    private readonly Func<long> _epoch;
    private long _recorded;
    private int _disposed;

    /// <param name="instance">Which factory call built it.</param>
    /// <param name="epoch">The term this process leads right now, read at each call so "executing" names the term that ran it.</param>
    public TestService(int instance, Func<long> epoch)
    {
        _instance = instance;
        _epoch = epoch;
    }

    public Task<string> EchoAsync(string text) => Task.FromResult(text);

    public Task<int> AddAsync(int a, int b) => Task.FromResult(checked(a + b));

    public Task<int> SlowAsync(int delayMs, CancellationToken cancellationToken = default) =>
        DelayThenPidAsync(nameof(SlowAsync), delayMs, cancellationToken);

    public Task<int> SlowIdempotentAsync(int delayMs, CancellationToken cancellationToken = default) =>
        DelayThenPidAsync(nameof(SlowIdempotentAsync), delayMs, cancellationToken);

    public Task FailAsync(string message) => throw new InvalidOperationException(message);

    public void Record(int amount)
    {
        long total = Interlocked.Add(ref _recorded, amount);
        StdoutLines.Event("recorded", w => { w.WriteNumber("amount", amount); w.WriteNumber("total", total); });
    }

    public Task<long> GetRecordedAsync() => Task.FromResult(Interlocked.Read(ref _recorded));

    public Task<long> StampAsync(int sequence) => Task.FromResult(FencedLedger.Record());

    public void Stamp(int sequence) => FencedLedger.Record();

    public Task<int> GetLeaderPidAsync() => Task.FromResult(Environment.ProcessId);

    public Task<string> BigAsync(int length) => Task.FromResult(new string('x', length));

    public void Subscribe(string topic, Action<string> listener)
    {
        string[] current;
        lock (_gate)
        {
            if (!_listeners.TryGetValue(topic, out var list)) _listeners[topic] = list = new List<Action<string>>();
            list.Add(listener);
            current = _announcements.TryGetValue(topic, out var values) ? values.ToArray() : [];
        }
        StdoutLines.Event("real-subscribed", w => w.WriteString("topic", topic));
        // Like a registry client: a new subscriber learns what is already known.
        foreach (var value in current) listener(value);
    }

    public void Unsubscribe(string topic, Action<string>? listener)
    {
        lock (_gate)
        {
            if (!_listeners.TryGetValue(topic, out var list)) return;
            if (listener is null) list.Clear();
            else list.Remove(listener);
        }
        StdoutLines.Event("real-unsubscribed", w => w.WriteString("topic", topic));
    }

    public void Publish(Announcement announcement)
    {
        Action<string>[] targets;
        lock (_gate)
        {
            if (!_announcements.TryGetValue(announcement.Topic, out var values))
                _announcements[announcement.Topic] = values = new List<string>();
            values.Add(announcement.Value);
            targets = _listeners.TryGetValue(announcement.Topic, out var list) ? list.ToArray() : [];
            // Under the lock: the lines are in the order the real client received the publications.
            StdoutLines.Event("real-published", w => { w.WriteString("topic", announcement.Topic); w.WriteString("value", announcement.Value); });
        }
        foreach (var listener in targets) listener(announcement.Value);
    }

    // Work-queue listeners live under "work:QUEUE", so "burst work:QUEUE N P" feeds them.
    public void SubscribeWork(string queue, Action<string> listener) => Subscribe("work:" + queue, listener);

    public void UnsubscribeWork(string queue, Action<string>? listener) => Unsubscribe("work:" + queue, listener);

    public Task BurstAsync(string topic, int count, string prefix)
    {
        Action<string>[] targets;
        lock (_gate) targets = _listeners.TryGetValue(topic, out var list) ? list.ToArray() : [];
        StdoutLines.Event("real-burst", w => { w.WriteString("topic", topic); w.WriteNumber("count", count); w.WriteNumber("listeners", targets.Length); });
        for (int i = 0; i < count; i++)
        {
            string value = prefix + "-" + i.ToString(System.Globalization.CultureInfo.InvariantCulture);
            foreach (var listener in targets) listener(value);
        }
        return Task.CompletedTask;
    }

    public async Task SubscribeAwaited(string topic, Action<string> listener, CancellationToken cancellationToken = default)
    {
        if (topic.StartsWith("refuse", StringComparison.Ordinal)) throw new InvalidOperationException($"topic '{topic}' refuses subscribers");
        if (topic.StartsWith("slow", StringComparison.Ordinal)) await Task.Delay(1000, cancellationToken).ConfigureAwait(false);
        lock (_gate)
        {
            if (!_listeners.TryGetValue(topic, out var list)) _listeners[topic] = list = new List<Action<string>>();
            list.Add(listener);
        }
        // When the real client holds the listener, on the machine-wide clock: the follower's awaited subscribe may complete only after this.
        StdoutLines.Event("real-attached", w => { w.WriteString("topic", topic); w.WriteNumber("atMs", MonotonicClock.Milliseconds()); });
    }

    public void UnsubscribeAwaited(string topic, Action<string>? listener) => Unsubscribe(topic, listener);

    public void PublishLatest(string key, string value)
    {
        // Under the lock: the lines are in the order the real client received the publications.
        lock (_gate) StdoutLines.Event("real-published-latest", w => { w.WriteString("key", key); w.WriteString("value", value); });
    }

    public event EventHandler<string>? Notice;

    public Task RaiseNoticeAsync(string text)
    {
        StdoutLines.Event("real-raised", w => w.WriteString("text", text));
        Notice?.Invoke(this, text);
        return Task.CompletedTask;
    }

    public async IAsyncEnumerable<int> SubscribeCounter(string name, [EnumeratorCancellation] CancellationToken cancellationToken = default)
    {
        StdoutLines.Event("real-stream-started", w => w.WriteString("name", name));
        try
        {
            for (int i = 1; i < int.MaxValue; i++)
            {
                yield return i;
                await Task.Delay(50, cancellationToken).ConfigureAwait(false);
            }
        }
        finally
        {
            StdoutLines.Event("real-stream-stopped", w => w.WriteString("name", name));
        }
    }

    public void Dispose()
    {
        if (Interlocked.Exchange(ref _disposed, 1) == 0)
            StdoutLines.Event("real-client-disposed", w => w.WriteNumber("instance", _instance));
    }

    private async Task<int> DelayThenPidAsync(string method, int delayMs, CancellationToken cancellationToken)
    {
        long epoch = _epoch();
        StdoutLines.Event("executing", w => { w.WriteString("method", method); w.WriteNumber("delayMs", delayMs); w.WriteNumber("epoch", epoch); });
        try
        {
            await Task.Delay(delayMs, cancellationToken).ConfigureAwait(false);
        }
        catch (OperationCanceledException)
        {
            StdoutLines.Event("real-call-cancelled", w => w.WriteString("method", method));
            throw;
        }
        return Environment.ProcessId;
    }
}
