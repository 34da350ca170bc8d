using System.Diagnostics;
using System.Globalization;
using System.Text.Json;
using Spectre.Console;

namespace ClusterSharing.Demo;

/// <summary>
/// Leadership per key: a worker joins (so four run), every worker holds the same 10 keys, each key gets exactly one
/// owner; then a worker that owns keys is killed and its keys move to the others (docs/keys.md).
/// </summary>
internal sealed class KeysSection(List<WorkerProcess> workers, int port, Action<bool, string> check)
{
    private static readonly string[] Keys = [.. Enumerable.Range(0, 10).Select(i => $"job-{i}")];

    /// <summary>The worker side: <c>keys-add K,K,...</c> holds keys; <c>keys-owned</c> answers what this worker owns and the owner view.</summary>
    public static void Execute(ClusterClient<IUpstreamClient> cluster, string command, string argument, Action<Action<Utf8JsonWriter>> reply)
    {
        var membership = cluster.Membership;
        switch (command)
        {
            case "keys-add":
                foreach (var key in argument.Split(',')) membership.AddKey(key);
                reply(_ => { });
                break;
            case "keys-owned":
                reply(w =>
                {
                    w.WriteString("member", membership.LocalId);
                    w.WriteBoolean("leader", cluster.IsLeader);
                    w.WriteStartArray("owned");
                    foreach (var key in membership.Keys.Where(membership.IsLeaderFor).Order(StringComparer.Ordinal)) w.WriteStringValue(key);
                    w.WriteEndArray();
                    w.WriteStartObject("view");
                    foreach (var (key, owner) in membership.KeyOwners) w.WriteString(key, owner);
                    w.WriteEndObject();
                });
                break;
            default:
                throw new ArgumentException($"Unknown command '{command}'.");
        }
    }

    public async Task RunAsync(CancellationToken cancellationToken)
    {
        AnsiConsole.Write(new Rule("Leadership per key: 10 keys over 4 workers, one killed").LeftJustified());
        var live = workers.Where(w => !w.Killed).ToList();
        var joiner = WorkerProcess.Start(port, workers.Count + 1);
        workers.Add(joiner);
        await joiner.WaitForEventAsync(e => e.TryGetProperty("event", out var v) && v.ValueEquals("ready"), cancellationToken);
        live.Add(joiner);
        foreach (var w in live) await w.RequestAsync("keys-add " + string.Join(",", Keys), cancellationToken);

        var before = await AgreedAsync(live, cancellationToken);
        var table = new Table().AddColumns("Worker", "PID", "Role", "Keys it owns");
        foreach (var w in live)
            table.AddRow(S(w.Index), S(w.Pid), before[w].Leader ? "leader" : "follower", string.Join(" ", before[w].Owned));
        AnsiConsole.Write(table);
        check(true, $"10 keys over {live.Count} workers: each key has exactly one owner, and every worker's owner view agrees.");

        var victim = live.Where(w => !before[w].Leader).MaxBy(w => before[w].Owned.Count)!;
        var moved = before[victim].Owned;
        var watch = Stopwatch.StartNew();
        victim.Kill();
        AnsiConsole.MarkupLine($"[red]SIGKILL[/] sent to worker {victim.Index} (pid {victim.Pid}), owner of {string.Join(" ", moved)}.");
        live.Remove(victim);
        var after = await AgreedAsync(live, cancellationToken);
        double ms = watch.Elapsed.TotalMilliseconds;
        table = new Table().AddColumns("Worker", "PID", "Keys it owns", "Taken over");
        foreach (var w in live)
            table.AddRow(S(w.Index), S(w.Pid), string.Join(" ", after[w].Owned), string.Join(" ", after[w].Owned.Intersect(moved)));
        AnsiConsole.Write(table);
        bool othersStayed = live.All(w => before[w].Owned.All(after[w].Owned.Contains));
        check(othersStayed, $"The killed worker's {moved.Count} keys moved to the others in {ms:0} ms (its lease: 3 heartbeats, then the handover); no other key moved.");
    }

    private sealed record Report(string Member, bool Leader, List<string> Owned, Dictionary<string, string> View);

    /// <summary>Polls until every key is owned by exactly one live worker and every worker's view says so.</summary>
    private static async Task<Dictionary<WorkerProcess, Report>> AgreedAsync(List<WorkerProcess> live, CancellationToken cancellationToken)
    {
        var deadline = Stopwatch.StartNew();
        while (true)
        {
            var reports = new Dictionary<WorkerProcess, Report>();
            foreach (var w in live)
            {
                var v = await w.RequestAsync("keys-owned", cancellationToken);
                reports[w] = new Report(v.GetProperty("member").GetString()!, v.GetProperty("leader").GetBoolean(),
                    [.. v.GetProperty("owned").EnumerateArray().Select(k => k.GetString()!)],
                    v.GetProperty("view").EnumerateObject().ToDictionary(p => p.Name, p => p.Value.GetString()!));
            }
            var owners = Keys.ToDictionary(k => k, k => reports.Values.Where(r => r.Owned.Contains(k)).Select(r => r.Member).ToList());
            bool once = owners.Values.All(o => o.Count == 1);
            if (once && reports.Values.All(r => Keys.All(k => r.View.GetValueOrDefault(k) == owners[k][0]))) return reports;
            if (deadline.Elapsed > TimeSpan.FromSeconds(30))
                throw new TimeoutException("The workers did not agree on one owner per key within 30 s.");
            await Task.Delay(50, cancellationToken);
        }
    }

    private static string S(long value) => value.ToString(CultureInfo.InvariantCulture);
}
