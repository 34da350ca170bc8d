using System.Buffers;
using System.Diagnostics;
using System.Text.Json;

namespace ClusterSharing.Demo;

/// <summary>Worker → parent messages: one JSON object per line on stdout, flushed at once.</summary>
internal static class Lines
{
    private static readonly Lock Gate = new();
    private static readonly Stream Stdout = Console.OpenStandardOutput();

    /// <summary>Milliseconds on the machine-wide monotonic clock, so parent and workers can compare timestamps.</summary>
    public static double Now() => Stopwatch.GetTimestamp() * 1000.0 / Stopwatch.Frequency;

    public static void Write(Action<Utf8JsonWriter> body)
    {
        var buffer = new ArrayBufferWriter<byte>(256);
        using (var writer = new Utf8JsonWriter(buffer))
        {
            writer.WriteStartObject();
            body(writer);
            writer.WriteEndObject();
        }
        lock (Gate)
        {
            try
            {
                Stdout.Write(buffer.WrittenSpan);
                Stdout.Write("\n"u8);
                Stdout.Flush();
            }
            catch (IOException)
            {
                // The parent is gone; our stdin will close and end this worker.
            }
        }
    }
}
