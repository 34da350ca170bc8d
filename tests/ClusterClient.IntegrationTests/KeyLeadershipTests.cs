using System.Diagnostics;
using System.Globalization;
using Xunit.Abstractions;

namespace ClusterSharing.IntegrationTests;

/// <summary>
/// Leadership per key between real worker processes on one machine. Every worker works on 12 keys and, every 20 ms,
/// appends (key, member, pid, epoch, CLOCK_MONOTONIC ns) for each key it owns to its own file; the timestamp is taken
/// before the lease check, so each line proves ownership at that instant. All processes on one machine read the same
/// monotonic clock (Stopwatch.GetTimestamp is CLOCK_MONOTONIC on Linux), so the auditor can compare lines across files.
/// </summary>
public sealed class KeyLeadershipTests
{
    private const int HeartbeatMs = 500;

    private static readonly string[] Common = ["--heartbeat-ms", "500", "--max-wait-ms", "30000", "--response-timeout-ms", "20000"];

    private static readonly string[] Keys = [.. Enumerable.Range(0, 12).Select(i => $"job-{i}")];

    private readonly ITestOutputHelper _output;

    public KeyLeadershipTests(ITestOutputHelper output) => _output = output;

    private Func<string>? Describe { get; set; }

    private sealed record Tick(string Key, string Member, int Pid, long Epoch, long Ns);

    private static long NowNs() => (long)(Stopwatch.GetTimestamp() * (1_000_000_000.0 / Stopwatch.Frequency));

    private static List<Tick> ReadTicks(string directory)
    {
        var ticks = new List<Tick>();
        foreach (var file in Directory.GetFiles(directory, "*.log"))
        {
            using var stream = new FileStream(file, FileMode.Open, FileAccess.Read, FileShare.ReadWrite);
            using var reader = new StreamReader(stream);
            while (reader.ReadLine() is { } line)
            {
                var p = line.Split(' ');
                if (p.Length != 5 || !long.TryParse(p[4], CultureInfo.InvariantCulture, out long ns)) continue; // a line cut by SIGKILL
                ticks.Add(new Tick(p[0], p[1], int.Parse(p[2], CultureInfo.InvariantCulture), long.Parse(p[3], CultureInfo.InvariantCulture), ns));
            }
        }
        return ticks;
    }

    /// <summary>Waits until every key was worked on after <paramref name="afterNs"/> by a process other than <paramref name="notPid"/>; returns the longest wait per key (ms) for the keys <paramref name="notPid"/> last owned.</summary>
    private async Task<double> WaitAllOwnedAsync(string directory, long afterNs, int notPid, string what, int timeoutMs = 60_000)
    {
        var watch = Stopwatch.StartNew();
        while (true)
        {
            var ticks = ReadTicks(directory);
            var after = ticks.Where(t => t.Ns > afterNs && t.Pid != notPid).GroupBy(t => t.Key).ToDictionary(g => g.Key, g => g.Min(t => t.Ns));
            if (Keys.All(after.ContainsKey))
            {
                // The keys whose last owner before the event was that process.
                var victims = ticks.Where(t => t.Ns <= afterNs).GroupBy(t => t.Key).Where(g => g.MaxBy(t => t.Ns)!.Pid == notPid).Select(g => g.Key).ToList();
                double worst = victims.Count == 0 ? 0 : victims.Max(k => (after[k] - afterNs) / 1e6);
                _output.WriteLine($"{what}: every key owned again; the {victims.Count} keys of pid {notPid} within {worst:0} ms");
                return worst;
            }
            if (watch.ElapsedMilliseconds > timeoutMs)
            {
                var last = ticks.GroupBy(t => t.Key).Select(g => $"{g.Key}: last pid {g.MaxBy(t => t.Ns)!.Pid} at {(g.Max(t => t.Ns) - afterNs) / 1e6:0} ms");
                throw new Xunit.Sdk.XunitException($"{what}: keys {string.Join(",", Keys.Where(k => !after.ContainsKey(k)))} not owned again within {timeoutMs} ms.\n{string.Join("\n", last)}\n{Describe?.Invoke()}");
            }
            await Task.Delay(100);
        }
    }

    /// <summary>Per key, the span of each (process, epoch) from its first to its last line; consecutive spans must not overlap.</summary>
    private static (int Spans, List<string> Overlaps) Audit(List<Tick> ticks)
    {
        var overlaps = new List<string>();
        int spans = 0;
        foreach (var byKey in ticks.GroupBy(t => t.Key))
        {
            var list = byKey.GroupBy(t => (t.Pid, t.Epoch)).Select(g => (g.Key.Pid, g.Key.Epoch, Start: g.Min(t => t.Ns), Stop: g.Max(t => t.Ns)))
                .OrderBy(s => s.Start).ToList();
            spans += list.Count;
            for (int i = 1; i < list.Count; i++)
            {
                var (prev, next) = (list[i - 1], list[i]);
                if (prev.Stop >= next.Start)
                    overlaps.Add($"{byKey.Key}: pid {prev.Pid} epoch {prev.Epoch} until {prev.Stop} overlaps pid {next.Pid} epoch {next.Epoch} from {next.Start}");
                if (next.Epoch <= prev.Epoch)
                    overlaps.Add($"{byKey.Key}: epoch went from {prev.Epoch} (pid {prev.Pid}) to {next.Epoch} (pid {next.Pid})");
            }
        }
        return (spans, overlaps);
    }

    private static async Task StartWorkAsync(HostProcess host, string directory) =>
        Replies.Value(await host.RequestAsync($"key-work {Path.Combine(directory, $"worker-{host.Pid}.log")} {string.Join(",", Keys)}"));

    private static HostProcess OwnerOfMost(IEnumerable<HostProcess> hosts, List<Tick> ticks, long sinceNs)
    {
        var recent = ticks.Where(t => t.Ns > sinceNs).GroupBy(t => t.Pid).ToDictionary(g => g.Key, g => g.Select(t => t.Key).Distinct().Count());
        return hosts.OrderByDescending(h => recent.GetValueOrDefault(h.Pid)).First();
    }

    [Fact]
    public async Task Never_two_owners_of_a_key_across_joins_leaves_kills_and_stops_and_every_key_is_owned_again()
    {
        Assert.True(OperatingSystem.IsLinux() || OperatingSystem.IsMacOS(), "This test pauses processes with SIGSTOP (Linux, macOS).");
        await using var cluster = new HostCluster([.. Common, "--log"]);
        await RunScenarioAsync(cluster, () => cluster.StartReadyAsync(5), () => cluster.Start());
    }

    [Fact]
    public async Task On_etcd_never_two_owners_of_a_key_across_machines_joins_leaves_kills_and_stops()
    {
        Assert.True(OperatingSystem.IsLinux() || OperatingSystem.IsMacOS(), "This test pauses processes with SIGSTOP (Linux, macOS).");
        await using var etcd = await ClusterSharing.EngineTests.Coordination.Etcd.EtcdServer.StartAsync();
        await using var cluster = new HostCluster([.. EtcdMachines.Arguments(etcd), "--heartbeat-ms", "500", "--log"]);
        await RunScenarioAsync(cluster, () => StartMachinesAsync(cluster), () => cluster.Start("--bind", "127.0.0.5"));
    }

    [Fact]
    public async Task On_redis_never_two_owners_of_a_key_across_machines_joins_leaves_kills_and_stops()
    {
        Assert.True(OperatingSystem.IsLinux() || OperatingSystem.IsMacOS(), "This test pauses processes with SIGSTOP (Linux, macOS).");
        await using var redis = await ClusterSharing.EngineTests.Coordination.Redis.RedisServer.StartAsync();
        await using var cluster = new HostCluster([.. RedisClusterTests.Arguments(redis), "--heartbeat-ms", "500", "--log"]);
        await RunScenarioAsync(cluster, () => StartMachinesAsync(cluster), () => cluster.Start("--bind", "127.0.0.5"));
    }

    /// <summary>Four "machines" on 127.0.0.1-4 of a cluster scope, split into the one leader and the others.</summary>
    private static async Task<(HostProcess Leader, HostProcess[] Followers)> StartMachinesAsync(HostCluster cluster)
    {
        var hosts = (await EtcdMachines.StartAsync(cluster, ["127.0.0.1", "127.0.0.2", "127.0.0.3", "127.0.0.4"])).Select(h => h.Host).ToArray();
        var leader = await EtcdMachines.CurrentLeaderAsync(cluster, hosts);
        return (leader, hosts.Where(h => h != leader).ToArray());
    }

    private async Task RunScenarioAsync(HostCluster cluster, Func<Task<(HostProcess Leader, HostProcess[] Followers)>> startAll, Func<HostProcess> startOne)
    {
        var directory = Directory.CreateTempSubdirectory("cc-keys-").FullName;
        try
        {
            Describe = () => string.Join("\n", cluster.Hosts.Select(h => h.Label + " pid " + h.Pid + "\n" + h.StderrTail(30)));
            var (leader, followers) = await startAll();
            var live = new List<HostProcess> { leader };
            live.AddRange(followers);
            foreach (var host in live) await StartWorkAsync(host, directory);
            await WaitAllOwnedAsync(directory, NowNs(), 0, "start");

            // A join: keys move to the new worker, fenced.
            var joiner = startOne();
            await HostCluster.WaitReadyAsync(joiner);
            await StartWorkAsync(joiner, directory);
            live.Add(joiner);
            await Task.Delay(3 * HeartbeatMs);
            await WaitAllOwnedAsync(directory, NowNs(), 0, "after a join");

            // A graceful leave.
            var leaving = live.Where(h => h != leader).First();
            long leftAt = NowNs();
            Replies.Value(await leaving.RequestAsync("close"));
            live.Remove(leaving);
            await WaitAllOwnedAsync(directory, leftAt, leaving.Pid, "after a graceful leave");

            // kill -9 of the follower that owns the most keys.
            long since = NowNs();
            await Task.Delay(500);
            var victim = OwnerOfMost(live.Where(h => h != leader), ReadTicks(directory), since);
            victim.Kill();
            long killedAt = NowNs();
            live.Remove(victim);
            double afterKill = await WaitAllOwnedAsync(directory, killedAt, victim.Pid, "after SIGKILL of an owner");

            // SIGSTOP of an owner: its lease lapses, its keys move; it resumes and must not work on them any more.
            since = NowNs();
            await Task.Delay(500);
            var stopped = OwnerOfMost(live.Where(h => h != leader), ReadTicks(directory), since);
            await HungLeaderTests.SignalAsync(stopped.Pid, "STOP");
            long stoppedAt = NowNs();
            double afterStop;
            try
            {
                afterStop = await WaitAllOwnedAsync(directory, stoppedAt, stopped.Pid, "after SIGSTOP of an owner");
            }
            finally
            {
                await HungLeaderTests.SignalAsync(stopped.Pid, "CONT");
            }
            await Task.Delay(4 * HeartbeatMs);

            // kill -9 of the leader (an owner too): the new leader grants nothing before the old leases expired.
            leader.Kill();
            long leaderKilledAt = NowNs();
            live.Remove(leader);
            double afterLeaderKill = await WaitAllOwnedAsync(directory, leaderKilledAt, leader.Pid, "after SIGKILL of the leader");
            await Task.Delay(2 * HeartbeatMs);

            var ticks = ReadTicks(directory);
            var (spans, overlaps) = Audit(ticks);
            _output.WriteLine($"audit: {ticks.Count} lines, {spans} ownership spans over {Keys.Length} keys, {overlaps.Count} overlaps");
            _output.WriteLine($"keys owned again after: SIGKILL {afterKill:0} ms, SIGSTOP {afterStop:0} ms, leader SIGKILL {afterLeaderKill:0} ms (heartbeat {HeartbeatMs} ms)");
            Assert.True(overlaps.Count == 0, string.Join("\n", overlaps.Take(20)));
            Assert.True(spans > Keys.Length, "keys changed owners during the test");
            // Documented bound for an owner's death: Lease + Margin (3.5 heartbeats) plus a timer tick; generous here for a loaded machine.
            Assert.True(afterKill < 20_000 && afterStop < 20_000, $"keys were unowned too long: {afterKill:0} / {afterStop:0} ms");
        }
        finally
        {
            try { Directory.Delete(directory, recursive: true); } catch (IOException) { }
        }
    }
}
