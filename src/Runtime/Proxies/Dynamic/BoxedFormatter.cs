using MessagePack;

namespace ClusterSharing.Proxies.Dynamic;

/// <summary>A formatter seen through <see cref="object"/>, for values that reflection hands around boxed.</summary>
internal interface IBoxedFormatter
{
    /// <summary>The type the underlying formatter handles.</summary>
    Type Type { get; }

    void Serialize(ref MessagePackWriter writer, object? value, MessagePackSerializerOptions options);

    object? Deserialize(ref MessagePackReader reader, MessagePackSerializerOptions options);
}

/// <summary>
/// <see cref="ResolvedFormatter{T}"/> behind <see cref="IBoxedFormatter"/>: the formatter of <typeparamref name="T"/> comes from the
/// options' resolver chain at the time of the call, exactly as in generated code.
/// </summary>
internal sealed class BoxedFormatter<T> : IBoxedFormatter
{
    public Type Type => typeof(T);

    public void Serialize(ref MessagePackWriter writer, object? value, MessagePackSerializerOptions options) =>
        ResolvedFormatter<T>.Instance.Serialize(ref writer, (T)value!, options);

    public object? Deserialize(ref MessagePackReader reader, MessagePackSerializerOptions options) =>
        ResolvedFormatter<T>.Instance.Deserialize(ref reader, options);
}
