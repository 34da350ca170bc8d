using System.Buffers;
using System.Text;
using System.Text.Json;

namespace ClusterSharing.ProcessHarness;

/// <summary>
/// The child side of the line protocols: one line at a time on stdout, flushed at once so the parent sees every
/// line as it happens. Thread-safe: replies and events come from many threads. If the parent has closed the pipe,
/// lines are dropped; the end of stdin is the child's signal to exit.
/// </summary>
public static class StdoutLines
{
    private static readonly Lock Gate = new();
    private static readonly Stream Stdout = Console.OpenStandardOutput();
    private static readonly ArrayBufferWriter<byte> Buffer = new(1024);

    /// <summary>Writes one line of text (the harness's "ok ..." / "err ..." protocol).</summary>
    public static void WriteLine(string line)
    {
        lock (Gate)
        {
            Buffer.ResetWrittenCount();
            Encoding.UTF8.GetBytes(line, Buffer);
            Flush();
        }
    }

    /// <summary>Writes one JSON object; <paramref name="body"/> writes its properties.</summary>
    public static void WriteJson(Action<Utf8JsonWriter> body)
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
            Flush();
        }
    }

    /// <summary>Writes <c>{"event":name,"pid":…,"ts":…,…}</c>; ts is <see cref="MonotonicClock.Milliseconds"/>.</summary>
    public static void Event(string name, Action<Utf8JsonWriter>? body = null) => WriteJson(w =>
    {
        w.WriteString("event", name);
        w.WriteNumber("pid", Environment.ProcessId);
        w.WriteNumber("ts", MonotonicClock.Milliseconds());
        body?.Invoke(w);
    });

    /// <summary>Writes the successful reply <c>{"id":id,"ok":true,"value":…}</c> to request <paramref name="id"/>.</summary>
    public static void Reply(long id, Action<Utf8JsonWriter> value) => WriteJson(w =>
    {
        w.WriteNumber("id", id);
        w.WriteBoolean("ok", true);
        w.WritePropertyName("value");
        value(w);
    });

    private static void Flush()
    {
        Buffer.Write("\n"u8);
        try
        {
            Stdout.Write(Buffer.WrittenSpan);
            Stdout.Flush();
        }
        catch (IOException)
        {
            // The parent closed our stdout: nobody is listening any more.
        }
    }
}
