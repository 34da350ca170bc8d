using System.Diagnostics;
using System.Globalization;
using ClusterSharing.EngineTests.Coordination.Redis;
using Xunit.Abstractions;

namespace ClusterSharing.IntegrationTests;

/// <summary>
/// A cluster scope on a real redis-server (persistence off): workers bound to 127.0.0.1, .2 and .3 play three machines
/// sharing one leader, reached over TLS 1.3 pinned from Redis. Workers are real processes, killed with SIGKILL or
/// stopped with SIGSTOP; the real client logs the epoch of every call it executes on the machine-wide monotonic clock.
/// </summary>
public sealed class RedisClusterTests(ITestOutputHelper output)
{
    /// <summary>Lease TTL of the tests' clusters: the failover bound for a killed leader.</summary>
    private const int TtlMs = 3000;

    /// <summary>Flags every worker of a cluster on <paramref name="redis"/> gets (TTL 3 s, the shared secret).</summary>
    internal static string[] Arguments(RedisServer redis) =>
    [
        "--redis", redis.Endpoint, "--redis-ttl-ms", TtlMs.ToString(CultureInfo.InvariantCulture), "--cluster", "tests",
        "--secret", EtcdMachines.Secret, "--max-wait-ms", "30000", "--response-timeout-ms", "30000",
    ];

    [Fact]
    public async Task Three_machines_elect_one_leader_invoke_it_over_TLS_and_a_graceful_close_hands_over_at_once()
    {
        await using var redis = await RedisServer.StartAsync();
        await using var cluster = new HostCluster(Arguments(redis));
        var (leader, followers) = await EtcdMachines.StartThreeAsync(cluster);
        long epoch = Replies.Value(await leader.RequestAsync("status")).GetProperty("epoch").GetInt64();
        foreach (var host in new[] { leader }.Concat(followers))
        {
            Assert.Equal(leader.Pid, Replies.Value(await host.RequestAsync("pid")).GetInt32());
            Assert.Equal(epoch, Replies.Value(await host.RequestAsync("status")).GetProperty("epoch").GetInt64());
        }

        var marks = followers.Select(s => s.LineCount).ToArray();
        var clock = Stopwatch.StartNew();
        Replies.Value(await leader.RequestAsync("close")); // disposing resigns: the key is deleted, a notification wakes the others
        var became = await await Task.WhenAny(followers.Select((s, i) =>
            s.WaitForEventAsync("leader-changed", l => l.GetProperty("leader").GetBoolean(), from: marks[i])));
        var failover = clock.Elapsed;
        output.WriteLine($"graceful close of the leader: a survivor led after {failover.TotalMilliseconds:0} ms (TTL {TtlMs} ms)");
        Assert.True(failover < TimeSpan.FromMilliseconds(TtlMs), $"Failover after a graceful close took {failover}.\n{cluster.DescribeAll()}");
        Assert.True(became.GetProperty("epoch").GetInt64() > epoch, became.GetRawText());
        // Every survivor is then answered by the new leader (a call waits while its machine reconnects).
        int newLeaderPid = became.GetProperty("pid").GetInt32();
        foreach (var survivor in followers) Assert.Equal(newLeaderPid, Replies.Value(await survivor.RequestAsync("slow-idem 0", TimeSpan.FromSeconds(30))).GetInt32());
    }

    [Fact]
    public async Task Killing_the_leader_elects_a_new_one_within_the_ttl_and_no_call_hangs()
    {
        await using var redis = await RedisServer.StartAsync();
        await using var cluster = new HostCluster(Arguments(redis));
        var (oldLeader, survivors) = await EtcdMachines.StartThreeAsync(cluster);
        long oldEpoch = Replies.Value(await oldLeader.RequestAsync("status")).GetProperty("epoch").GetInt64();

        var clock = Stopwatch.StartNew();
        oldLeader.Kill();
        await oldLeader.WaitForExitAsync();
        var calls = survivors.Select(s => s.RequestAsync("slow-idem 0", TimeSpan.FromSeconds(30))).ToArray();
        int newLeaderPid = Assert.Single((await Task.WhenAll(calls)).Select(r => Replies.Value(r).GetInt32()).Distinct());
        var failover = clock.Elapsed;

        var newLeader = Assert.Single(survivors, s => s.Pid == newLeaderPid);
        Assert.True(Replies.Value(await newLeader.RequestAsync("status")).GetProperty("epoch").GetInt64() > oldEpoch);
        output.WriteLine($"kill -9 of the leader: every survivor answered by the new leader after {failover.TotalMilliseconds:0} ms (TTL {TtlMs} ms)");
        // Behaviour, not a benchmark: generous bound for a loaded machine (the target is TTL + 1 s).
        Assert.True(failover < TimeSpan.FromMilliseconds(TtlMs + 10_000), $"Failover took {failover}.\n{cluster.DescribeAll()}");
    }

    [Fact]
    public async Task A_stopped_leader_that_was_replaced_runs_no_call_after_the_new_term_began()
    {
        Assert.True(OperatingSystem.IsLinux() || OperatingSystem.IsMacOS(), "This test pauses processes with SIGSTOP (Linux, macOS).");
        await using var redis = await RedisServer.StartAsync();
        await using var cluster = new HostCluster([.. Arguments(redis), "--heartbeat-ms", "300", "--connect-timeout-ms", "3000"]);
        var (leader, others) = await EtcdMachines.StartThreeAsync(cluster);
        var marks = cluster.Hosts.ToDictionary(h => h, h => h.LineCount);

        await HungLeaderTests.SignalAsync(leader.Pid, "STOP");
        HostProcess winner;
        try
        {
            // Stamps sent while it is stopped wait in its socket buffers: it must run none of them when it resumes.
            foreach (var host in others) Replies.Value(await host.RequestAsync("stamp-start"));
            winner = await HungLeaderTests.FirstNewLeaderAsync(others, marks, TimeSpan.FromSeconds(60), cluster);
            await Task.Delay(1000); // stamps on the new leader
            foreach (var host in others) Replies.Value(await host.RequestAsync("stamp-stop", TimeSpan.FromSeconds(90)));
        }
        finally
        {
            await HungLeaderTests.SignalAsync(leader.Pid, "CONT");
        }
        await leader.WaitForEventAsync("leader-changed", l => !l.GetProperty("leader").GetBoolean(), TimeSpan.FromSeconds(60), from: marks[leader]);

        long oldEpoch = leader.Events("leader-changed").Last(l => l.GetProperty("leader").GetBoolean()).GetProperty("epoch").GetInt64();
        var newTerm = winner.Events("leader-changed").Last(l => l.GetProperty("leader").GetBoolean());
        double newTermBegan = newTerm.GetProperty("ts").GetDouble();
        Assert.True(newTerm.GetProperty("epoch").GetInt64() > oldEpoch);
        long late = 0, onNewLeader = 0;
        foreach (var run in Replies.Value(await leader.RequestAsync("ledger")).EnumerateArray())
        {
            if (run.GetProperty("token").GetInt64() == oldEpoch && run.GetProperty("lastTs").GetDouble() >= newTermBegan)
                late += run.GetProperty("count").GetInt64();
        }
        foreach (var run in Replies.Value(await winner.RequestAsync("ledger")).EnumerateArray())
            onNewLeader += run.GetProperty("count").GetInt64();
        output.WriteLine($"SIGSTOP of the leader (epoch {oldEpoch}): {late} calls run by it after the new term began, {onNewLeader} on the new leader; " +
                         $"it refused calls on {leader.FencingRefusalLines} connections when it resumed");
        Assert.True(late == 0, $"The deposed leader ran {late} calls after the new term began.\n{cluster.DescribeAll()}");
        Assert.True(onNewLeader > 0, $"No stamp reached the new leader.\n{cluster.DescribeAll()}");
    }

    [Fact]
    public async Task When_Redis_dies_and_returns_empty_no_two_terms_serve_at_once_and_epochs_keep_growing()
    {
        await using var redis = await RedisServer.StartAsync();
        await using var cluster = new HostCluster(Arguments(redis));
        var (leader, followers) = await EtcdMachines.StartThreeAsync(cluster);
        HostProcess[] machines = [leader, .. followers];
        long firstEpoch = Replies.Value(await leader.RequestAsync("status")).GetProperty("epoch").GetInt64();

        using var stop = new CancellationTokenSource();
        var callers = machines.Select(m => EtcdOutageTests.KeepCallingAsync(m, stop.Token)).ToArray();
        await Task.Delay(TimeSpan.FromSeconds(2));
        await redis.StopAsync();
        await leader.WaitForEventAsync("leadership-lost", timeout: TimeSpan.FromMilliseconds(TtlMs + 30_000));
        await Task.Delay(TimeSpan.FromMilliseconds(TtlMs));
        await redis.RestartAsync(); // persistence off: the leader key and the epoch counter are gone

        long newEpoch = 0;
        for (int attempt = 0; attempt < 60 && newEpoch <= firstEpoch; attempt++)
        {
            var reply = await machines[attempt % machines.Length].RequestAsync("slow-idem 0", TimeSpan.FromSeconds(60));
            if (reply.GetProperty("ok").GetBoolean()) newEpoch = EtcdOutageTests.LastExecutingEpoch(machines);
            else await Task.Delay(500);
        }
        await stop.CancelAsync();
        int[] failures = await Task.WhenAll(callers);

        var terms = EtcdOutageTests.Terms(machines);
        foreach (var t in terms) output.WriteLine($"epoch {t.Epoch} on pid {t.Pid}: {t.Calls} calls from {t.First:0} ms to {t.Last:0} ms");
        output.WriteLine($"failed calls per machine during the outage: {string.Join(", ", failures)}");
        Assert.True(newEpoch > firstEpoch, $"No term above epoch {firstEpoch} after Redis returned empty.\n{cluster.DescribeAll()}");
        AssertTermsInOrder(terms, cluster);
    }

    [Fact]
    public async Task A_machine_with_a_higher_weight_joining_takes_over_through_a_handover_and_an_ineligible_one_never_leads()
    {
        await using var redis = await RedisServer.StartAsync();
        await using var cluster = new HostCluster(Arguments(redis));
        var ineligible = cluster.Start("--bind", EtcdMachines.Addresses[0], "--weight", "100", "--ineligible");
        var hosts = await EtcdMachines.StartAsync(cluster, EtcdMachines.Addresses[1..]);
        Assert.False((await HostCluster.WaitReadyAsync(ineligible)).GetProperty("leader").GetBoolean());
        var oldLeader = Assert.Single(hosts, h => h.Ready.GetProperty("leader").GetBoolean()).Host;
        HostProcess[] machines = [ineligible, .. hosts.Select(h => h.Host)];

        using var stop = new CancellationTokenSource();
        var callers = machines.Select(m => EtcdOutageTests.KeepCallingAsync(m, stop.Token)).ToArray();
        await Task.Delay(TimeSpan.FromSeconds(1));
        var clock = Stopwatch.StartNew();
        var strong = cluster.Start("--bind", EtcdMachines.LateMachine, "--weight", "10");
        await strong.WaitForEventAsync("leader-changed", l => l.GetProperty("leader").GetBoolean(), TimeSpan.FromSeconds(60));
        var handover = clock.Elapsed;
        await oldLeader.WaitForEventAsync("leader-changed", l => !l.GetProperty("leader").GetBoolean(), TimeSpan.FromSeconds(30));
        foreach (var m in machines) Assert.Equal(strong.Pid, Replies.Value(await m.RequestAsync("pid", TimeSpan.FromSeconds(60))).GetInt32());
        await stop.CancelAsync();
        await Task.WhenAll(callers);

        output.WriteLine($"a weight-10 machine joined: it led {handover.TotalMilliseconds:0} ms after it started (TTL {TtlMs} ms)");
        Assert.DoesNotContain(ineligible.Events("leader-changed"), l => l.GetProperty("leader").GetBoolean());
        var terms = EtcdOutageTests.Terms([.. machines, strong]);
        foreach (var t in terms) output.WriteLine($"epoch {t.Epoch} on pid {t.Pid}: {t.Calls} calls from {t.First:0} ms to {t.Last:0} ms");
        AssertTermsInOrder(terms, cluster);
        Assert.Equal(strong.Pid, terms[^1].Pid);
    }

    /// <summary>Every epoch ran on one process, and each term's last call came before the next term's first.</summary>
    private static void AssertTermsInOrder(List<EtcdOutageTests.Term> terms, HostCluster cluster)
    {
        Assert.True(terms.Select(t => t.Epoch).Distinct().Count() == terms.Count, $"One epoch was served by two processes.\n{cluster.DescribeAll()}");
        for (int i = 1; i < terms.Count; i++)
        {
            Assert.True(terms[i - 1].Last < terms[i].First && terms[i - 1].Epoch < terms[i].Epoch,
                $"Terms overlap or go back: epoch {terms[i - 1].Epoch} (pid {terms[i - 1].Pid}) {terms[i - 1].First:0}-{terms[i - 1].Last:0} ms, " +
                $"then epoch {terms[i].Epoch} (pid {terms[i].Pid}) {terms[i].First:0}-{terms[i].Last:0} ms.\n{cluster.DescribeAll()}");
        }
    }
}
