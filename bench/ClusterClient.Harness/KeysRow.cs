using System.CommandLine;
using System.Diagnostics;
using System.Globalization;

namespace ClusterSharing.Harness;

/// <summary>
/// Leadership per key (<c>Harness keys</c>): N processes hold the same K keys; the time for every member to agree on
/// the owners (identical owner views, every key owned by exactly one process) after a join, a graceful leave and a
/// SIGKILL, and the fraction of keys that moved each time (rendezvous hashing: about 1/N).
/// </summary>
internal static class KeysRow
{
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(120);

    public static Command BuildCommand()
    {
        var processes = NumberOption.Create("--processes", 8, "Processes after the join.", 2, 64);
        var keys = NumberOption.Create("--keys", 10_000, "Keys every process holds.", 1, 100_000);
        var heartbeat = NumberOption.Create("--heartbeat-ms", 1000, "HeartbeatInterval of every process.", 50, 10_000);
        var command = new Command("keys", "Leadership per key: agreement time and keys moved after a join, a leave and a SIGKILL.") { processes, keys, heartbeat };
        command.Hidden = true; // docs/benchmarks.md names it
        command.SetAction((r, _) => RunAsync(r.GetValue(processes), r.GetValue(keys), r.GetValue(heartbeat)));
        return command;
    }

    /// <summary>The child: a member without a client that holds keys and reports its owner view.</summary>
    public static Command BuildWorkerCommand()
    {
        var port = new Argument<int>("port");
        var heartbeat = new Argument<int>("heartbeat-ms");
        var command = new Command("keysworker", "A member holding keys, driven over stdin/stdout.") { port, heartbeat };
        command.Hidden = true;
        command.SetAction((r, _) => WorkerAsync(r.GetValue(port), r.GetValue(heartbeat)));
        return command;
    }

    private static async Task<int> WorkerAsync(int port, int heartbeatMs)
    {
        await using var membership = await ClusterMembership.JoinAsync(o =>
        {
            o.Port = port;
            o.MaxWaitTime = Timeout;
            o.HeartbeatInterval = TimeSpan.FromMilliseconds(heartbeatMs);
        }).ConfigureAwait(false);
        StdoutLines.WriteLine(LineHost.Invariant($"ready {MonotonicClock.Nanoseconds(Stopwatch.GetTimestamp())} {(membership.Leader?.Id == membership.LocalId ? 1 : 0)} {Environment.ProcessId}"));
        await LineHost.RunAsync(c => Task.FromResult(c[0] switch
        {
            "id" => membership.LocalId,
            "add" => Add(membership, int.Parse(c[1], CultureInfo.InvariantCulture)),
            // count of keys in the view, a hash of the view, keys this process owns now
            "digest" => Digest(membership),
            "dump" => string.Join(" ", membership.KeyOwners.OrderBy(o => o.Key, StringComparer.Ordinal).Select(o => o.Key + "=" + o.Value)),
            "leader" => membership.Leader?.Id == membership.LocalId ? "1" : "0",
            _ => throw new ArgumentException($"unknown command {c[0]}"),
        })).ConfigureAwait(false);
        return 0;
    }

    private static string Add(ClusterMembership membership, int count)
    {
        for (int i = 0; i < count; i++) membership.AddKey(Key(i));
        return "";
    }

    private static string Key(int i) => "key-" + i.ToString(CultureInfo.InvariantCulture);

    private static string Digest(ClusterMembership membership)
    {
        var owners = membership.KeyOwners;
        ulong hash = 14695981039346656037UL;
        foreach (var (key, owner) in owners.OrderBy(o => o.Key, StringComparer.Ordinal))
        {
            foreach (char ch in key) hash = (hash ^ ch) * 1099511628211UL;
            foreach (char ch in owner) hash = (hash ^ ch) * 1099511628211UL;
        }
        int owned = membership.Keys.Count(membership.IsLeaderFor);
        return LineHost.Invariant($"{owners.Count} {hash:x16} {owned}");
    }

    private static async Task<int> RunAsync(int processes, int keys, int heartbeatMs)
    {
        int port = LoopbackPort.Free();
        var workers = new List<WorkerProcess>();
        try
        {
            Coordinator.Log($"keys: {keys} keys, {processes - 1} then {processes} processes, heartbeat {heartbeatMs} ms; load before: {Coordinator.Load()}");
            WorkerProcess StartOne() => WorkerProcess.StartThisProgram($"keys-{workers.Count + 1}", ["keysworker", port.ToString(CultureInfo.InvariantCulture), heartbeatMs.ToString(CultureInfo.InvariantCulture)]);
            var first = StartOne();
            workers.Add(first);
            await first.WaitReadyAsync(Timeout).ConfigureAwait(false);
            for (int i = 1; i < processes - 1; i++) workers.Add(StartOne());
            await Task.WhenAll(workers.Skip(1).Select(w => w.WaitReadyAsync(Timeout))).ConfigureAwait(false);
            await Task.WhenAll(workers.Select(w => w.CommandAsync($"add {keys}"))).ConfigureAwait(false);
            await AgreeAsync(workers, keys).ConfigureAwait(false);
            var before = await DumpAsync(workers[0]).ConfigureAwait(false);

            // Join.
            var joiner = StartOne();
            workers.Add(joiner);
            await joiner.WaitReadyAsync(Timeout).ConfigureAwait(false);
            string joinerId = await joiner.CommandAsync("id").ConfigureAwait(false);
            var watch = Stopwatch.StartNew();
            await joiner.CommandAsync($"add {keys}").ConfigureAwait(false);
            double joinMs = await AgreeAsync(workers, keys, watch).ConfigureAwait(false);
            var afterJoin = await DumpAsync(workers[0]).ConfigureAwait(false);
            var (joinMoved, joinWrong) = Moved(before, afterJoin, to: joinerId);
            Report("join", processes, keys, joinMs, joinMoved, joinWrong, $"to the new member (expected ~1/{processes})");

            // Graceful leave of a follower (it releases its keys at once).
            var leaving = await FollowerAsync(workers).ConfigureAwait(false);
            string leavingId = await leaving.CommandAsync("id").ConfigureAwait(false);
            watch.Restart();
            await leaving.StopAsync(TimeSpan.FromSeconds(10)).ConfigureAwait(false);
            workers.Remove(leaving);
            double leaveMs = await AgreeAsync(workers, keys, watch).ConfigureAwait(false);
            var afterLeave = await DumpAsync(workers[0]).ConfigureAwait(false);
            var (leaveMoved, leaveWrong) = Moved(afterJoin, afterLeave, from: leavingId);
            Report("graceful leave", processes, keys, leaveMs, leaveMoved, leaveWrong, $"from the member that left (expected ~1/{processes})");

            // SIGKILL of a follower: its keys move once its lease lapsed (3 heartbeats + half of one).
            var victim = await FollowerAsync(workers).ConfigureAwait(false);
            string victimId = await victim.CommandAsync("id").ConfigureAwait(false);
            watch.Restart();
            victim.Kill();
            workers.Remove(victim);
            double killMs = await AgreeAsync(workers, keys, watch).ConfigureAwait(false);
            var afterKill = await DumpAsync(workers[0]).ConfigureAwait(false);
            var (killMoved, killWrong) = Moved(afterLeave, afterKill, from: victimId);
            Report("SIGKILL", processes - 1, keys, killMs, killMoved, killWrong, $"from the killed member (expected ~1/{processes - 1}; lease 3 × {heartbeatMs} ms + {heartbeatMs / 2} ms)");
            Coordinator.Log($"keys: load after: {Coordinator.Load()}");
            return joinWrong + leaveWrong + killWrong == 0 ? 0 : 1;
        }
        finally
        {
            await Task.WhenAll(workers.Select(w => w.StopAsync(TimeSpan.FromSeconds(10)))).ConfigureAwait(false);
        }
    }

    private static void Report(string what, int n, int keys, double ms, int moved, int wrong, string expected) =>
        Coordinator.Log(Invariant($"keys: after a {what}: every member agreed in {ms:0} ms; {moved} of {keys} keys moved ({100.0 * moved / keys:0.0} %) {expected}; {wrong} moved elsewhere"));

    private static async Task<WorkerProcess> FollowerAsync(List<WorkerProcess> workers)
    {
        foreach (var w in workers.Skip(1))
        {
            if (await w.CommandAsync("leader").ConfigureAwait(false) == "0") return w;
        }
        throw new InvalidOperationException("no follower found");
    }

    /// <summary>Polls until every process reports the same owner view of every key and the owned counts add up to the keys.</summary>
    private static async Task<double> AgreeAsync(List<WorkerProcess> workers, int keys, Stopwatch? watch = null)
    {
        watch ??= Stopwatch.StartNew();
        while (true)
        {
            var digests = await Task.WhenAll(workers.Select(w => w.CommandAsync("digest"))).ConfigureAwait(false);
            double at = watch.Elapsed.TotalMilliseconds;
            var parts = digests.Select(d => d.Split(' ')).ToArray();
            if (parts.All(p => p[0] == keys.ToString(CultureInfo.InvariantCulture) && p[1] == parts[0][1]) && parts.Sum(p => int.Parse(p[2], CultureInfo.InvariantCulture)) == keys) return at;
            if (watch.Elapsed > Timeout) throw new TimeoutException($"the members did not agree within {Timeout.TotalSeconds:0} s: {string.Join(" | ", digests)}");
            await Task.Delay(10).ConfigureAwait(false);
        }
    }

    private static async Task<Dictionary<string, string>> DumpAsync(WorkerProcess worker) =>
        (await worker.CommandAsync("dump").ConfigureAwait(false)).Split(' ', StringSplitOptions.RemoveEmptyEntries)
            .Select(e => e.Split('=')).ToDictionary(e => e[0], e => e[1]);

    /// <summary>Keys whose owner changed, and how many of them did not move as rendezvous hashing says (to the joiner, or from the leaver).</summary>
    private static (int Moved, int Wrong) Moved(Dictionary<string, string> before, Dictionary<string, string> after, string? to = null, string? from = null)
    {
        int moved = 0, wrong = 0;
        foreach (var (key, owner) in before)
        {
            if (after[key] == owner) continue;
            moved++;
            if ((to is not null && after[key] != to) || (from is not null && owner != from)) wrong++;
        }
        return (moved, wrong);
    }

    private static string Invariant(FormattableString text) => text.ToString(CultureInfo.InvariantCulture);
}
