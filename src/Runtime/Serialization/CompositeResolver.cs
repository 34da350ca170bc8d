using System.Collections.Concurrent;
using ClusterSharing.Serialization.Formatters;

namespace ClusterSharing.Serialization;

/// <summary>
/// Asks several resolvers in order and returns the first formatter found. Built-in constructed types (T[],
/// List&lt;T&gt;, Dictionary&lt;K,V&gt;, Nullable&lt;T&gt;, ...) are built from element formatters resolved through
/// this composite, both in <see cref="StandardResolver"/>'s place and when no resolver handles the type as a whole,
/// so a user's type works inside built-in collections and a user's formatter in front also applies to elements.
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
            // In the standard resolver's place, build constructed types here so their elements also resolve
            // through this composite (a user's int formatter in front then also applies inside List<int>).
            object? formatter = resolver is StandardResolver
                ? BuiltInFormatters.CreatePrimitive(typeof(T)) ?? BuiltInFormatters.CreateConstructed(typeof(T), this)
                : resolver.GetFormatter<T>();
            if (formatter is not null) return formatter;
        }
        return BuiltInFormatters.CreateConstructed(typeof(T), this);
    }
}
