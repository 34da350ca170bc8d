using System.Globalization;
using System.Text.Json;
using Xunit.Abstractions;

namespace ClusterSharing.IntegrationTests;

/// <summary>
/// Fencing (issue 11, finding 8): a leader that was stopped (SIGSTOP) and replaced finds, when it resumes (SIGCONT),
/// the calls its followers sent it while it was stopped waiting in its socket buffers. It must run none of them: it
/// confirms its term before each dispatch, refuses them unrun (the followers retry them on the new leader) and
/// steps down. The real client counts what it executes by fencing token, on the monotonic clock all processes share.
/// </summary>
public sealed class FencingTests(ITestOutputHelper output)
{
    private const int HeartbeatMs = 300;

    private static readonly string[] Flags =
        ["--heartbeat-ms", HeartbeatMs.ToString(CultureInfo.InvariantCulture), "--max-wait-ms", "30000", "--response-timeout-ms", "30000",
         "--connect-timeout-ms", "3000", "--log"];

    [Fact]
    public async Task A_deposed_leader_runs_none_of_the_calls_waiting_for_it_when_it_resumes_twenty_rounds()
    {
        Assert.True(OperatingSystem.IsLinux() || OperatingSystem.IsMacOS(), "This test pauses processes with SIGSTOP (Linux, macOS).");
        const int rounds = 20;
        await using var cluster = new HostCluster(Flags);
        var (leader, _) = await cluster.StartReadyAsync(3);
        var failures = new Dictionary<string, long>(StringComparer.Ordinal);
        long successes = 0;
        for (int round = 1; round <= rounds; round++)
        {
            var hosts = cluster.Hosts;
            var others = hosts.Where(h => h != leader).ToArray();
            var marks = hosts.ToDictionary(h => h, h => h.LineCount);

            // The leader is idle when it stops (no call half-dispatched); then the others call it: their first oneway and
            // invoke wait in its socket buffers, the invoke fails once it is declared dead, and later calls go to the winner.
            await HungLeaderTests.SignalAsync(leader.Pid, "STOP");
            HostProcess winner;
            try
            {
                foreach (var host in others) Replies.Value(await host.RequestAsync("stamp-start"));
                winner = await HungLeaderTests.FirstNewLeaderAsync(others, marks, TimeSpan.FromSeconds(60), cluster);
                foreach (var host in others)
                {
                    var report = Replies.Value(await host.RequestAsync("stamp-stop", TimeSpan.FromSeconds(90)));
                    successes += report.GetProperty("successes").GetInt64();
                    foreach (var failure in report.GetProperty("failures").EnumerateObject())
                        failures[failure.Name] = failures.GetValueOrDefault(failure.Name) + failure.Value.GetInt64();
                }
            }
            finally
            {
                await HungLeaderTests.SignalAsync(leader.Pid, "CONT");
            }
            await leader.WaitForEventAsync("leader-changed", l => !l.GetProperty("leader").GetBoolean(), TimeSpan.FromSeconds(60), from: marks[leader]);
            output.WriteLine($"round {round}: pid {leader.Pid} stopped and deposed, pid {winner.Pid} leads");
            leader = winner;
        }

        // Terms as their holders announced them: (epoch, pid, when it began).
        var terms = cluster.Hosts.SelectMany(h => h.Events("leader-changed"))
            .Where(l => l.GetProperty("leader").GetBoolean())
            .Select(l => (Epoch: l.GetProperty("epoch").GetInt64(), Pid: l.GetProperty("pid").GetInt32(), Ts: l.GetProperty("ts").GetDouble()))
            .ToArray();
        long executed = 0, tokenless = 0;
        var violations = new List<string>();
        foreach (var host in cluster.Hosts)
        {
            foreach (var run in Replies.Value(await host.RequestAsync("ledger")).EnumerateArray())
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
        int refusals = cluster.Hosts.Sum(h => h.FencingRefusalLines);
        output.WriteLine($"{rounds} rounds: {executed} executions ({tokenless} without a token), {successes} stamp pairs succeeded; " +
                         $"failures: {string.Join(", ", failures.Select(f => $"{f.Key} {f.Value}"))}; deposed leaders refused calls on {refusals} connections");
        Assert.True(violations.Count == 0, string.Join("\n", violations) + "\n" + cluster.DescribeAll());
        Assert.True(executed > 0, "Nothing was executed: the test did not exercise the cluster.\n" + cluster.DescribeAll());
        // A refused call is retried on the new leader, never surfaced as "not sent".
        Assert.False(failures.ContainsKey("LeaderLostException(sent=False)"), string.Join(", ", failures));
    }
}
