using MessagePack;
using MessagePack.Formatters;

namespace ClusterSharing.Protocol;

/// <summary>
/// The body of a failed call (<see cref="ResultStatus.Error"/>) or a faulted subscription: a MessagePack map
/// <c>{"type": str, "message": str, "stack": str|nil, "code": str|nil}</c>, plus <c>"origin": "cluster"</c> when
/// ClusterClient itself failed the call (a result too large for a frame, a call the leader cannot decode), so the caller
/// gets a <see cref="ClusterFrameTooLargeException"/> or <see cref="ClusterProtocolException"/> instead of a
/// <see cref="ClusterRemoteException"/>. Readers skip unknown keys.
/// </summary>
public sealed class RemoteError : IMessagePackFormatter<Exception>
{
    /// <summary>Writes exceptions with their stack traces (<see cref="RemoteErrorDetail.Full"/>); reads them as <see cref="ClusterRemoteException"/>.</summary>
    public static RemoteError Instance { get; } = new(RemoteErrorDetail.Full);

    /// <summary>Writes exceptions without stack traces (<see cref="RemoteErrorDetail.Message"/>, the leader's default).</summary>
    public static RemoteError WithoutStackTrace { get; } = new(RemoteErrorDetail.Message);

    /// <summary>Writes the exception type only (<see cref="RemoteErrorDetail.TypeOnly"/>).</summary>
    public static RemoteError TypeOnly { get; } = new(RemoteErrorDetail.TypeOnly);

    /// <summary>
    /// The code of an invoke a deposed leader refused before running it (fencing): the follower reports it as
    /// <see cref="LeaderLostException"/> with <see cref="LeaderLostException.RequestSent"/> false, so it is retried on the new leader.
    /// </summary>
    public const string NotRunCode = "ClusterClient.NotRun";

    /// <summary>The type name a fencing refusal carries with <see cref="NotRunCode"/>.</summary>
    public static string NotRunType => typeof(LeaderLostException).FullName!;

    /// <summary>True for a fencing refusal (type and code both match, so an application error that merely reuses the code is not retried).</summary>
    public static bool IsNotRun(ClusterClientException error) => error is ClusterRemoteException { Code: NotRunCode } remote && remote.RemoteType == NotRunType;

    /// <summary>The message sent in place of a withheld one.</summary>
    public const string WithheldMessage = "(the leader withholds error messages: its ClusterClientOptions.RemoteErrorDetail is TypeOnly; see its log)";

    private readonly RemoteErrorDetail _detail;

    private RemoteError(RemoteErrorDetail detail) => _detail = detail;

    /// <summary>The writer for <paramref name="detail"/>.</summary>
    public static RemoteError For(RemoteErrorDetail detail) => detail switch
    {
        RemoteErrorDetail.TypeOnly => TypeOnly,
        RemoteErrorDetail.Full => Instance,
        _ => WithoutStackTrace,
    };

    /// <summary>The message of <paramref name="error"/> as this detail level lets it travel.</summary>
    public static string MessageOf(Exception error, RemoteErrorDetail detail) => detail == RemoteErrorDetail.TypeOnly ? WithheldMessage : error.Message;

    /// <summary>The stack trace of <paramref name="error"/> when this detail level lets it travel, else null.</summary>
    public static string? StackTraceOf(Exception error, RemoteErrorDetail detail) => detail == RemoteErrorDetail.Full ? error.StackTrace : null;

    /// <summary>Writes the error map for <paramref name="value"/>; the code is <c>Exception.Data["Code"]</c> when present.</summary>
    public void Serialize(ref MessagePackWriter writer, Exception value, MessagePackSerializerOptions options)
    {
        ArgumentNullException.ThrowIfNull(value);
        Write(ref writer, value.GetType().FullName ?? value.GetType().Name, MessageOf(value, _detail),
            StackTraceOf(value, _detail), value.Data["Code"]?.ToString());
    }

    /// <summary>The value of the <c>origin</c> key that marks a failure of ClusterClient itself.</summary>
    public const string ClusterOrigin = "cluster";

    /// <summary>Reads an error map: a <see cref="ClusterRemoteException"/>, or ClusterClient's own exception for a runtime failure.</summary>
    public Exception Deserialize(ref MessagePackReader reader, MessagePackSerializerOptions options) => Read(ref reader);

    /// <summary>
    /// The error map of <paramref name="error"/>: marked as ClusterClient's own failure (<c>"origin": "cluster"</c>) when
    /// it is one of ClusterClient's exceptions (not a <see cref="ClusterRemoteException"/> passed on), else as the real client's.
    /// </summary>
    public static byte[] ToBytes(Exception error, RemoteErrorDetail detail)
    {
        ArgumentNullException.ThrowIfNull(error);
        var buffer = new System.Buffers.ArrayBufferWriter<byte>(128);
        var writer = new MessagePackWriter(buffer);
        if (error is ClusterClientException and not ClusterRemoteException)
            Write(ref writer, error.GetType().FullName!, error.Message, null, null, runtime: true);
        else
            For(detail).Serialize(ref writer, error, MessagePackSerializerOptions.Standard);
        writer.Flush();
        return buffer.WrittenSpan.ToArray();
    }

    /// <summary>Writes an error map from its parts.</summary>
    public static void Write(ref MessagePackWriter writer, string type, string message, string? stackTrace, string? code) =>
        Write(ref writer, type, message, stackTrace, code, runtime: false);

    /// <summary>Writes an error map; <paramref name="runtime"/> marks a failure of ClusterClient itself (<c>"origin": "cluster"</c>).</summary>
    public static void Write(ref MessagePackWriter writer, string type, string message, string? stackTrace, string? code, bool runtime)
    {
        writer.WriteMapHeader(runtime ? 5 : 4);
        writer.Write("type");
        writer.Write(type);
        writer.Write("message");
        writer.Write(message);
        writer.Write("stack");
        writer.Write(stackTrace);
        writer.Write("code");
        writer.Write(code);
        if (!runtime) return;
        writer.Write("origin");
        writer.Write(ClusterOrigin);
    }

    /// <summary>Reads an error map written by <see cref="Write(ref MessagePackWriter, string, string, string?, string?, bool)"/> (or a peer following the same layout).</summary>
    /// <exception cref="MessagePackSerializationException">The body is not a map of strings.</exception>
    public static ClusterClientException Read(ref MessagePackReader reader)
    {
        string? type = null, message = null, stack = null, code = null, origin = null;
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
                case "origin": origin = reader.ReadString(); break;
                default: reader.Skip(); break;
            }
        }
        if (origin == ClusterOrigin)
        {
            message ??= "(no message)";
            if (type == typeof(ClusterFrameTooLargeException).FullName) return new ClusterFrameTooLargeException(message);
            if (type == typeof(ClusterProtocolException).FullName) return new ClusterProtocolException(message);
            return new ClusterClientException(message);
        }
        return new ClusterRemoteException(type ?? "(unknown type)", message ?? "(no message)", stack, code);
    }
}
