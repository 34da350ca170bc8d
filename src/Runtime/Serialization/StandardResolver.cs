using ClusterSharing.Serialization.Formatters;

namespace ClusterSharing.Serialization;

/// <summary>
/// Resolves every built-in formatter: primitives, string, byte[], DateTime, DateTimeOffset, TimeSpan, Guid, enums,
/// and the constructed types Nullable&lt;T&gt;, T[], List&lt;T&gt; (and its read-only and collection interfaces),
/// Dictionary&lt;K,V&gt; (and IReadOnlyDictionary/IDictionary) whose element types it resolves too.
/// Formatters are built once per type and cached.
/// </summary>
public sealed class StandardResolver : IFormatterResolver
{
    /// <summary>The shared instance.</summary>
    public static StandardResolver Instance { get; } = new();

    private StandardResolver() { }

    /// <inheritdoc/>
    public IMessagePackFormatter<T>? GetFormatter<T>() => Cache<T>.Formatter;

    private static class Cache<T>
    {
        internal static readonly IMessagePackFormatter<T>? Formatter =
            (IMessagePackFormatter<T>?)(BuiltInFormatters.CreatePrimitive(typeof(T)) ?? BuiltInFormatters.CreateConstructed(typeof(T), Instance));
    }
}
