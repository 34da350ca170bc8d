using System.Buffers;
using System.Diagnostics;
using System.Text.Json;

namespace ClusterSharing.TestHost;

/// <summary>
/// Writes one JSON object per line to stdout and flushes it, so the parent test sees every event as it
/// happens. Thread-safe: replies, real-client events and leadership events come from many threads.
/// </summary>
internal static class LineOutput
{
    private static readonly Lock Gate = new();
    private static readonly Stream Stdout = Console.OpenStandardOutput();
    private static readonly ArrayBufferWriter<byte> Buffer = new(1024);

    /// <summary>Milliseconds on the machine-wide monotonic clock (comparable between processes on one host).</summary>
    public static double MonotonicMilliseconds() => Stopwatch.GetTimestamp() * 1000.0 / Stopwatch.Frequency;

    public static void Write(Action<Utf8JsonWriter> body)
    {
        lock (Gate)
        {
            Buffer.ResetWrittenCount();
            using (var writer = new Utf8JsonWriter(Buffer))
            {
                writer.WriteStartObject();
                body(writer);
                writer.WriteEndObject();
            }
            Buffer.Write("\n"u8);
            try
            {
                Stdout.Write(Buffer.WrittenSpan);
                Stdout.Flush();
            }
            catch (IOException)
            {
                // The parent closed our stdout: nobody is listening any more; the stdin EOF ends the process.
            }
        }
    }

    public static void Event(string name, Action<Utf8JsonWriter>? body = null) => Write(w =>
    {
        w.WriteString("event", name);
        w.WriteNumber("pid", Environment.ProcessId);
        w.WriteNumber("ts", MonotonicMilliseconds());
        body?.Invoke(w);
    });

    public static void Ok(long id, Action<Utf8JsonWriter> value) => Write(w =>
    {
        w.WriteNumber("id", id);
        w.WriteBoolean("ok", true);
        w.WritePropertyName("value");
        value(w);
    });

    public static void Failed(long id, Exception error) => Write(w =>
    {
        w.WriteNumber("id", id);
        w.WriteBoolean("ok", false);
        WriteError(w, error);
    });

    /// <summary>The error's type, message and the typed details the tests assert on.</summary>
    public static void WriteError(Utf8JsonWriter w, Exception error)
    {
        w.WriteString("error", error.GetType().Name);
        w.WriteString("message", error.Message);
        w.WriteBoolean("clusterError", error is ClusterClientException);
        switch (error)
        {
            case LeaderLostException lost:
                w.WriteBoolean("sent", lost.RequestSent);
                break;
            case ClusterRemoteException remote:
                w.WriteString("remoteType", remote.RemoteType);
                w.WriteString("remoteMessage", remote.RemoteMessage);
                break;
        }
        if (error.InnerException is { } inner)
        {
            w.WriteString("innerError", inner.GetType().Name);
            w.WriteString("innerMessage", inner.Message);
        }
    }
}
