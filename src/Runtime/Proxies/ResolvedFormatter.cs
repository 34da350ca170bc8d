using System.ComponentModel;
using MessagePack;
using MessagePack.Formatters;

namespace ClusterSharing.Proxies;

/// <summary>
/// The formatter of <typeparamref name="T"/> that the options' resolver chain supplies at the time of the call. Generated
/// and dynamic contracts hand it to the runtime for every argument, result, registration and value, so both paths
/// resolve the same formatter (contract formatters, then the user's resolver, then the standard resolver).
/// </summary>
/// <typeparam name="T">The value type.</typeparam>
[EditorBrowsable(EditorBrowsableState.Never)]
public sealed class ResolvedFormatter<T> : IMessagePackFormatter<T>
{
    private ResolvedFormatter()
    {
    }

    /// <summary>The shared instance.</summary>
    public static ResolvedFormatter<T> Instance { get; } = new();

    /// <summary>
    /// The formatter the first options seen resolved for <typeparamref name="T"/>; a process usually has one channel per
    /// contract, so every later value skips the resolver's type lookup. Other options take the lookup (no allocation, no
    /// eviction); resolvers cache their answers, so the pair never goes stale.
    /// </summary>
    private static Resolution? s_first;

    private sealed class Resolution(MessagePackSerializerOptions options, IMessagePackFormatter<T> formatter)
    {
        public readonly MessagePackSerializerOptions Options = options;
        public readonly IMessagePackFormatter<T> Formatter = formatter;
    }

    private static IMessagePackFormatter<T> Resolve(MessagePackSerializerOptions options)
    {
        var first = s_first;
        if (first is not null && ReferenceEquals(first.Options, options)) return first.Formatter;
        return ResolveSlow(options);
    }

    private static IMessagePackFormatter<T> ResolveSlow(MessagePackSerializerOptions options)
    {
        var formatter = options.Resolver.GetFormatterWithVerify<T>();
        if (s_first is null) Interlocked.CompareExchange(ref s_first, new Resolution(options, formatter), null);
        return formatter;
    }

    /// <inheritdoc/>
    public void Serialize(ref MessagePackWriter writer, T value, MessagePackSerializerOptions options) =>
        Resolve(options).Serialize(ref writer, value, options);

    /// <summary>
    /// Reads a <typeparamref name="T"/>. Whatever a formatter throws besides <see cref="MessagePackSerializationException"/>
    /// (an integer that does not fit, a user formatter's own exception) is wrapped in one, so bad input from another
    /// process always surfaces as a serialization error.
    /// </summary>
    public T Deserialize(ref MessagePackReader reader, MessagePackSerializerOptions options)
    {
        try
        {
            return Resolve(options).Deserialize(ref reader, options);
        }
        catch (Exception e) when (e is not MessagePackSerializationException and not OperationCanceledException)
        {
            throw new MessagePackSerializationException($"Reading a {typeof(T)} failed: {e.Message}", e);
        }
    }
}
