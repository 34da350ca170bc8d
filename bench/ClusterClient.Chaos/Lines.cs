using System.Buffers;
using System.Diagnostics;
using System.Text.Json;

namespace ClusterSharing.Chaos;

/// <summary>One JSON object per line on stdout, flushed at once (the controller reads them as they happen).</summary>
internal static class Lines
{
    private static readonly Lock Gate = new();
    private static readonly Stream Stdout = Console.OpenStandardOutput();
    private static readonly ArrayBufferWriter<byte> Buffer = new(1024);

    /// <summary>Milliseconds on the machine-wide monotonic clock, comparable between the controller and its workers.</summary>
    public static double Now() => Stopwatch.GetTimestamp() * 1000.0 / Stopwatch.Frequency;

    public static void Event(string name, Action<Utf8JsonWriter>? body = null)
    {
        lock (Gate)
        {
            Buffer.ResetWrittenCount();
            using (var writer = new Utf8JsonWriter(Buffer))
            {
                writer.WriteStartObject();
                writer.WriteString("e", name);
                writer.WriteNumber("ts", Now());
                body?.Invoke(writer);
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
                // The controller is gone; stdin EOF ends this process.
            }
        }
    }
}
