using System.ComponentModel;
using MessagePack;
using MessagePack.Resolvers;

namespace ClusterSharing.Serialization;

/// <summary>
/// When generated formatters may write and read a type with <see cref="WireSpanWriter"/> and <see cref="WireSpanReader"/>:
/// only while the options' resolver chain supplies MessagePack-CSharp's own built-in formatter for it, so a user's
/// resolver that replaces the formatter of <c>DateTime</c> or <c>string</c> is always honoured.
/// </summary>
[EditorBrowsable(EditorBrowsableState.Never)]
public static class WireDirect
{
    /// <summary>True when <paramref name="options"/> resolve <typeparamref name="T"/> to MessagePack-CSharp's built-in formatter.</summary>
    public static bool IsBuiltIn<T>(MessagePackSerializerOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        var builtIn = BuiltinResolver.Instance.GetFormatter<T>();
        return builtIn is not null && ReferenceEquals(options.Resolver.GetFormatter<T>(), builtIn);
    }
}
