using System.Text.Json;

namespace ClusterSharing.IntegrationTests;

/// <summary>
/// Lays what every worker's real client executed (the TestHost's fenced ledger: runs of one fencing token with their
/// first and last time on the machine-wide monotonic clock) on the terms the workers announced, and lists every run
/// that does not belong: a token the process did not hold, or a call that ran after a newer term had begun.
/// </summary>
internal static class FencedLedgerAudit
{
    /// <summary>What was executed (and without a token) and every violation found.</summary>
    public sealed record Outcome(long Executed, long Tokenless, IReadOnlyList<string> Violations);

    /// <summary>One term as its holder announced it: (epoch, pid, when it began).</summary>
    public sealed record Term(long Epoch, int Pid, double Ts);

    public static Term[] Terms(IEnumerable<HostProcess> hosts) =>
        hosts.SelectMany(h => h.Events("leader-changed"))
            .Where(l => l.GetProperty("leader").GetBoolean())
            .Select(l => new Term(l.GetProperty("epoch").GetInt64(), l.GetProperty("pid").GetInt32(), l.GetProperty("ts").GetDouble()))
            .ToArray();

    /// <summary>How many calls <paramref name="host"/>'s real client ran under <paramref name="token"/> so far.</summary>
    public static async Task<long> ExecutedUnderAsync(HostProcess host, long token)
    {
        long count = 0;
        foreach (var run in Replies.Value(await host.RequestAsync("ledger").ConfigureAwait(false)).EnumerateArray())
            if (run.GetProperty("token").GetInt64() == token) count += run.GetProperty("count").GetInt64();
        return count;
    }

    public static async Task<Outcome> CheckAsync(IReadOnlyList<HostProcess> hosts)
    {
        var terms = Terms(hosts);
        long executed = 0, tokenless = 0;
        var violations = new List<string>();
        foreach (var host in hosts)
        {
            foreach (var run in Replies.Value(await host.RequestAsync("ledger").ConfigureAwait(false)).EnumerateArray())
            {
                long token = run.GetProperty("token").GetInt64(), count = run.GetProperty("count").GetInt64();
                double lastTs = run.GetProperty("lastTs").GetDouble();
                executed += count;
                if (token == 0)
                {
                    tokenless += count; // a direct call on the leader's own real client (the proxy's shortcut) carries no token
                    continue;
                }
                var term = terms.Where(t => t.Epoch == token).ToArray();
                if (term.Length != 1 || term[0].Pid != host.Pid)
                    violations.Add($"{host.Label} (pid {host.Pid}) ran {count} calls under token {token}, which it did not hold ({string.Join(", ", term.Select(t => $"pid {t.Pid}"))})");
                var newer = terms.Where(t => t.Epoch > token).Select(t => t.Ts).DefaultIfEmpty(double.PositiveInfinity).Min();
                if (lastTs >= newer)
                    violations.Add($"{host.Label} (pid {host.Pid}) ran a call under token {token} {lastTs - newer:0.0} ms after a newer term began: {run.GetRawText()}");
            }
        }
        return new Outcome(executed, tokenless, violations);
    }

    /// <summary>
    /// The end of a stop-and-resume test: audits every ledger, writes the summary, and asserts that nothing ran outside
    /// its term and that no call was reported as not sent (a refused call is retried, never surfaced). Answers what was
    /// executed and on how many connections a resumed leader refused calls (event 4008), for the test's own asserts.
    /// </summary>
    public static async Task<(long Executed, int Refusals)> AssertFencedAsync(HostCluster cluster, int rounds, long successes,
        Dictionary<string, long> failures, Xunit.Abstractions.ITestOutputHelper output)
    {
        var (executed, tokenless, violations) = await CheckAsync(cluster.Hosts).ConfigureAwait(false);
        int refusals = cluster.Hosts.Sum(h => h.FencingRefusalLines);
        output.WriteLine($"{rounds} rounds: {executed} executions ({tokenless} without a token), {successes} stamp pairs succeeded; " +
                         $"failures: {string.Join(", ", failures.Select(f => $"{f.Key} {f.Value}"))}; deposed leaders refused calls on {refusals} connections");
        Assert.True(violations.Count == 0, string.Join("\n", violations) + "\n" + cluster.DescribeAll());
        Assert.False(failures.ContainsKey("LeaderLostException(sent=False)"), string.Join(", ", failures));
        return (executed, refusals);
    }

    /// <summary>Adds a stamp-stop report's failures (by exception type) to <paramref name="failures"/>; returns its successes.</summary>
    public static long AddStampReport(JsonElement report, Dictionary<string, long> failures)
    {
        foreach (var failure in report.GetProperty("failures").EnumerateObject())
            failures[failure.Name] = failures.GetValueOrDefault(failure.Name) + failure.Value.GetInt64();
        return report.GetProperty("successes").GetInt64();
    }
}
