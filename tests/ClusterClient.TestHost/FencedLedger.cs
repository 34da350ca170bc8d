using System.Text.Json;

namespace ClusterSharing.TestHost;

/// <summary>
/// What the real client executed in this process, by the fencing token it ran under
/// (<see cref="ClusterClient.FencingToken"/>, read at the start of the call as a real client passing it upstream
/// would). Static: it outlives the real client of each term. Runs of one token with their first and last time on the
/// shared monotonic clock let a test tell whether anything ran after a newer term began elsewhere.
/// </summary>
internal static class FencedLedger
{
    private static readonly Lock Gate = new();
    private static readonly List<Run> Runs = new();

    private sealed class Run(long token, double firstTs)
    {
        public long Token { get; } = token;
        public double FirstTs { get; } = firstTs;
        public double LastTs { get; set; } = firstTs;
        public long Count { get; set; } = 1;
    }

    /// <summary>Counts one execution; returns its token.</summary>
    public static long Record()
    {
        long token = ClusterClient.FencingToken;
        double ts = MonotonicClock.Milliseconds();
        lock (Gate)
        {
            if (Runs.Count > 0 && Runs[^1].Token == token)
            {
                Runs[^1].LastTs = ts;
                Runs[^1].Count++;
            }
            else
            {
                Runs.Add(new Run(token, ts));
            }
        }
        return token;
    }

    public static void Write(Utf8JsonWriter w)
    {
        lock (Gate)
        {
            w.WriteStartArray();
            foreach (var run in Runs)
            {
                w.WriteStartObject();
                w.WriteNumber("token", run.Token);
                w.WriteNumber("count", run.Count);
                w.WriteNumber("firstTs", run.FirstTs);
                w.WriteNumber("lastTs", run.LastTs);
                w.WriteEndObject();
            }
            w.WriteEndArray();
        }
    }
}
