using System.Diagnostics;
using System.Globalization;
using System.Text;

namespace ClusterSharing.Harness;

/// <summary>
/// The worker side of the harness's line protocol: one command a line on stdin, one reply a line on stdout
/// ("ok ..." or "err ...", written with <see cref="StdoutLines"/>). Node workers speak the same protocol, so the coordinator drives every implementation alike.
/// </summary>
internal static class LineHost
{
    public static string Invariant(FormattableString text) => text.ToString(CultureInfo.InvariantCulture);

    /// <summary>Serves commands until "exit" or the end of stdin (the coordinator died): then the process exits.</summary>
    public static async Task RunAsync(Func<string[], Task<string>> handle)
    {
        using var input = new StreamReader(Console.OpenStandardInput());
        while (await input.ReadLineAsync().ConfigureAwait(false) is { } line)
        {
            var parts = line.Split(' ', StringSplitOptions.RemoveEmptyEntries);
            if (parts.Length == 0) continue;
            if (parts[0] == "exit") break;
            try
            {
                StdoutLines.WriteLine("ok " + await handle(parts).ConfigureAwait(false));
            }
            catch (Exception ex)
            {
                StdoutLines.WriteLine("err " + ex.GetType().Name + ": " + ex.Message.ReplaceLineEndings(" "));
            }
        }
    }

    /// <summary>Runs <paramref name="call"/> sequentially, writes each latency (ns) to <paramref name="path"/>, one a line.</summary>
    public static async Task<string> SequentialAsync(Func<long, ValueTask> call, int count, int warmup, string path)
    {
        for (int i = 0; i < warmup; i++) await call(i).ConfigureAwait(false);
        var samples = new long[count];
        for (int i = 0; i < count; i++)
        {
            long start = Stopwatch.GetTimestamp();
            await call(i).ConfigureAwait(false);
            samples[i] = Stopwatch.GetTimestamp() - start;
        }
        await WriteSamplesAsync(path, samples).ConfigureAwait(false);
        return count.ToString(CultureInfo.InvariantCulture);
    }

    public static async Task WriteSamplesAsync(string path, IEnumerable<long> samplesInTicks)
    {
        var text = new StringBuilder();
        foreach (long s in samplesInTicks) text.Append(MonotonicClock.Nanoseconds(s)).Append('\n');
        await File.WriteAllTextAsync(path, text.ToString()).ConfigureAwait(false);
    }

    /// <summary>Keeps <paramref name="inflight"/> calls running for <paramref name="seconds"/>; replies "count elapsedNs".</summary>
    public static async Task<string> ThroughputAsync(Func<long, ValueTask> call, double seconds, int inflight)
    {
        // A short warm-up so tiering and connection buffers settle before the window.
        long warmEnd = Stopwatch.GetTimestamp() + Stopwatch.Frequency / 2;
        await Task.WhenAll(Enumerable.Range(0, inflight).Select(async _ =>
        {
            long i = 0;
            while (Stopwatch.GetTimestamp() < warmEnd) await call(i++).ConfigureAwait(false);
        })).ConfigureAwait(false);

        long start = Stopwatch.GetTimestamp();
        long end = start + (long)(seconds * Stopwatch.Frequency);
        long total = 0;
        await Task.WhenAll(Enumerable.Range(0, inflight).Select(async _ =>
        {
            long n = 0;
            while (Stopwatch.GetTimestamp() < end)
            {
                await call(n).ConfigureAwait(false);
                n++;
            }
            Interlocked.Add(ref total, n);
        })).ConfigureAwait(false);
        return Invariant($"{total} {MonotonicClock.Nanoseconds(Stopwatch.GetTimestamp() - start)}");
    }
}
