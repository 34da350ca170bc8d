using MessagePack;
using MessagePack.Formatters;

namespace ClusterSharing.Protocol;

/// <summary>
/// The body of a failed call (<see cref="ResultStatus.Error"/>) or a faulted subscription: a MessagePack map
/// <c>{"type": str, "message": str, "stack": str|nil, "code": str|nil}</c>. Readers skip unknown keys.
/// </summary>
public sealed class RemoteError : IMessagePackFormatter<Exception>
{
    /// <summary>Writes exceptions with their stack traces; reads them as <see cref="ClusterRemoteException"/>.</summary>
    public static RemoteError Instance { get; } = new(includeStackTrace: true);

    /// <summary>Writes exceptions without stack traces, for leaders that must not reveal their internals.</summary>
    public static RemoteError WithoutStackTrace { get; } = new(includeStackTrace: false);

    private readonly bool _includeStackTrace;

    private RemoteError(bool includeStackTrace) => _includeStackTrace = includeStackTrace;

    /// <summary>Writes the error map for <paramref name="value"/>; the code is <c>Exception.Data["Code"]</c> when present.</summary>
    public void Serialize(ref MessagePackWriter writer, Exception value, MessagePackSerializerOptions options)
    {
        ArgumentNullException.ThrowIfNull(value);
        Write(ref writer, value.GetType().FullName ?? value.GetType().Name, value.Message,
            _includeStackTrace ? value.StackTrace : null, value.Data["Code"]?.ToString());
    }

    /// <summary>Reads an error map; always returns a <see cref="ClusterRemoteException"/>.</summary>
    public Exception Deserialize(ref MessagePackReader reader, MessagePackSerializerOptions options) => Read(ref reader);

    /// <summary>Writes an error map from its parts.</summary>
    public static void Write(ref MessagePackWriter writer, string type, string message, string? stackTrace, string? code)
    {
        writer.WriteMapHeader(4);
        writer.Write("type");
        writer.Write(type);
        writer.Write("message");
        writer.Write(message);
        writer.Write("stack");
        writer.Write(stackTrace);
        writer.Write("code");
        writer.Write(code);
    }

    /// <summary>Reads an error map written by <see cref="Write"/> (or a peer following the same layout).</summary>
    /// <exception cref="MessagePackSerializationException">The body is not a map of strings.</exception>
    public static ClusterRemoteException Read(ref MessagePackReader reader)
    {
        string? type = null, message = null, stack = null, code = null;
        int count = reader.ReadMapHeader();
        for (int i = 0; i < count; i++)
        {
            if (reader.NextMessagePackType != MessagePackType.String)
            {
                reader.Skip();
                reader.Skip();
                continue;
            }
            switch (reader.ReadString())
            {
                case "type": type = reader.ReadString(); break;
                case "message": message = reader.ReadString(); break;
                case "stack": stack = reader.ReadString(); break;
                case "code": code = reader.ReadString(); break;
                default: reader.Skip(); break;
            }
        }
        return new ClusterRemoteException(type ?? "(unknown type)", message ?? "(no message)", stack, code);
    }
}
