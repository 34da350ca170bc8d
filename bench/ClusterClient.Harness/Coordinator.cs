using System.Diagnostics;
using System.Globalization;
using System.Text;
using ClusterSharing.Charts;

namespace ClusterSharing.Harness;

/// <summary>Runs every scenario against ClusterClient, the raw socket floors and Node cluster-client, then prints one table.</summary>
internal static class Coordinator
{
    private static readonly TimeSpan StartTimeout = TimeSpan.FromSeconds(90);

    public static async Task<int> RunAsync(HarnessSettings settings)
    {
        var total = Stopwatch.StartNew();
        var work = Directory.CreateTempSubdirectory("cc-harness-");
        try
        {
            var results = new Results();
            Log($"harness: {settings.Followers} followers, {(settings.Quick ? "quick" : "full")} run; load before: {Load()}");

            var ours = new Implementation("ClusterClient", port => WorkerProcess.StartThisProgram("cc-worker", ["worker", port.ToString(CultureInfo.InvariantCulture)], settings.Verbose));
            if (settings.Runs("cc")) results.Ours = await RunClusterAsync(ours, settings, work.FullName).ConfigureAwait(false);
            if (settings.Runs("mem")) results.Ours.Memory = await MeasureLeaderMemoryAsync(settings).ConfigureAwait(false);
            if (settings.Runs("raw"))
            {
                results.RawTcp = await RunRawAsync("tcp", settings, work.FullName).ConfigureAwait(false);
                results.RawUds = await RunRawAsync("uds", settings, work.FullName).ConfigureAwait(false);
            }

            var (node, reason) = settings.Node && settings.Runs("node") ? await FindNodeAsync().ConfigureAwait(false) : (null, "not selected (--no-node or --only)");
            if (node is not null)
                results.Node = await RunClusterAsync(node, settings, work.FullName).ConfigureAwait(false);
            else
                results.NodeSkipped = reason;

            string table = results.Render(settings, Load(), total.Elapsed);
            Console.WriteLine();
            Console.WriteLine(table);
            if (settings.Output is { } output) await File.WriteAllTextAsync(output, table).ConfigureAwait(false);
            if (settings.ChartsDirectory is { } charts) DrawCharts(results, settings, charts);
            return 0;
        }
        finally
        {
            try
            {
                work.Delete(recursive: true);
            }
            catch (IOException)
            {
            }
        }
    }

    /// <summary>The run's pictures: invoke latency (histogram and CDF), publish latency (CDF), failover per kill.</summary>
    private static void DrawCharts(Results results, HarnessSettings s, string directory)
    {
        var folder = new ChartFolder(directory);
        string run = s.Quick ? "--quick run" : "full run";
        var invoke = new List<ChartSeries>();
        if (s.Runs("cc")) invoke.Add(new ChartSeries("ClusterClient", results.Ours.SeqAlone.SortedUs));
        if (results.RawTcp is { } tcp) invoke.Add(new ChartSeries("raw TCP echo", tcp.SeqAlone.SortedUs));
        if (results.RawUds is { } uds) invoke.Add(new ChartSeries("raw UDS echo", uds.SeqAlone.SortedUs));
        if (results.Node is { } node) invoke.Add(new ChartSeries("Node cluster-client", node.SeqAlone.SortedUs));
        var written = new List<string>();
        if (invoke.Count > 0)
        {
            string title = $"Sequential invoke, 1 follower alone ({run}, {s.SequentialCalls} calls)";
            written.Add(folder.Histogram("harness-invoke-latency-histogram.png", title, "round trip (µs)", "µs", invoke));
            written.Add(folder.Cdf("harness-invoke-latency-cdf.png", title, "round trip (µs)", "µs", invoke));
        }
        if (s.Runs("cc"))
        {
            var publish = new List<ChartSeries> { new("ClusterClient", results.Ours.PublishAllUs) };
            if (results.Node is { } n) publish.Add(new ChartSeries("Node cluster-client", n.PublishAllUs));
            written.Add(folder.Cdf("harness-publish-latency-cdf.png", $"Publish → all {s.Followers} followers ({run}, {s.Publications} publications)",
                "publish → last follower's listener (µs)", "µs", publish));
            if (results.Ours.FailoverPerKill.Count > 0)
                written.Add(folder.FailoverPerKill("harness-failover-per-kill.png", $"ClusterClient failover per leader kill ({s.Followers} followers, {run})", results.Ours.FailoverPerKill));
        }
        foreach (var path in written) Log($"chart {path}");
    }

    internal static void Log(string message) => Console.Error.WriteLine($"[{DateTime.Now:HH:mm:ss}] {message}");

    internal static string Load()
    {
        try
        {
            var parts = File.ReadAllText("/proc/loadavg").Split(' ');
            return $"{parts[0]} {parts[1]} {parts[2]}";
        }
        catch (IOException)
        {
            return "unknown";
        }
    }

    internal static string RepoRoot()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
            if (File.Exists(Path.Combine(dir.FullName, "ClusterClient.sln"))) return dir.FullName;
        throw new InvalidOperationException("Run the harness from inside the repository (ClusterClient.sln not found above " + AppContext.BaseDirectory + ").");
    }

    /// <summary>Node and cluster-client 3.7.0 (installed into bench/node, which git ignores), or why not.</summary>
    internal static async Task<(Implementation?, string)> FindNodeAsync()
    {
        string nodeDir = Path.Combine(RepoRoot(), "bench", "node");
        string script = Path.Combine(AppContext.BaseDirectory, "NodeWorker", "cluster-client-worker.js");
        try
        {
            var (code, version) = await RunToEndAsync("node", ["--version"], TimeSpan.FromSeconds(20)).ConfigureAwait(false);
            if (code != 0) return (null, "`node --version` failed");
            Log($"node {version.Trim()}");
        }
        catch (System.ComponentModel.Win32Exception)
        {
            return (null, "Node is not installed (no `node` on PATH)");
        }
        string package = Path.Combine(nodeDir, "node_modules", "cluster-client", "package.json");
        if (!File.Exists(package) || !File.ReadAllText(package).Contains("\"version\": \"3.7.0\"", StringComparison.Ordinal))
        {
            Directory.CreateDirectory(nodeDir);
            Log("installing cluster-client@3.7.0 into bench/node ...");
            try
            {
                var (code, output) = await RunToEndAsync("npm", ["install", "--prefix", nodeDir, "--no-audit", "--no-fund", "--save-exact", "cluster-client@3.7.0"], TimeSpan.FromMinutes(3)).ConfigureAwait(false);
                if (code != 0 || !File.Exists(package)) return (null, "npm install cluster-client@3.7.0 failed: " + output.ReplaceLineEndings(" ").Trim());
            }
            catch (Exception ex) when (ex is System.ComponentModel.Win32Exception or TimeoutException)
            {
                return (null, "npm install cluster-client@3.7.0 failed: " + ex.Message);
            }
        }
        var env = new Dictionary<string, string> { ["NODE_PATH"] = Path.Combine(nodeDir, "node_modules") };
        return (new Implementation("Node cluster-client 3.7.0",
            port => WorkerProcess.Start("node-worker", "node", ["--expose-gc", script, port.ToString(CultureInfo.InvariantCulture)], env)), "");
    }

    private static async Task<(int, string)> RunToEndAsync(string file, string[] args, TimeSpan timeout)
    {
        var outcome = await ProcessCommand.RunToEndAsync(ProcessCommand.ForExecutable(file, args), timeout).ConfigureAwait(false);
        return (outcome.ExitCode, outcome.Stdout + outcome.Stderr);
    }

    /// <summary>Reads one latency in ns a line and returns microseconds.</summary>
    private static IEnumerable<double> ReadMicroseconds(string path) =>
        File.ReadLines(path).Where(l => l.Length > 0).Select(l => long.Parse(l, CultureInfo.InvariantCulture) / 1000.0);

    /// <summary>One leader plus N followers of one implementation through every scenario.</summary>
    private static async Task<ClusterResults> RunClusterAsync(Implementation impl, HarnessSettings s, string work)
    {
        var r = new ClusterResults();
        int port = LoopbackPort.Free();
        var workers = new List<WorkerProcess>();
        try
        {
            Log($"{impl.Name}: starting the leader and {s.Followers} followers on port {port}");
            var leader = impl.Start(port);
            workers.Add(leader);
            await leader.WaitReadyAsync(StartTimeout).ConfigureAwait(false);
            if (!leader.StartedAsLeader) throw new InvalidOperationException($"{impl.Name}: the first worker did not become the leader (is port {port} in use?)");
            r.LeaderColdStartMs = leader.ColdStartMs;
            // One at a time, so each cold start is measured on an otherwise idle cluster.
            for (int i = 0; i < s.Followers; i++)
            {
                var f = impl.Start(port);
                workers.Add(f);
                await f.WaitReadyAsync(StartTimeout).ConfigureAwait(false);
                r.FollowerColdStartMs.Add(f.ColdStartMs);
            }
            var followers = workers.Skip(1).ToList();

            Log($"{impl.Name}: sequential invokes");
            r.SeqAlone = await SequentialAsync([followers[0]], s, work, "alone").ConfigureAwait(false);
            r.SeqAll = await SequentialAsync(followers, s, work, "all").ConfigureAwait(false);

            Log($"{impl.Name}: throughput, {s.InFlight} in flight per follower for {s.ThroughputSeconds} s");
            r.Throughput = await ThroughputAsync(followers, s).ConfigureAwait(false);

            Log($"{impl.Name}: publish -> all followers");
            (r.PublishP50Us, r.PublishP99Us, r.PublishLost, r.PublishEachP50Us, r.PublishAllUs) = await PublishAsync(leader, followers, s, work).ConfigureAwait(false);

            Log($"{impl.Name}: failover, {s.Kills} kills");
            await FailoverAsync(impl, port, workers, s, r).ConfigureAwait(false);
        }
        finally
        {
            await Task.WhenAll(workers.Select(w => w.DisposeAsync().AsTask())).ConfigureAwait(false);
        }
        return r;
    }

    private static async Task<Latency> SequentialAsync(List<WorkerProcess> callers, HarnessSettings s, string work, string tag)
    {
        var paths = callers.Select((w, i) => Path.Combine(work, $"seq-{tag}-{w.Pid}-{i}.txt")).ToList();
        await Task.WhenAll(callers.Select((w, i) => w.CommandAsync($"seq {s.SequentialCalls} {s.Warmup} {paths[i]}", TimeSpan.FromMinutes(5)))).ConfigureAwait(false);
        var sorted = Percentiles.Sorted(paths.SelectMany(ReadMicroseconds));
        return new Latency(Percentiles.NearestRank(sorted, 50), Percentiles.NearestRank(sorted, 99), sorted);
    }

    private static async Task<double> ThroughputAsync(List<WorkerProcess> callers, HarnessSettings s)
    {
        var replies = await Task.WhenAll(callers.Select(w => w.CommandAsync(
            $"tput {s.ThroughputSeconds.ToString(CultureInfo.InvariantCulture)} {s.InFlight}", TimeSpan.FromMinutes(2)))).ConfigureAwait(false);
        double perSecond = 0;
        foreach (var reply in replies)
        {
            var parts = reply.Trim().Split(' ');
            perSecond += long.Parse(parts[0]) / (long.Parse(parts[1]) / 1e9);
        }
        return perSecond;
    }

    private static async Task<(double, double, int, double, List<double>)> PublishAsync(WorkerProcess publisher, List<WorkerProcess> followers, HarnessSettings s, string work)
    {
        await Task.WhenAll(followers.Select(f => f.CommandAsync("sub"))).ConfigureAwait(false);
        // Subscriptions reach the leader asynchronously: publish warm-up ticks until every follower has seen one.
        var deadline = Stopwatch.StartNew();
        for (int i = 1; ; i++)
        {
            await publisher.CommandAsync($"pub 1 0 -{i}").ConfigureAwait(false);
            await Task.Delay(50).ConfigureAwait(false);
            var counts = await Task.WhenAll(followers.Select(f => f.CommandAsync("subcount"))).ConfigureAwait(false);
            if (counts.All(c => long.Parse(c) > 0) && i >= 20) break;
            if (deadline.Elapsed > TimeSpan.FromSeconds(30)) throw new TimeoutException("publish warm-up: not every follower received a tick within 30 s");
        }
        await Task.WhenAll(followers.Select(f => f.CommandAsync($"pubreport {Path.Combine(work, "discard.txt")}"))).ConfigureAwait(false);
        await publisher.CommandAsync($"pub {s.Publications} {s.PublishIntervalUs} 0", TimeSpan.FromMinutes(2)).ConfigureAwait(false);
        await Task.Delay(1000).ConfigureAwait(false);

        var bySequence = new Dictionary<long, (int Count, double MaxUs)>();
        var each = new List<double>();
        foreach (var f in followers)
        {
            string path = Path.Combine(work, $"pub-{f.Pid}.txt");
            await f.CommandAsync($"pubreport {path}").ConfigureAwait(false);
            var mine = Percentiles.Sorted(File.ReadLines(path).Where(l => l.Length > 0).Select(l => long.Parse(l.Split(' ')[1]) / 1000.0));
            if (s.Verbose) Log($"  publish to pid {f.Pid}: {mine.Count} received, p50 {Percentiles.NearestRank(mine, 50):0} µs, p99 {Percentiles.NearestRank(mine, 99):0} µs");
            foreach (var line in File.ReadLines(path).Where(l => l.Length > 0))
            {
                var parts = line.Split(' ');
                long seq = long.Parse(parts[0]);
                double us = long.Parse(parts[1]) / 1000.0;
                if (seq >= 0) each.Add(us);
                var cur = bySequence.GetValueOrDefault(seq);
                bySequence[seq] = (cur.Count + 1, Math.Max(cur.MaxUs, us));
            }
        }
        var complete = bySequence.Values.Where(v => v.Count == followers.Count).Select(v => v.MaxUs);
        var sorted = Percentiles.Sorted(complete);
        int lost = s.Publications - sorted.Count;
        return (Percentiles.NearestRank(sorted, 50), Percentiles.NearestRank(sorted, 99), lost, Percentiles.NearestRank(Percentiles.Sorted(each), 50), sorted);
    }

    private static async Task FailoverAsync(Implementation impl, int port, List<WorkerProcess> workers, HarnessSettings s, ClusterResults r)
    {
        await Task.WhenAll(workers.Select(w => w.CommandAsync("loop"))).ConfigureAwait(false);
        await Task.Delay(300).ConfigureAwait(false);
        for (int kill = 0; kill < s.Kills; kill++)
        {
            var alive = workers.Where(w => !w.HasExited).ToList();
            WorkerProcess? leader = null;
            var search = Stopwatch.StartNew();
            while (leader is null)
            {
                var roles = await Task.WhenAll(alive.Select(w => w.CommandAsync("role"))).ConfigureAwait(false);
                int index = Array.FindIndex(roles, x => x.Trim() == "1");
                if (index >= 0) leader = alive[index];
                else if (search.Elapsed > TimeSpan.FromSeconds(30)) throw new TimeoutException($"{impl.Name}: no worker reports being the leader");
                else await Task.Delay(20).ConfigureAwait(false);
            }
            var survivors = alive.Where(w => w != leader).ToList();
            long killedAt = MonotonicClock.Nanoseconds(Stopwatch.GetTimestamp());
            leader.Kill();
            workers.Remove(leader);
            _ = leader.DisposeAsync().AsTask();

            var recovered = new Dictionary<WorkerProcess, (double Ms, int Failures)>();
            var wait = Stopwatch.StartNew();
            while (recovered.Count < survivors.Count && wait.Elapsed < TimeSpan.FromSeconds(30))
            {
                await Task.Delay(10).ConfigureAwait(false);
                foreach (var w in survivors.Where(w => !recovered.ContainsKey(w)))
                {
                    var parts = (await w.CommandAsync($"since {killedAt}").ConfigureAwait(false)).Trim().Split(' ');
                    long end = long.Parse(parts[0]);
                    if (end >= 0) recovered[w] = ((end - killedAt) / 1e6, int.Parse(parts[1]));
                }
            }
            if (recovered.Count < survivors.Count)
            {
                r.FailoverUnrecovered += survivors.Count - recovered.Count;
                Log($"{impl.Name}: kill {kill + 1}: {survivors.Count - recovered.Count} followers had no successful call within 30 s");
            }
            if (recovered.Count > 0)
            {
                r.FailoverSlowestMs.Add(recovered.Values.Max(v => v.Ms));
                r.FailoverAllMs.AddRange(recovered.Values.Select(v => v.Ms));
                r.FailoverPerKill.Add(recovered.Values.Select(v => v.Ms).ToArray());
                r.FailedCallsPerKill.Add(recovered.Values.Sum(v => v.Failures));
            }
            if (s.Verbose)
            {
                Log($"killed pid {leader.Pid} at {killedAt / 1e6:0.000} ms");
                foreach (var (w, v) in recovered) Log($"  pid {w.Pid}: {v.Ms:0.0} ms, {v.Failures} failed; log: {w.StderrTail()}");
            }
            Log($"{impl.Name}: kill {kill + 1}/{s.Kills}: slowest follower {(recovered.Count > 0 ? recovered.Values.Max(v => v.Ms) : double.NaN):0.0} ms, failed calls {recovered.Values.Sum(v => v.Failures)}");

            // Keep the cluster at full size: a new follower replaces the killed leader.
            var replacement = impl.Start(port);
            workers.Add(replacement);
            await replacement.WaitReadyAsync(StartTimeout).ConfigureAwait(false);
            await replacement.CommandAsync("loop").ConfigureAwait(false);
            await Task.Delay(200).ConfigureAwait(false);
        }
    }

    /// <summary>Leader memory with many followers: a leader worker, then a crowd of lightweight followers (see <see cref="Crowd"/>).</summary>
    private static async Task<MemoryResult> MeasureLeaderMemoryAsync(HarnessSettings s)
    {
        int port = LoopbackPort.Free();
        Log($"ClusterClient: leader memory with {s.CrowdSize} followers");
        await using var leader = WorkerProcess.StartThisProgram("cc-leader", ["worker", port.ToString(CultureInfo.InvariantCulture)]);
        await leader.WaitReadyAsync(StartTimeout).ConfigureAwait(false);
        var before = ParseMemory(await leader.CommandAsync("mem").ConfigureAwait(false));
        await using var crowd = WorkerProcess.StartThisProgram("crowd", ["crowd", port.ToString(CultureInfo.InvariantCulture), s.CrowdSize.ToString(CultureInfo.InvariantCulture)]);
        await crowd.WaitReadyAsync(TimeSpan.FromMinutes(3)).ConfigureAwait(false);
        await Task.Delay(1500).ConfigureAwait(false); // a few heartbeat rounds
        var after = ParseMemory(await leader.CommandAsync("mem").ConfigureAwait(false));
        return new MemoryResult(s.CrowdSize, (after.Rss - before.Rss) / (double)s.CrowdSize, (after.Heap - before.Heap) / (double)s.CrowdSize, after.Rss);
    }

    private static (long Rss, long Heap) ParseMemory(string reply)
    {
        var parts = reply.Trim().Split(' ');
        return (long.Parse(parts[0]), long.Parse(parts[1]));
    }

    private static async Task<RawResults> RunRawAsync(string transport, HarnessSettings s, string work)
    {
        string address = transport == "uds" ? Path.Combine(work, "echo.sock") : LoopbackPort.Free().ToString(CultureInfo.InvariantCulture);
        Log($"raw {transport} echo: sequential and throughput");
        var all = new List<WorkerProcess>();
        try
        {
            var server = WorkerProcess.StartThisProgram("raw-server", ["rawserver", transport, address]);
            all.Add(server);
            await server.WaitReadyAsync(StartTimeout).ConfigureAwait(false);
            var clients = new List<WorkerProcess>();
            for (int i = 0; i < s.Followers; i++)
            {
                var c = WorkerProcess.StartThisProgram("raw-client", ["rawclient", transport, address]);
                all.Add(c);
                clients.Add(c);
                await c.WaitReadyAsync(StartTimeout).ConfigureAwait(false);
            }
            return new RawResults
            {
                SeqAlone = await SequentialAsync([clients[0]], s, work, "raw-alone").ConfigureAwait(false),
                SeqAll = await SequentialAsync(clients, s, work, "raw-all").ConfigureAwait(false),
                Throughput = await ThroughputAsync(clients, s).ConfigureAwait(false),
            };
        }
        finally
        {
            await Task.WhenAll(all.Select(w => w.DisposeAsync().AsTask())).ConfigureAwait(false);
        }
    }
}

internal sealed record Implementation(string Name, Func<int, WorkerProcess> Start);

internal readonly record struct Latency(double P50Us, double P99Us, IReadOnlyList<double> SortedUs);

internal sealed record MemoryResult(int Followers, double RssPerFollower, double HeapPerFollower, long RssTotal);

internal sealed class RawResults
{
    public Latency SeqAlone { get; init; }
    public Latency SeqAll { get; init; }
    public double Throughput { get; init; }
}

internal sealed class ClusterResults
{
    public double LeaderColdStartMs { get; set; }
    public List<double> FollowerColdStartMs { get; } = [];
    public Latency SeqAlone { get; set; }
    public Latency SeqAll { get; set; }
    public double Throughput { get; set; }
    public double PublishP50Us { get; set; }
    public double PublishP99Us { get; set; }
    public int PublishLost { get; set; }
    public double PublishEachP50Us { get; set; }
    /// <summary>Publish → all followers, one sample a publication every follower received (the slowest follower's), ascending.</summary>
    public IReadOnlyList<double> PublishAllUs { get; set; } = [];
    /// <summary>For each kill in order, every survivor's time to its first good call.</summary>
    public List<IReadOnlyList<double>> FailoverPerKill { get; } = [];
    public List<double> FailoverSlowestMs { get; } = [];
    public List<double> FailoverAllMs { get; } = [];
    public List<double> FailedCallsPerKill { get; } = [];
    public int FailoverUnrecovered { get; set; }
    public MemoryResult? Memory { get; set; }
}
