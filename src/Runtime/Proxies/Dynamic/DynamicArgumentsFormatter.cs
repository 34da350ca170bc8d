using MessagePack;
using MessagePack.Formatters;

namespace ClusterSharing.Proxies.Dynamic;

/// <summary>
/// The argument array of one method: a MessagePack array of the parameters in declaration order, without the
/// <see cref="CancellationToken"/> (the settled layout generated code produces too).
/// </summary>
internal sealed class DynamicArgumentsFormatter : IMessagePackFormatter<object?[]>
{
    private readonly string _member;
    private readonly IBoxedFormatter[] _parameters;

    public DynamicArgumentsFormatter(string member, IBoxedFormatter[] parameters)
    {
        _member = member;
        _parameters = parameters;
    }

    /// <summary>How many values the array holds.</summary>
    public int Count => _parameters.Length;

    public void Serialize(ref MessagePackWriter writer, object?[] value, MessagePackSerializerOptions options)
    {
        if (value.Length != _parameters.Length)
            throw new ArgumentException($"'{_member}' takes {_parameters.Length} serialized arguments, not {value.Length}.", nameof(value));
        writer.WriteArrayHeader(_parameters.Length);
        for (int i = 0; i < _parameters.Length; i++) _parameters[i].Serialize(ref writer, value[i], options);
    }

    public object?[] Deserialize(ref MessagePackReader reader, MessagePackSerializerOptions options)
    {
        int count = reader.ReadArrayHeader();
        if (count != _parameters.Length)
            throw new MessagePackSerializationException($"'{_member}' takes {_parameters.Length} arguments, but the request carries {count}.");
        if (count == 0) return [];
        options.Security.DepthStep(ref reader);
        var values = new object?[count];
        for (int i = 0; i < count; i++) values[i] = _parameters[i].Deserialize(ref reader, options);
        reader.Depth--;
        return values;
    }
}
