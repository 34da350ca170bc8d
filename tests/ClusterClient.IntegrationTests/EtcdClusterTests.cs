using System.Diagnostics;
using System.Text.Json;
using ClusterSharing.EngineTests.Coordination.Etcd;
using Xunit.Abstractions;

namespace ClusterSharing.IntegrationTests;

/// <summary>
/// A cluster scope on a real etcd: workers bound to 127.0.0.1, 127.0.0.2 and 127.0.0.3 play three machines sharing one
/// leader, reached over TLS 1.3 pinned from etcd. Workers are real processes, killed with SIGKILL.
/// </summary>
public sealed class EtcdClusterTests(ITestOutputHelper output)
{
    private const int TtlSeconds = EtcdMachines.TtlSeconds;
    private static readonly string[] Machines = EtcdMachines.Addresses;

    [Fact]
    public async Task Three_machines_elect_one_leader_and_every_machine_invokes_it_over_TLS()
    {
        await using var etcd = await EtcdServer.StartAsync();
        await using var cluster = new HostCluster(CommonArguments(etcd));
        var hosts = await StartMachinesAsync(cluster, Machines);

        var leader = Assert.Single(hosts, h => h.Ready.GetProperty("leader").GetBoolean()).Host;
        foreach (var (host, _) in hosts)
        {
            int answeredBy = Replies.Value(await host.RequestAsync("pid")).GetInt32();
            Assert.True(answeredBy == leader.Pid, $"{host.Label} was answered by pid {answeredBy}, not the leader {leader.Pid}.\n{cluster.DescribeAll()}");
        }
        long epoch = Replies.Value(await leader.RequestAsync("status")).GetProperty("epoch").GetInt64();
        foreach (var (host, _) in hosts)
        {
            long seen = Replies.Value(await host.RequestAsync("status")).GetProperty("epoch").GetInt64();
            Assert.True(seen == epoch && epoch > 0, $"{host.Label} is at epoch {seen}, the leader at {epoch}.\n{cluster.DescribeAll()}");
        }
    }

    [Fact]
    public async Task Killing_the_leader_elects_a_new_one_within_the_lease_ttl_and_no_call_hangs()
    {
        await using var etcd = await EtcdServer.StartAsync();
        await using var cluster = new HostCluster(CommonArguments(etcd));
        var hosts = await StartMachinesAsync(cluster, Machines);
        var oldLeader = Assert.Single(hosts, h => h.Ready.GetProperty("leader").GetBoolean()).Host;
        var survivors = hosts.Select(h => h.Host).Where(h => h != oldLeader).ToArray();
        long oldEpoch = hosts[0].Ready.GetProperty("epoch").GetInt64();

        var clock = Stopwatch.StartNew();
        oldLeader.Kill();
        await oldLeader.WaitForExitAsync();
        // Issued right after the kill: they wait for the next leader (idempotent, so they may be retried there).
        var calls = survivors.Select(s => s.RequestAsync("slow-idem 0", TimeSpan.FromSeconds(30))).ToArray();
        var pids = (await Task.WhenAll(calls)).Select(r => Replies.Value(r).GetInt32()).Distinct().ToArray();
        var failover = clock.Elapsed;

        int newLeaderPid = Assert.Single(pids);
        var newLeader = Assert.Single(survivors, s => s.Pid == newLeaderPid);
        var status = Replies.Value(await newLeader.RequestAsync("status"));
        Assert.True(status.GetProperty("epoch").GetInt64() > oldEpoch);
        output.WriteLine($"kill -9 of the leader: every survivor answered by the new leader after {failover.TotalMilliseconds:0} ms (lease TTL {TtlSeconds} s)");
        // Behaviour, not a benchmark: generous bound for a loaded machine (the target is TTL + 1 s).
        Assert.True(failover < TimeSpan.FromSeconds(TtlSeconds + 10), $"Failover took {failover}.\n{cluster.DescribeAll()}");
    }

    [Fact]
    public async Task A_leader_that_closes_gracefully_resigns_so_another_machine_leads_at_once()
    {
        await using var etcd = await EtcdServer.StartAsync();
        await using var cluster = new HostCluster(CommonArguments(etcd));
        var hosts = await StartMachinesAsync(cluster, Machines);
        var oldLeader = Assert.Single(hosts, h => h.Ready.GetProperty("leader").GetBoolean()).Host;
        var survivors = hosts.Select(h => h.Host).Where(h => h != oldLeader).ToArray();
        var marks = survivors.Select(s => s.LineCount).ToArray();

        var clock = Stopwatch.StartNew();
        Replies.Value(await oldLeader.RequestAsync("close")); // disposing resigns; it must not fail
        var became = await Task.WhenAny(survivors.Select((s, i) =>
            s.WaitForEventAsync("leader-changed", l => l.GetProperty("leader").GetBoolean(), from: marks[i])));
        await became;
        var failover = clock.Elapsed;

        output.WriteLine($"graceful close of the leader: a survivor led after {failover.TotalMilliseconds:0} ms (lease TTL {TtlSeconds} s)");
        // Resigning deletes the key at once: far below the TTL a kill would cost (generous bound for a loaded machine).
        Assert.True(failover < TimeSpan.FromSeconds(TtlSeconds), $"Failover after a graceful close took {failover}.\n{cluster.DescribeAll()}");
        int pid = Replies.Value(await survivors[0].RequestAsync("pid")).GetInt32();
        Assert.Contains(survivors, s => s.Pid == pid);
    }

    [Fact]
    public async Task Without_etcd_ReadyAsync_fails_after_MaxWaitTime_naming_the_etcd_endpoint()
    {
        await using var etcd = await EtcdServer.StartAsync();
        await etcd.StopAsync();
        await using var cluster = new HostCluster([.. CommonArguments(etcd), "--max-wait-ms", "3000"]);
        var host = cluster.Start("--bind", Machines[0]);

        var failed = await HostCluster.WaitReadyFailedAsync(host);
        Assert.Contains(etcd.ClientUrl, failed.GetRawText());
    }

    [Fact]
    public async Task A_machine_on_a_fourth_address_joining_late_finds_the_leader_and_invokes()
    {
        await using var etcd = await EtcdServer.StartAsync();
        await using var cluster = new HostCluster(CommonArguments(etcd));
        var (leader, _) = await EtcdMachines.StartThreeAsync(cluster);
        long epoch = Replies.Value(await leader.RequestAsync("status")).GetProperty("epoch").GetInt64();

        var late = cluster.Start("--bind", EtcdMachines.LateMachine);
        var ready = await HostCluster.WaitReadyAsync(late);

        Assert.False(ready.GetProperty("leader").GetBoolean(), $"The late machine took over a led cluster.\n{cluster.DescribeAll()}");
        Assert.Equal(leader.Pid, Replies.Value(await late.RequestAsync("pid")).GetInt32());
        Assert.Equal(42, Replies.Value(await late.RequestAsync("add 40 2")).GetInt32());
        Assert.Equal(epoch, Replies.Value(await late.RequestAsync("status")).GetProperty("epoch").GetInt64());
        Assert.Empty(late.Events("factory"));
    }

    private static string[] CommonArguments(EtcdServer etcd) => EtcdMachines.Arguments(etcd);

    private static Task<(HostProcess Host, JsonElement Ready)[]> StartMachinesAsync(HostCluster cluster, string[] addresses) =>
        EtcdMachines.StartAsync(cluster, addresses);
}
