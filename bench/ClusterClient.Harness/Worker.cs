using System.Collections.Concurrent;
using System.Diagnostics;

namespace ClusterSharing.Harness;

/// <summary>A ClusterClient worker process: one handle on <see cref="IEchoClient"/>, driven by the coordinator.</summary>
internal sealed class Worker
{
    /// <summary>"1" in the worker's environment writes the runtime's log to stderr (the coordinator's --verbose).</summary>
    public const string LogEnvironmentVariable = "HARNESS_LOG";

    private const string Topic = "ticks";
    private readonly ClusterClient<IEchoClient> _handle;
    private readonly ConcurrentQueue<(long Sequence, long LatencyTicks)> _received = new();
    private readonly CallLoop _loop = new();
    private int _subscribed;
    private long _warmupReceived;

    private Worker(ClusterClient<IEchoClient> handle) => _handle = handle;

    public static async Task<int> RunAsync(int port)
    {
        using var telemetry = TelemetryListeners.AttachIfRequested();
        var handle = ClusterClient.Create<IEchoClient>(() => new EchoClient(), o =>
        {
            o.Port = port;
            o.MaxWaitTime = TimeSpan.FromSeconds(60);
            o.ResponseTimeout = TimeSpan.FromSeconds(10);
            if (Environment.GetEnvironmentVariable(LogEnvironmentVariable) == "1") o.Logger = new StderrLogger(Microsoft.Extensions.Logging.LogLevel.Debug);
        });
        await handle.ReadyAsync().ConfigureAwait(false);
        StdoutLines.WriteLine(LineHost.Invariant($"ready {MonotonicClock.Nanoseconds(Stopwatch.GetTimestamp())} {(handle.IsLeader ? 1 : 0)} {Environment.ProcessId}"));
        var worker = new Worker(handle);
        await LineHost.RunAsync(worker.HandleAsync).ConfigureAwait(false);
        worker._loop.Stop();
        await handle.DisposeAsync().ConfigureAwait(false);
        return 0;
    }

    private IEchoClient Client => _handle.Client;

    private ValueTask Echo(long i) => new(Client.EchoAsync(i));

    private async Task<string> HandleAsync(string[] c)
    {
        switch (c[0])
        {
            case "role":
                return _handle.IsLeader ? "1" : "0";
            case "seq":
                return await LineHost.SequentialAsync(Echo, int.Parse(c[1]), int.Parse(c[2]), c[3]).ConfigureAwait(false);
            case "tput":
                return await LineHost.ThroughputAsync(Echo, double.Parse(c[1], System.Globalization.CultureInfo.InvariantCulture), int.Parse(c[2])).ConfigureAwait(false);
            case "sub":
                if (Interlocked.Exchange(ref _subscribed, 1) == 0)
                {
                    Client.Subscribe(Topic, tick =>
                    {
                        long now = Stopwatch.GetTimestamp();
                        if (tick.Sequence < 0) Interlocked.Increment(ref _warmupReceived);
                        else _received.Enqueue((tick.Sequence, now - tick.Timestamp));
                    });
                }
                return "subscribed";
            case "subcount":
                return Interlocked.Read(ref _warmupReceived).ToString(System.Globalization.CultureInfo.InvariantCulture);
            case "pub":
                return await PublishAsync(int.Parse(c[1]), int.Parse(c[2]), long.Parse(c[3])).ConfigureAwait(false);
            case "pubreport":
                return await ReportPublicationsAsync(c[1]).ConfigureAwait(false);
            case "loop":
                _loop.Start(i => Client.EchoAsync(i));
                return "looping";
            case "since":
                return _loop.Since(long.Parse(c[1]));
            case "mem":
                return Memory();
            default:
                throw new ArgumentException($"unknown command '{c[0]}'");
        }
    }

    /// <summary>Publishes <paramref name="count"/> ticks, one every <paramref name="intervalUs"/> µs, starting at <paramref name="firstSequence"/>.</summary>
    private async Task<string> PublishAsync(int count, int intervalUs, long firstSequence)
    {
        long interval = intervalUs * Stopwatch.Frequency / 1_000_000;
        long next = Stopwatch.GetTimestamp();
        for (int i = 0; i < count; i++)
        {
            // Sleep, never spin: a spinning publisher would take the CPU from the leader's own socket work.
            long wait = next - Stopwatch.GetTimestamp();
            if (wait > 0) await Task.Delay(TimeSpan.FromTicks(Math.Max(1, wait * TimeSpan.TicksPerSecond / Stopwatch.Frequency))).ConfigureAwait(false);
            Client.Publish(new Tick(Topic, firstSequence < 0 ? firstSequence - i : firstSequence + i, Stopwatch.GetTimestamp()));
            next += interval;
        }
        return count.ToString(System.Globalization.CultureInfo.InvariantCulture);
    }

    private async Task<string> ReportPublicationsAsync(string path)
    {
        var lines = new System.Text.StringBuilder();
        int n = 0;
        while (_received.TryDequeue(out var r))
        {
            lines.Append(r.Sequence).Append(' ').Append(MonotonicClock.Nanoseconds(r.LatencyTicks)).Append('\n');
            n++;
        }
        await File.WriteAllTextAsync(path, lines.ToString()).ConfigureAwait(false);
        return n.ToString(System.Globalization.CultureInfo.InvariantCulture);
    }

    internal static string Memory()
    {
        GC.Collect();
        GC.WaitForPendingFinalizers();
        // Aggressive: also decommits the GC's free space, so RSS is what the process holds, not the gen0 budget it last grew to.
        GC.Collect(GC.MaxGeneration, GCCollectionMode.Aggressive, blocking: true, compacting: true);
        using var self = Process.GetCurrentProcess();
        return LineHost.Invariant($"{self.WorkingSet64} {GC.GetTotalMemory(false)}");
    }
}

/// <summary>Back-to-back calls in the background, recording when each succeeded or failed, for the failover scenario.</summary>
internal sealed class CallLoop
{
    private readonly Lock _gate = new();
    private readonly List<(long Start, long End, bool Ok)> _calls = new(1 << 16);
    private CancellationTokenSource? _stop;

    public void Start(Func<long, Task<long>> call)
    {
        if (_stop is not null) return;
        _stop = new CancellationTokenSource();
        var token = _stop.Token;
        _ = Task.Run(async () =>
        {
            long i = 0;
            while (!token.IsCancellationRequested)
            {
                long start = Stopwatch.GetTimestamp();
                bool ok;
                try
                {
                    await call(i++).ConfigureAwait(false);
                    ok = true;
                }
                catch (Exception)
                {
                    ok = false;
                }
                long end = Stopwatch.GetTimestamp();
                lock (_gate)
                {
                    // Keep memory bounded on long runs: only the recent past is ever asked about.
                    if (_calls.Count >= 1 << 20) _calls.RemoveRange(0, 1 << 19);
                    _calls.Add((start, end, ok));
                }
                if (!ok) await Task.Delay(1).ConfigureAwait(false);
                // On the leader the call completes synchronously (no I/O): without a yield this loop would hold a
                // pool thread forever and starve the process's socket work (the Node worker yields the same way).
                else await Task.Yield();
            }
        });
    }

    public void Stop() => _stop?.Cancel();

    /// <summary>"firstSuccessEndNs failures": the first call started at or after <paramref name="sinceNs"/> that succeeded
    /// (-1 when none yet) and the failures from <paramref name="sinceNs"/> until it.</summary>
    public string Since(long sinceNs)
    {
        int failures = 0;
        lock (_gate)
        {
            // Calls are sequential, so end times ascend: binary-search the first call that ended after the kill.
            int lo = 0, hi = _calls.Count;
            while (lo < hi)
            {
                int mid = (lo + hi) >>> 1;
                if (MonotonicClock.Nanoseconds(_calls[mid].End) >= sinceNs) hi = mid; else lo = mid + 1;
            }
            for (int i = lo; i < _calls.Count; i++)
            {
                var c = _calls[i];
                if (!c.Ok) { failures++; continue; }
                if (MonotonicClock.Nanoseconds(c.Start) >= sinceNs) return LineHost.Invariant($"{MonotonicClock.Nanoseconds(c.End)} {failures}");
            }
        }
        return LineHost.Invariant($"-1 {failures}");
    }
}
