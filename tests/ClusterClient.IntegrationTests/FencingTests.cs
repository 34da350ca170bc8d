using System.Globalization;
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
                    successes += FencedLedgerAudit.AddStampReport(Replies.Value(await host.RequestAsync("stamp-stop", TimeSpan.FromSeconds(90))), failures);
            }
            finally
            {
                await HungLeaderTests.SignalAsync(leader.Pid, "CONT");
            }
            await leader.WaitForEventAsync("leader-changed", l => !l.GetProperty("leader").GetBoolean(), TimeSpan.FromSeconds(60), from: marks[leader]);
            output.WriteLine($"round {round}: pid {leader.Pid} stopped and deposed, pid {winner.Pid} leads");
            leader = winner;
        }

        var (executed, _) = await FencedLedgerAudit.AssertFencedAsync(cluster, rounds, successes, failures, output);
        Assert.True(executed > 0, "Nothing was executed: the test did not exercise the cluster.\n" + cluster.DescribeAll());
    }
}
