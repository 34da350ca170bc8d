using System.Diagnostics;
using System.Globalization;
using ClusterSharing.EngineTests.Coordination.Etcd;
using Xunit.Abstractions;

namespace ClusterSharing.IntegrationTests;

/// <summary>
/// A hung leader across machines: the leader of a cluster on etcd is stopped (SIGSTOP) while the other "machines" call
/// it. Its lease expires on etcd, another machine is elected and serves every follower; when the old leader resumes
/// (SIGCONT) it steps down and its real client runs none of the calls that waited in its socket buffers, counted by the
/// real client itself by fencing token on the machine-wide monotonic clock.
/// </summary>
public sealed class EtcdHungLeaderTests(ITestOutputHelper output)
{
    private const int HeartbeatMs = 300;

    [Fact]
    public async Task A_stopped_leader_loses_its_lease_is_replaced_and_runs_none_of_the_waiting_calls_when_it_resumes()
    {
        Assert.True(OperatingSystem.IsLinux() || OperatingSystem.IsMacOS(), "This test pauses processes with SIGSTOP (Linux, macOS).");
        const int rounds = 3;
        await using var etcd = await EtcdServer.StartAsync();
        await using var cluster = new HostCluster(
        [
            .. EtcdMachines.Arguments(etcd), "--heartbeat-ms", HeartbeatMs.ToString(CultureInfo.InvariantCulture),
            "--connect-timeout-ms", "3000", "--log",
        ]);
        var (leader, _) = await EtcdMachines.StartThreeAsync(cluster);
        var failures = new Dictionary<string, long>(StringComparer.Ordinal);
        long successes = 0;
        for (int round = 1; round <= rounds; round++)
        {
            var hosts = cluster.Hosts;
            var others = hosts.Where(h => h != leader).ToArray();
            var marks = hosts.ToDictionary(h => h, h => h.LineCount);
            long oldEpoch = Replies.Value(await leader.RequestAsync("status")).GetProperty("epoch").GetInt64();
            long ranBefore = await FencedLedgerAudit.ExecutedUnderAsync(leader, oldEpoch);

            // The leader is idle when it stops; then the others call it (a oneway and an invoke, in a loop): their first
            // calls wait in its socket buffers until it is declared dead, and later calls go to the machine elected next.
            await HungLeaderTests.SignalAsync(leader.Pid, "STOP");
            var clock = Stopwatch.StartNew();
            HostProcess winner;
            try
            {
                foreach (var host in others) Replies.Value(await host.RequestAsync("stamp-start"));
                // Nobody may take over before the stopped leader's lease expired on etcd (TTL), which takes seconds.
                winner = await HungLeaderTests.FirstNewLeaderAsync(others, marks, TimeSpan.FromSeconds(60), cluster);
                var replacedAfter = clock.Elapsed;
                // The new leader serves every other machine while the old one is still stopped ([Idempotent]: a machine
                // that has not noticed the silence yet retries the call on the new leader).
                foreach (var host in others)
                    Assert.Equal(winner.Pid, Replies.Value(await host.RequestAsync("slow-idem 0", TimeSpan.FromSeconds(60))).GetInt32());
                foreach (var host in others)
                    successes += FencedLedgerAudit.AddStampReport(Replies.Value(await host.RequestAsync("stamp-stop", TimeSpan.FromSeconds(90))), failures);
                output.WriteLine($"round {round}: {leader.Label} (pid {leader.Pid}, epoch {oldEpoch}) stopped; " +
                                 $"{winner.Label} (pid {winner.Pid}) led after {replacedAfter.TotalMilliseconds:0} ms (lease TTL {EtcdMachines.TtlSeconds} s)");
            }
            finally
            {
                await HungLeaderTests.SignalAsync(leader.Pid, "CONT");
            }

            // Resumed: it learns its term is over, steps down (real client disposed) and follows the new leader.
            int from = marks[leader];
            var sixty = TimeSpan.FromSeconds(60);
            await leader.WaitForEventAsync("leadership-lost", timeout: sixty, from: from);
            await leader.WaitForEventAsync("real-client-disposed", timeout: sixty, from: from);
            await leader.WaitForEventAsync("leader-changed", l => !l.GetProperty("leader").GetBoolean(), sixty, from: from);
            Assert.Equal(winner.Pid, Replies.Value(await leader.RequestAsync("slow-idem 0", sixty)).GetInt32());
            long ranAfter = await FencedLedgerAudit.ExecutedUnderAsync(leader, oldEpoch);
            Assert.True(ranAfter == ranBefore,
                $"Round {round}: the deposed leader's real client ran {ranAfter - ranBefore} calls under epoch {oldEpoch} after it was stopped.\n{cluster.DescribeAll()}");

            long newEpoch = Replies.Value(await winner.RequestAsync("status")).GetProperty("epoch").GetInt64();
            Assert.True(newEpoch > oldEpoch, $"Round {round}: the epoch did not grow ({oldEpoch} -> {newEpoch}).\n{cluster.DescribeAll()}");
            foreach (var host in hosts)
            {
                var status = Replies.Value(await host.RequestAsync("status"));
                Assert.True(status.GetProperty("leader").GetBoolean() == (host == winner) && status.GetProperty("epoch").GetInt64() == newEpoch,
                    $"Round {round}: {host.Label} reports {status.GetRawText()}; expected only pid {winner.Pid} to lead, at epoch {newEpoch}.\n{cluster.DescribeAll()}");
            }
            leader = winner;
        }

        var (_, refusals) = await FencedLedgerAudit.AssertFencedAsync(cluster, rounds, successes, failures, output);
        Assert.True(successes > 0, "No stamp call succeeded: the test did not exercise the cluster.\n" + cluster.DescribeAll());
        // Calls did wait in a stopped leader's buffers, and a resumed leader refused them (event 4008) rather than running them.
        Assert.True(refusals > 0, "No resumed leader refused a waiting call: the test did not exercise fencing.\n" + cluster.DescribeAll());
    }
}
