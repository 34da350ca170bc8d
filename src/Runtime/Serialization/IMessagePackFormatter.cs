namespace ClusterSharing.Serialization;

/// <summary>Serializes one type to and from MessagePack. Generated code emits one per contract type.</summary>
/// <typeparam name="T">The type handled.</typeparam>
public interface IMessagePackFormatter<T>
{
    /// <summary>Writes <paramref name="value"/>.</summary>
    void Serialize(ref MessagePackWriter writer, T value);

    /// <summary>Reads a value. Implementations of nested types call <see cref="MessagePackReader.EnterNested"/>.</summary>
    T Deserialize(ref MessagePackReader reader);
}
