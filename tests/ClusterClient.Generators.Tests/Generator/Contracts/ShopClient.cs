using System.Collections.Concurrent;
using System.Runtime.CompilerServices;

namespace ClusterSharing.Generators.Tests.Generator.Contracts;

/// <summary>The real client behind <see cref="IShopClient"/>: records what reached it.</summary>
public sealed class ShopClient : IShopClient
{
    public ConcurrentQueue<string> Calls { get; } = new();
    public CancellationToken LastToken { get; private set; }
    public Action<string[]>? Listener { get; private set; }
    public Action<string[]>? RemovedListener { get; private set; }
    public ServiceQuery? LastQuery { get; private set; }
    public bool Disposed { get; private set; }
    public TaskCompletionSource StreamCanceled { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);
    public bool HasShippedHandlers => OrderShipped is not null;

    public event EventHandler<Order>? OrderShipped;

    public void RaiseShipped(Order order) => OrderShipped?.Invoke(this, order);

    public static Order SampleOrder(int id) => new()
    {
        Id = id,
        Customer = new Customer("Ada", new Address("1 Loop Road", null), ["vip", "early"]),
        Lines = [new OrderLine { Sku = "A-1", Quantity = 2 }, new OrderLine { Sku = "B-2", Quantity = 1 }],
        State = OrderState.Shipped,
        CreatedAt = new DateTime(2024, 5, 6, 7, 8, 9, DateTimeKind.Utc).AddTicks(1234),
        ShippedAt = new DateTimeOffset(2024, 5, 7, 10, 0, 0, TimeSpan.FromHours(2)),
        Counters = new() { ["views"] = 3, ["edits"] = -1 },
        Token = Guid.Parse("00112233-4455-6677-8899-aabbccddeeff"),
        Age = TimeSpan.FromMilliseconds(1500),
        Blob = [1, 2, 255],
    };

    public Task<int> AddAsync(int a, int b, CancellationToken cancellationToken = default)
    {
        LastToken = cancellationToken;
        return Task.FromResult(a + b);
    }

    public Task<int> AddAsync(int a, int b, int c) => Task.FromResult(a + b + c);

    public Task<Order?> GetOrderAsync(int id) => id switch
    {
        < 0 => throw new InvalidOperationException($"Order {id} is invalid."),
        0 => Task.FromResult<Order?>(null),
        _ => Task.FromResult<Order?>(SampleOrder(id)),
    };

    public async ValueTask<Order[]> ListOrdersAsync(OrderState? state, IReadOnlyDictionary<string, List<int>> filter)
    {
        await Task.Yield();
        var ids = filter.TryGetValue("ids", out var list) ? list : [];
        return ids.Select(id => SampleOrder(id)).Where(o => state is null || o.State == state).ToArray();
    }

    public ValueTask<TreeNode> EchoTreeAsync(TreeNode root) => ValueTask.FromResult(root);

    public Task PingAsync()
    {
        Calls.Enqueue("ping");
        return Task.CompletedTask;
    }

    public async ValueTask ResetAsync(CancellationToken cancellationToken)
    {
        LastToken = cancellationToken;
        await Task.Yield();
        Calls.Enqueue("reset");
    }

    public Task<string?> EchoAsync(string? text, char c, bool flag, double d, float f, long l, ulong ul, short s, ushort us, sbyte sb, byte b, uint ui) =>
        Task.FromResult<string?>(text is null ? null : string.Join("|", text, c, flag, d, f, l, ul, s, us, sb, b, ui));

    public void Report(string metric, double value) => Calls.Enqueue($"report {metric}={value}");

    public void Log(string message) => Calls.Enqueue("log " + message);

    public void Subscribe(ServiceQuery query, Action<string[]> listener)
    {
        LastQuery = query;
        Listener = listener;
    }

    public void Unsubscribe(ServiceQuery query, Action<string[]>? listener)
    {
        LastQuery = query;
        RemovedListener = listener;
        if (ReferenceEquals(listener, Listener)) Listener = null;
    }

    public async IAsyncEnumerable<Order> WatchOrders(OrderState state, [EnumeratorCancellation] CancellationToken cancellationToken)
    {
        yield return SampleOrder(1);
        yield return SampleOrder(2);
        if (state != OrderState.New) yield break;
        try
        {
            // Keeps streaming until the subscriber goes away.
            await Task.Delay(Timeout.Infinite, cancellationToken);
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
            StreamCanceled.TrySetResult();
            throw;
        }
    }

    public void Publish(ServiceQuery self)
    {
        LastQuery = self;
        Calls.Enqueue("publish " + self.Service);
    }

    public ValueTask DisposeAsync()
    {
        Disposed = true;
        return ValueTask.CompletedTask;
    }
}
