using ClusterSharing.Serialization;

namespace ClusterSharing.Proxies.Dynamic;

/// <summary>A formatter seen through <see cref="object"/>, for values that reflection hands around boxed.</summary>
internal interface IBoxedFormatter
{
    /// <summary>The type the underlying formatter handles.</summary>
    Type Type { get; }

    /// <summary>The underlying <c>IMessagePackFormatter&lt;Type&gt;</c>.</summary>
    object Formatter { get; }

    void Serialize(ref MessagePackWriter writer, object? value);

    object? Deserialize(ref MessagePackReader reader);
}

/// <summary>Adapts an <see cref="IMessagePackFormatter{T}"/> to <see cref="IBoxedFormatter"/>.</summary>
internal sealed class BoxedFormatter<T>(IMessagePackFormatter<T> inner) : IBoxedFormatter
{
    public Type Type => typeof(T);

    public object Formatter => inner;

    public void Serialize(ref MessagePackWriter writer, object? value) => inner.Serialize(ref writer, (T)value!);

    public object? Deserialize(ref MessagePackReader reader) => inner.Deserialize(ref reader);
}
