namespace ClusterSharing.Serialization;

/// <summary>
/// Finds the formatter for a type. The seam through which callers that only know types at run time
/// (the dynamic proxy path) and users with their own formats plug into the codec.
/// </summary>
public interface IFormatterResolver
{
    /// <summary>Returns the formatter for <typeparamref name="T"/>, or null when this resolver does not handle it.</summary>
    /// <typeparam name="T">The type to serialize.</typeparam>
    IMessagePackFormatter<T>? GetFormatter<T>();
}

/// <summary>Helpers over <see cref="IFormatterResolver"/>.</summary>
public static class FormatterResolverExtensions
{
    /// <summary>Returns the formatter for <typeparamref name="T"/> or throws a message that says how to provide one.</summary>
    /// <exception cref="MessagePackSerializationException">No formatter is known for <typeparamref name="T"/>.</exception>
    public static IMessagePackFormatter<T> GetRequiredFormatter<T>(this IFormatterResolver resolver)
    {
        ArgumentNullException.ThrowIfNull(resolver);
        return resolver.GetFormatter<T>() ?? throw new MessagePackSerializationException(
            $"No MessagePack formatter for {typeof(T)} in {resolver.GetType().Name}. " +
            "Put a resolver that handles it in front with CompositeResolver, or use a type the standard resolver supports.");
    }
}
