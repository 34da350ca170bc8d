namespace ClusterSharing.Generators.Tests.Conformance;

// The one contract both the generated and the dynamic path are checked against: every member kind the settled layout
// defines, and every kind of type the formatters support.

public enum Color { Red = 1, Green = 2, Blue = 300 }

[Flags]
public enum Permissions : byte { None = 0, Read = 1, Write = 2, Admin = 128 }

public enum Extreme : long { Min = long.MinValue, Zero = 0, Max = long.MaxValue }

public enum Wide : ulong { Zero = 0, Top = ulong.MaxValue }

public sealed record Primitives(bool Flag, byte U8, sbyte I8, short I16, ushort U16, int I32, uint U32, long I64, ulong U64,
    float F32, double F64, char Ch);

public sealed record Temporal(DateTime When, DateTimeOffset At, TimeSpan Span, Guid Id);

public sealed record EnumBag(Color Color, Permissions Permissions, Extreme Extreme, Wide Wide);

public sealed record Optionals(int? Number, Guid? Id, DateTime? When, Color? Color, Point? Where);

public sealed record Line(string Sku, int Quantity, double? Weight);

/// <summary>A record built through its primary constructor.</summary>
public record Order(Guid Id, string? Customer, IReadOnlyList<Line> Lines, IReadOnlyDictionary<string, int> Tags, Color Color);

/// <summary>Derived record: base members first on the wire.</summary>
public sealed record PriorityOrder(Guid Id, string? Customer, IReadOnlyList<Line> Lines, IReadOnlyDictionary<string, int> Tags, Color Color, int Priority)
    : Order(Id, Customer, Lines, Tags, Color);

/// <summary>A class built with its parameterless constructor and setters (and an init-only property).</summary>
public sealed class Settings
{
    public string? Name { get; set; }
    public List<int> Values { get; set; } = [];
    public Dictionary<string, string?> Map { get; set; } = [];
    public int[]? Numbers { get; set; }
    public byte[]? Blob { get; set; }
    public IList<string>? Labels { get; set; }
    public IDictionary<int, Line>? ByLine { get; set; }
    public IEnumerable<long>? Stream { get; set; }
    public Permissions Permissions { get; init; }
    public string? Region { get; init; } = "eu";
    public int Computed => Values.Count;
}

/// <summary>A class with a constructor for some members and setters for the rest.</summary>
public sealed class Account(string owner, Money balance)
{
    public string Owner { get; } = owner;
    public Money Balance { get; } = balance;
    public string? Note { get; set; }
}

/// <summary>Money without decimal (not a supported type): units and cents.</summary>
public readonly record struct Money(long Units, int Cents);

public struct Point
{
    public int X { get; set; }
    public int Y { get; set; }
}

public readonly record struct Size(double Width, double Height);

public sealed record LinkedNode(int Value, LinkedNode? Next);

public sealed class TreeNode
{
    public string Name { get; set; } = "";
    public List<TreeNode> Children { get; set; } = [];
}

public static class Outer
{
    public sealed record Inner(string Text, int[] Numbers);
}

public sealed record Query(string Topic, int Partition);

public sealed record Notice(string Topic, long Sequence, string? Payload);

[ClusterDelegate(Name = "conformance")]
public partial interface IConformance
{
    Task PingAsync();

    Task<int> AddAsync(int a, int b);

    Task<long> AddAsync(long a, long b);

    Task<string?> EchoAsync(string? text, CancellationToken cancellationToken = default);

    ValueTask<Primitives> EchoPrimitivesAsync(Primitives value);

    ValueTask ResetAsync(CancellationToken cancellationToken);

    Task<Temporal> EchoTemporalAsync(Temporal value);

    Task<byte[]?> EchoBytesAsync(byte[]? data);

    Task<EnumBag> EchoEnumsAsync(Color color, Permissions permissions, Extreme extreme, Wide wide);

    Task<Optionals> EchoOptionalsAsync(int? number, Guid? id, DateTime? when, Color? color, Point? where);

    Task<Order> EchoOrderAsync(Order order);

    Task<PriorityOrder> EchoPriorityOrderAsync(PriorityOrder order);

    Task<Settings?> EchoSettingsAsync(Settings? settings);

    Task<Account> EchoAccountAsync(Account account);

    ValueTask<Point> EchoPointAsync(Point point);

    ValueTask<Size> EchoSizeAsync(Size size);

    Task<LinkedNode?> EchoChainAsync(LinkedNode? head);

    Task<TreeNode> EchoTreeAsync(TreeNode root);

    Task<Outer.Inner> EchoInnerAsync(Outer.Inner inner);

    Task<int[]> ReverseAsync(int[] values);

    Task<List<string?>> SortAsync(List<string?> values);

    Task<IReadOnlyList<Line>> EchoLinesAsync(IReadOnlyList<Line> lines);

    Task<Dictionary<string, int>> EchoCountsAsync(Dictionary<string, int> counts);

    Task<IReadOnlyDictionary<int, string?>> EchoNamesAsync(IReadOnlyDictionary<int, string?> names);

    Task WaitForCancellationAsync(CancellationToken cancellationToken);

    Task FailAsync(string message);

    Task<int> FailSynchronouslyAsync(string code);

    [Idempotent]
    [Timeout(2500)]
    Task<int> GetVersionAsync();

    [Oneway]
    void Record(string entry);

    void Log(int level, string message);

    void Subscribe(Query query, Action<Notice> listener);

    void Unsubscribe(Query query, Action<Notice>? listener);

    [Subscribe(Broadcast = false)]
    void SubscribeWork(string queue, Action<int> listener);

    void UnsubscribeWork(string queue, Action<int>? listener);

    [Subscribe]
    IAsyncEnumerable<Notice> WatchAsync(Query query, CancellationToken cancellationToken);

    IAsyncEnumerable<int> SubscribeCounter(int start, CancellationToken cancellationToken);

    void Publish(Notice notice);

    [Publish]
    void Announce(string message);

    [Close]
    Task ShutdownAsync();

    /// <summary>A close by name, with a token that is passed on the leader but not sent.</summary>
    ValueTask CloseAsync(CancellationToken cancellationToken);

    /// <summary>A synchronous close: returns once the handle is closed.</summary>
    [Close]
    void Disconnect();

    [Oneway]
    void Touch(string key, CancellationToken cancellationToken);

    /// <summary>An async-stream subscription without a token: stopped through the enumerator's cancellation.</summary>
    IAsyncEnumerable<int> SubscribeTicks(int count);

    /// <summary>A default implementation is not forwarded; it runs in the caller's process over the forwarded members.</summary>
    async Task<int> AddThreeAsync(int a, int b, int c) => await AddAsync(await AddAsync(a, b), c);

    event EventHandler<Notice>? Changed;

    event EventHandler<string>? Renamed;
}
