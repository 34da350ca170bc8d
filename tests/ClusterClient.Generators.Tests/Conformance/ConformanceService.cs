using System.Collections.Concurrent;
using System.Runtime.CompilerServices;
using System.Threading.Channels;

namespace ClusterSharing.Generators.Tests.Conformance;

/// <summary>The real client behind <see cref="IConformance"/>: echoes values, records what reached it and lets tests push values.</summary>
public sealed class ConformanceService : IConformance
{
    private readonly Lock _gate = new();
    private readonly List<(Query Query, Action<Notice> Listener)> _listeners = [];
    private readonly List<(string Queue, Action<int> Listener)> _workers = [];
    private readonly List<Channel<Notice>> _streams = [];
    private EventHandler<Notice>? _changed;
    private EventHandler<string>? _renamed;
    private int _pings;

    public int Pings => Volatile.Read(ref _pings);
    public ConcurrentQueue<string> Calls { get; } = new();
    public ConcurrentQueue<string> Recorded { get; } = new();
    public ConcurrentQueue<Notice> Published { get; } = new();
    public ConcurrentQueue<string> Announced { get; } = new();
    public bool Closed { get; private set; }
    public bool LastTokenCouldCancel { get; private set; }
    public TaskCompletionSource WaitStarted { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

    public int ListenerCount { get { lock (_gate) return _listeners.Count; } }
    public int WorkerCount { get { lock (_gate) return _workers.Count; } }
    public int StreamCount { get { lock (_gate) return _streams.Count; } }
    public int ChangedHandlerCount => _changed?.GetInvocationList().Length ?? 0;
    public int RenamedHandlerCount => _renamed?.GetInvocationList().Length ?? 0;

    public Task PingAsync()
    {
        Interlocked.Increment(ref _pings);
        return Task.CompletedTask;
    }

    public Task<int> AddAsync(int a, int b)
    {
        Calls.Enqueue("AddAsync(int,int)");
        return Task.FromResult(a + b);
    }

    public Task<long> AddAsync(long a, long b)
    {
        Calls.Enqueue("AddAsync(long,long)");
        return Task.FromResult(a + b);
    }

    public async Task<string?> EchoAsync(string? text, CancellationToken cancellationToken = default)
    {
        LastTokenCouldCancel = cancellationToken.CanBeCanceled;
        await Task.Yield();
        return text;
    }

    public ValueTask<Primitives> EchoPrimitivesAsync(Primitives value) => ValueTask.FromResult(value);

    public async ValueTask ResetAsync(CancellationToken cancellationToken)
    {
        LastTokenCouldCancel = cancellationToken.CanBeCanceled;
        await Task.Yield();
        Calls.Enqueue("ResetAsync");
    }

    public Task<Temporal> EchoTemporalAsync(Temporal value) => Task.FromResult(value);

    public Task<byte[]?> EchoBytesAsync(byte[]? data) => Task.FromResult(data);

    public Task<EnumBag> EchoEnumsAsync(Color color, Permissions permissions, Extreme extreme, Wide wide) =>
        Task.FromResult(new EnumBag(color, permissions, extreme, wide));

    public Task<Optionals> EchoOptionalsAsync(int? number, Guid? id, DateTime? when, Color? color, Point? where) =>
        Task.FromResult(new Optionals(number, id, when, color, where));

    public Task<Order> EchoOrderAsync(Order order) => Task.FromResult(order);

    public Task<PriorityOrder> EchoPriorityOrderAsync(PriorityOrder order) => Task.FromResult(order);

    public Task<Settings?> EchoSettingsAsync(Settings? settings) => Task.FromResult(settings);

    public Task<Account> EchoAccountAsync(Account account) => Task.FromResult(account);

    public ValueTask<Point> EchoPointAsync(Point point) => ValueTask.FromResult(point);

    public ValueTask<Size> EchoSizeAsync(Size size) => ValueTask.FromResult(size);

    public Task<LinkedNode?> EchoChainAsync(LinkedNode? head) => Task.FromResult(head);

    public Task<TreeNode> EchoTreeAsync(TreeNode root) => Task.FromResult(root);

    public Task<Outer.Inner> EchoInnerAsync(Outer.Inner inner) => Task.FromResult(inner);

    public Task<int[]> ReverseAsync(int[] values) => Task.FromResult(values.Reverse().ToArray());

    public Task<List<string?>> SortAsync(List<string?> values) => Task.FromResult(values.Order(StringComparer.Ordinal).ToList());

    public Task<IReadOnlyList<Line>> EchoLinesAsync(IReadOnlyList<Line> lines) => Task.FromResult(lines);

    public Task<Dictionary<string, int>> EchoCountsAsync(Dictionary<string, int> counts) => Task.FromResult(counts);

    public Task<IReadOnlyDictionary<int, string?>> EchoNamesAsync(IReadOnlyDictionary<int, string?> names) => Task.FromResult(names);

    public async Task WaitForCancellationAsync(CancellationToken cancellationToken)
    {
        LastTokenCouldCancel = cancellationToken.CanBeCanceled;
        WaitStarted.TrySetResult();
        await Task.Delay(Timeout.Infinite, cancellationToken);
    }

    public async Task FailAsync(string message)
    {
        await Task.Yield();
        throw new InvalidOperationException(message);
    }

    public Task<int> FailSynchronouslyAsync(string code)
    {
        var error = new ArgumentException("Bad argument on the leader.", nameof(code));
        error.Data["Code"] = code;
        throw error;
    }

    public Task<int> GetVersionAsync() => Task.FromResult(42);

    public void Record(string entry) => Recorded.Enqueue(entry);

    public void Log(int level, string message)
    {
        if (level < 0) throw new ArgumentOutOfRangeException(nameof(level), level, "Log levels are not negative.");
        Recorded.Enqueue($"{level}:{message}");
    }

    public void Subscribe(Query query, Action<Notice> listener)
    {
        lock (_gate) _listeners.Add((query, listener));
    }

    public void Unsubscribe(Query query, Action<Notice>? listener)
    {
        lock (_gate) _listeners.RemoveAll(l => l.Query == query && (listener is null || l.Listener == listener));
    }

    public void SubscribeWork(string queue, Action<int> listener)
    {
        lock (_gate) _workers.Add((queue, listener));
    }

    public void UnsubscribeWork(string queue, Action<int>? listener)
    {
        lock (_gate) _workers.RemoveAll(w => w.Queue == queue && (listener is null || w.Listener == listener));
    }

    public async IAsyncEnumerable<Notice> WatchAsync(Query query, [EnumeratorCancellation] CancellationToken cancellationToken)
    {
        var channel = Channel.CreateUnbounded<Notice>();
        lock (_gate) _streams.Add(channel);
        try
        {
            await foreach (var notice in channel.Reader.ReadAllAsync(cancellationToken))
            {
                if (notice.Topic == query.Topic) yield return notice;
            }
        }
        finally
        {
            lock (_gate) _streams.Remove(channel);
        }
    }

    public async IAsyncEnumerable<int> SubscribeCounter(int start, [EnumeratorCancellation] CancellationToken cancellationToken)
    {
        for (int i = start; i < start + 3; i++)
        {
            await Task.Yield();
            cancellationToken.ThrowIfCancellationRequested();
            yield return i;
        }
    }

    public void Publish(Notice notice) => Published.Enqueue(notice);

    public void Announce(string message) => Announced.Enqueue(message);

    public Task ShutdownAsync()
    {
        Closed = true;
        return Task.CompletedTask;
    }

    public bool ClosedWithToken { get; private set; }

    public ValueTask CloseAsync(CancellationToken cancellationToken)
    {
        ClosedWithToken = true;
        return ValueTask.CompletedTask;
    }

    public bool Disconnected { get; private set; }

    public void Disconnect() => Disconnected = true;

    public void Touch(string key, CancellationToken cancellationToken) => Recorded.Enqueue("touch:" + key);

    public async IAsyncEnumerable<int> SubscribeTicks(int count)
    {
        for (int i = 0; i < count; i++)
        {
            await Task.Yield();
            yield return i;
        }
    }

    public event EventHandler<Notice>? Changed
    {
        add { lock (_gate) _changed += value; }
        remove { lock (_gate) _changed -= value; }
    }

    public event EventHandler<string>? Renamed
    {
        add { lock (_gate) _renamed += value; }
        remove { lock (_gate) _renamed -= value; }
    }

    /// <summary>Pushes <paramref name="notice"/> to every listener subscribed for <paramref name="query"/>.</summary>
    public void Emit(Query query, Notice notice)
    {
        Action<Notice>[] listeners;
        lock (_gate) listeners = _listeners.Where(l => l.Query == query).Select(l => l.Listener).ToArray();
        foreach (var listener in listeners) listener(notice);
    }

    public void EmitWork(string queue, int item)
    {
        Action<int>[] listeners;
        lock (_gate) listeners = _workers.Where(w => w.Queue == queue).Select(w => w.Listener).ToArray();
        foreach (var listener in listeners) listener(item);
    }

    public void PushToStreams(Notice notice)
    {
        Channel<Notice>[] streams;
        lock (_gate) streams = _streams.ToArray();
        foreach (var stream in streams) stream.Writer.TryWrite(notice);
    }

    public void FailStreams(Exception error)
    {
        Channel<Notice>[] streams;
        lock (_gate) streams = _streams.ToArray();
        foreach (var stream in streams) stream.Writer.TryComplete(error);
    }

    public void RaiseChanged(Notice notice) => _changed?.Invoke(this, notice);

    public void RaiseRenamed(string name) => _renamed?.Invoke(this, name);
}
