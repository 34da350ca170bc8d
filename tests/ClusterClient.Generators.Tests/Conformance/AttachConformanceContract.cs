using System.Collections.Concurrent;
using System.Runtime.CompilerServices;

namespace ClusterSharing.Generators.Tests.Conformance;

// The awaitable subscribe forms and last-value publications, checked on the generated and the dynamic path alike.

[ClusterDelegate(Name = "attach-conformance")]
public interface IAttachConformance
{
    /// <summary>Awaitable listener form by name, with a token.</summary>
    Task SubscribeNews(Query query, Action<Notice> listener, CancellationToken cancellationToken = default);

    void UnsubscribeNews(Query query, Action<Notice>? listener);

    /// <summary>Awaitable listener form by attribute, ValueTask, no token.</summary>
    [Subscribe]
    ValueTask Follow(string topic, Action<int> listener);

    /// <summary>Awaitable stream form by name.</summary>
    Task<IAsyncEnumerable<Notice>> SubscribeFeed(Query query, CancellationToken cancellationToken);

    /// <summary>Awaitable stream form by attribute, ValueTask.</summary>
    [Subscribe]
    ValueTask<IAsyncEnumerable<int>> WatchCounter(int start, CancellationToken cancellationToken);

    /// <summary>Named Subscribe* but not a subscription's shape: stays an ordinary call.</summary>
    Task<int> SubscribeCountAsync(int amount);

    /// <summary>One latest value per member.</summary>
    [Publish(LastValue = true)]
    void PublishState(Notice state);

    /// <summary>One latest value per key (the first argument).</summary>
    [Publish(LastValue = true)]
    void PublishPrice(string symbol, double price);
}

/// <summary>The real client behind <see cref="IAttachConformance"/>: its subscribe members complete when a test says so.</summary>
public sealed class AttachConformanceService : IAttachConformance
{
    private readonly Lock _gate = new();
    private readonly List<(Query Query, Action<Notice> Listener)> _news = [];
    private readonly List<Action<int>> _followers = [];

    /// <summary>What the real news subscribe awaits before it holds the listener; completed by default.</summary>
    public TaskCompletionSource NewsGate { get; set; } = Completed();

    /// <summary>A topic whose Follow throws, as a real client refusing a subscription would.</summary>
    public const string RefusedTopic = "refused";

    public ConcurrentQueue<Notice> States { get; } = new();
    public ConcurrentQueue<(string Symbol, double Price)> Prices { get; } = new();
    public int NewsListeners { get { lock (_gate) return _news.Count; } }
    public int Followers { get { lock (_gate) return _followers.Count; } }
    public int FeedsStarted;

    private static TaskCompletionSource Completed()
    {
        var done = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        done.SetResult();
        return done;
    }

    public async Task SubscribeNews(Query query, Action<Notice> listener, CancellationToken cancellationToken = default)
    {
        await NewsGate.Task.WaitAsync(cancellationToken);
        lock (_gate) _news.Add((query, listener));
    }

    public void UnsubscribeNews(Query query, Action<Notice>? listener)
    {
        lock (_gate) _news.RemoveAll(n => n.Query == query && (listener is null || n.Listener == listener));
    }

    public ValueTask Follow(string topic, Action<int> listener)
    {
        if (topic == RefusedTopic) return ValueTask.FromException(new InvalidOperationException("topic 'refused' is closed"));
        lock (_gate) _followers.Add(listener);
        return ValueTask.CompletedTask;
    }

    public Task<IAsyncEnumerable<Notice>> SubscribeFeed(Query query, CancellationToken cancellationToken)
    {
        Interlocked.Increment(ref FeedsStarted);
        return Task.FromResult(Feed(query, cancellationToken));
    }

    private static async IAsyncEnumerable<Notice> Feed(Query query, [EnumeratorCancellation] CancellationToken cancellationToken)
    {
        for (int i = 1; i <= 3; i++)
        {
            await Task.Yield();
            cancellationToken.ThrowIfCancellationRequested();
            yield return new Notice(query.Topic, i, null);
        }
    }

    public async ValueTask<IAsyncEnumerable<int>> WatchCounter(int start, CancellationToken cancellationToken)
    {
        await Task.Yield();
        return Count(start, cancellationToken);
    }

    private static async IAsyncEnumerable<int> Count(int start, [EnumeratorCancellation] CancellationToken cancellationToken)
    {
        for (int i = start; i < start + 3; i++)
        {
            await Task.Yield();
            cancellationToken.ThrowIfCancellationRequested();
            yield return i;
        }
    }

    public Task<int> SubscribeCountAsync(int amount) => Task.FromResult(amount * 2);

    public void PublishState(Notice state) => States.Enqueue(state);

    public void PublishPrice(string symbol, double price) => Prices.Enqueue((symbol, price));

    public void EmitNews(Query query, Notice notice)
    {
        Action<Notice>[] listeners;
        lock (_gate) listeners = _news.Where(n => n.Query == query).Select(n => n.Listener).ToArray();
        foreach (var listener in listeners) listener(notice);
    }

    public void EmitFollow(int value)
    {
        Action<int>[] listeners;
        lock (_gate) listeners = [.. _followers];
        foreach (var listener in listeners) listener(value);
    }
}
