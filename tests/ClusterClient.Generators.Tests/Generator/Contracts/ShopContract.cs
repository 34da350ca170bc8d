using ClusterSharing;

namespace ClusterSharing.Generators.Tests.Generator.Contracts;

public enum OrderState : byte { New = 1, Shipped = 2 }

public sealed record Address(string Street, string? City);

public sealed record Customer(string Name, Address? Address, IReadOnlyList<string> Tags);

public sealed class Order
{
    public int Id { get; init; }
    public Customer? Customer { get; set; }
    public List<OrderLine> Lines { get; set; } = new();
    public OrderState State { get; set; }
    public DateTime CreatedAt { get; set; }
    public DateTimeOffset? ShippedAt { get; set; }
    public Dictionary<string, int> Counters { get; set; } = new();
    public Guid Token { get; set; }
    public TimeSpan Age { get; set; }
    public byte[]? Blob { get; set; }
}

public struct OrderLine
{
    public string Sku { get; set; }
    public int Quantity { get; set; }
}

public sealed class TreeNode
{
    public string Name { get; set; } = "";
    public TreeNode? Parent { get; set; }
    public List<TreeNode> Children { get; set; } = new();
}

public sealed record ServiceQuery(string Service, int? Version);

/// <summary>A contract that reaches every supported shape; the build generates it like a user's would.</summary>
[ClusterDelegate(Name = "shop")]
public interface IShopClient : IAsyncDisposable
{
    Task<int> AddAsync(int a, int b, CancellationToken cancellationToken = default);
    Task<int> AddAsync(int a, int b, int c);
    Task<Order?> GetOrderAsync(int id);
    ValueTask<Order[]> ListOrdersAsync(OrderState? state, IReadOnlyDictionary<string, List<int>> filter);
    ValueTask<TreeNode> EchoTreeAsync(TreeNode root);
    Task PingAsync();
    ValueTask ResetAsync(CancellationToken cancellationToken);
    [Idempotent, Timeout(2500)]
    Task<string?> EchoAsync(string? text, char c, bool flag, double d, float f, long l, ulong ul, short s, ushort us, sbyte sb, byte b, uint ui);
    void Report(string metric, double value);
    [Oneway] void Log(string message);
    void Subscribe(ServiceQuery query, Action<string[]> listener);
    void Unsubscribe(ServiceQuery query, Action<string[]>? listener);
    [Subscribe(Broadcast = false)]
    IAsyncEnumerable<Order> WatchOrders(OrderState state, CancellationToken cancellationToken);
    void Publish(ServiceQuery self);
    event EventHandler<Order>? OrderShipped;
}
