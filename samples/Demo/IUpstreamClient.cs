namespace ClusterSharing.Demo;

/// <summary>
/// The client every worker wants: in real life a connection to a registry, a broker or a rate-limited API.
/// With ClusterClient only the leader process holds a real one; the other workers share it.
/// </summary>
[ClusterDelegate]
public partial interface IUpstreamClient
{
    /// <summary>A request/response call answered by the real client.</summary>
    Task<UpstreamAnswer> QueryAsync(string question, CancellationToken cancellationToken = default);

    /// <summary>Cheap and safe to repeat, so it is retried on a new leader if the old one dies mid-call.</summary>
    [Idempotent]
    Task<int> PingAsync();

    /// <summary>Quotes for <paramref name="symbol"/>, pushed by the real client; one upstream subscription serves every worker.</summary>
    void Subscribe(string symbol, Action<Quote> listener);

    /// <summary>Stops <paramref name="listener"/> (or every listener of this worker when null).</summary>
    void Unsubscribe(string symbol, Action<Quote>? listener);

    /// <summary>How many upstream subscriptions the real client holds.</summary>
    Task<int> GetUpstreamSubscriptionCountAsync();
}

/// <summary>Who answered: the leader's pid and the id of its one real connection.</summary>
public sealed record UpstreamAnswer(int LeaderPid, string ConnectionId, string Text);

/// <summary>One pushed value; <see cref="LeaderPid"/> shows which leader's real client produced it.</summary>
public sealed record Quote(string Symbol, double Price, long Sequence, int LeaderPid);

/// <summary>The real client; constructed only in the leader. It "streams" quotes from a timer per symbol.</summary>
internal sealed class UpstreamClient : IUpstreamClient, IDisposable
{
    private readonly string _connectionId = Guid.NewGuid().ToString("N")[..8];
    private readonly Lock _gate = new();
    private readonly Dictionary<string, Feed> _feeds = new(StringComparer.Ordinal);

    public Task<UpstreamAnswer> QueryAsync(string question, CancellationToken cancellationToken = default) =>
        Task.FromResult(new UpstreamAnswer(Environment.ProcessId, _connectionId, $"answer to '{question}'"));

    public Task<int> PingAsync() => Task.FromResult(Environment.ProcessId);

    public void Subscribe(string symbol, Action<Quote> listener)
    {
        lock (_gate)
        {
            if (!_feeds.TryGetValue(symbol, out var feed)) _feeds[symbol] = feed = new Feed(symbol);
            feed.Add(listener);
        }
    }

    public void Unsubscribe(string symbol, Action<Quote>? listener)
    {
        lock (_gate)
        {
            if (_feeds.TryGetValue(symbol, out var feed) && feed.Remove(listener))
            {
                feed.Dispose();
                _feeds.Remove(symbol);
            }
        }
    }

    public Task<int> GetUpstreamSubscriptionCountAsync()
    {
        lock (_gate) return Task.FromResult(_feeds.Count);
    }

    public void Dispose()
    {
        lock (_gate)
        {
            foreach (var feed in _feeds.Values) feed.Dispose();
            _feeds.Clear();
        }
    }

    /// <summary>One upstream subscription: a timer producing a random walk every 100 ms.</summary>
    private sealed class Feed : IDisposable
    {
        private readonly List<Action<Quote>> _listeners = new();
        private readonly Timer _timer;
        private readonly string _symbol;
        private double _price = 1.0850;
        private long _sequence;

        public Feed(string symbol)
        {
            _symbol = symbol;
            _timer = new Timer(_ => Tick(), null, TimeSpan.FromMilliseconds(100), TimeSpan.FromMilliseconds(100));
        }

        public void Add(Action<Quote> listener)
        {
            lock (_listeners) _listeners.Add(listener);
        }

        /// <returns>True when no listener is left.</returns>
        public bool Remove(Action<Quote>? listener)
        {
            lock (_listeners)
            {
                if (listener is null) _listeners.Clear();
                else _listeners.Remove(listener);
                return _listeners.Count == 0;
            }
        }

        private void Tick()
        {
            Action<Quote>[] targets;
            Quote quote;
            lock (_listeners)
            {
                _price = Math.Round(_price + (Random.Shared.NextDouble() - 0.5) * 0.001, 5);
                quote = new Quote(_symbol, _price, ++_sequence, Environment.ProcessId);
                targets = _listeners.ToArray();
            }
            foreach (var listener in targets) listener(quote);
        }

        public void Dispose() => _timer.Dispose();
    }
}
