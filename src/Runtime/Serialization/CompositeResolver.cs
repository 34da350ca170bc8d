using System.Collections.Concurrent;
using ClusterSharing.Serialization.Formatters;

namespace ClusterSharing.Serialization;

/// <summary>
/// Asks several resolvers in order and returns the first formatter found. Constructed types (T[], List&lt;T&gt;,
/// Dictionary&lt;K,V&gt;, Nullable&lt;T&gt;, ...) that no resolver handles as a whole are built from element
/// formatters resolved through this composite, so a user's type also works inside built-in collections.
/// </summary>
public sealed class CompositeResolver : IFormatterResolver
{
    private readonly IFormatterResolver[] _resolvers;
    private readonly ConcurrentDictionary<Type, object?> _cache = new();

    /// <summary>Creates a composite that asks <paramref name="resolvers"/> in order.</summary>
    public CompositeResolver(params IFormatterResolver[] resolvers)
    {
        ArgumentNullException.ThrowIfNull(resolvers);
        if (Array.IndexOf(resolvers, null) >= 0) throw new ArgumentException("A resolver in the list is null.", nameof(resolvers));
        _resolvers = (IFormatterResolver[])resolvers.Clone();
    }

    /// <summary>A composite that asks <paramref name="first"/> and then <see cref="StandardResolver.Instance"/>.</summary>
    public static CompositeResolver WithStandard(IFormatterResolver first) => new(first, StandardResolver.Instance);

    /// <inheritdoc/>
    public IMessagePackFormatter<T>? GetFormatter<T>()
    {
        if (_cache.TryGetValue(typeof(T), out var cached)) return (IMessagePackFormatter<T>?)cached;
        // Resolved outside GetOrAdd's factory: element look-ups re-enter this method for other types.
        var formatter = Resolve<T>();
        return (IMessagePackFormatter<T>?)_cache.GetOrAdd(typeof(T), formatter);
    }

    private object? Resolve<T>()
    {
        foreach (var resolver in _resolvers)
        {
            if (resolver.GetFormatter<T>() is { } formatter) return formatter;
        }
        return BuiltInFormatters.CreateConstructed(typeof(T), this);
    }
}
