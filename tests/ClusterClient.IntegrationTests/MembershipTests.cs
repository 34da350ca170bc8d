using System.Diagnostics;
using System.Text.Json;
using ClusterSharing.EngineTests.Coordination.Etcd;
using Xunit.Abstractions;

namespace ClusterSharing.IntegrationTests;

/// <summary>Membership between real worker processes on one machine: views, SIGKILLed members, channels and direct messages.</summary>
public sealed class MembershipTests
{
    private const int HeartbeatMs = 500;

    private static readonly string[] Common = ["--heartbeat-ms", "500", "--max-wait-ms", "30000", "--response-timeout-ms", "20000"];

    private readonly ITestOutputHelper _output;

    public MembershipTests(ITestOutputHelper output) => _output = output;

    private static async Task<string> IdOf(HostProcess host) => Replies.Value(await host.RequestAsync("member-id")).GetString()!;

    private static async Task<JsonElement[]> ListOf(HostProcess host) => [.. Replies.Value(await host.RequestAsync("member-list")).EnumerateArray()];

    /// <summary>Polls every host's member list until all show exactly <paramref name="expected"/> with one leader; returns the leader's id.</summary>
    private static async Task<string> WaitConvergedAsync(IReadOnlyList<HostProcess> hosts, IReadOnlyCollection<string> expected, HostCluster cluster, int timeoutMs = 30_000)
    {
        var watch = Stopwatch.StartNew();
        string last = "";
        while (watch.ElapsedMilliseconds < timeoutMs)
        {
            var lists = await Task.WhenAll(hosts.Select(ListOf));
            bool same = lists.All(l => l.Select(m => m.GetProperty("id").GetString()!).ToHashSet().SetEquals(expected));
            var leaders = lists.Select(l => l.Where(m => m.GetProperty("leader").GetBoolean()).Select(m => m.GetProperty("id").GetString()).ToArray()).ToArray();
            if (same && leaders.All(l => l.Length == 1) && leaders.Select(l => l[0]).Distinct().Count() == 1) return leaders[0][0]!;
            last = string.Join("\n", lists.Select(l => string.Join(",", l.Select(m => m.GetRawText()))));
            await Task.Delay(50);
        }
        throw new Xunit.Sdk.XunitException($"The views did not converge on {expected.Count} members with one leader within {timeoutMs} ms. Last lists:\n{last}\n{cluster.DescribeAll()}");
    }

    [Fact]
    public async Task Eight_members_converge_and_a_killed_member_and_then_a_killed_leader_are_removed_on_every_other_member()
    {
        await using var cluster = new HostCluster(Common);
        var (leader, followers) = await cluster.StartReadyAsync(8);
        var hosts = new List<HostProcess> { leader };
        hosts.AddRange(followers);
        var ids = new Dictionary<HostProcess, string>();
        foreach (var host in hosts) ids[host] = await IdOf(host);
        Assert.Equal(8, ids.Values.Distinct().Count());
        string leaderId = await WaitConvergedAsync(hosts, ids.Values, cluster);
        Assert.Equal(ids[leader], leaderId);

        // A follower is SIGKILLed: its connection to the leader breaks, and every other member drops it.
        var victim = followers[3];
        var others = hosts.Where(h => h != victim).ToList();
        var marks = others.ToDictionary(h => h, h => h.LineCount);
        var killed = Stopwatch.StartNew();
        victim.Kill();
        await Task.WhenAll(others.Select(h => h.WaitForEventAsync("member-removed", l => Replies.Text(l, "member") == ids[victim], from: marks[h])));
        double removedAllMs = killed.Elapsed.TotalMilliseconds;
        _output.WriteLine($"a SIGKILLed follower was removed on all 7 other members within {removedAllMs:0} ms (heartbeat {HeartbeatMs} ms)");
        // The liveness timeout is 3 heartbeat intervals; the kernel closes a killed process's sockets, so it is usually far less.
        Assert.True(removedAllMs < 3 * HeartbeatMs + 10_000, $"Removal took {removedAllMs:0} ms.");
        await WaitConvergedAsync(others, [.. others.Select(h => ids[h])], cluster);

        // Then the leader: a new one is elected, the view is rebuilt from the members that re-attach.
        var survivors = others.Where(h => h != leader).ToList();
        marks = survivors.ToDictionary(h => h, h => h.LineCount);
        leader.Kill();
        string newLeader = await WaitConvergedAsync(survivors, [.. survivors.Select(h => ids[h])], cluster);
        Assert.NotEqual(ids[leader], newLeader);
        foreach (var host in survivors)
        {
            await host.WaitForEventAsync("member-leader", l => Replies.Text(l, "member") == newLeader, from: marks[host]);
            // Only the killed leader was reported removed, once; nobody else left or came back.
            var removed = host.Lines.Skip(marks[host]).Where(l => HostProcess.IsEvent(l, "member-removed")).Select(l => Replies.Text(l, "member")).ToArray();
            Assert.True(removed.SequenceEqual([ids[leader]]), $"{host.Label} saw removals {string.Join(",", removed)}\n{host.Describe()}");
            Assert.DoesNotContain(host.Lines.Skip(marks[host]), l => HostProcess.IsEvent(l, "member-added"));
        }
    }

    [Fact]
    public async Task A_channel_broadcast_reaches_exactly_the_joined_members_once_in_order()
    {
        await using var cluster = new HostCluster(Common);
        var (leader, followers) = await cluster.StartReadyAsync(4);
        HostProcess[] hosts = [leader, .. followers];
        var ids = new Dictionary<HostProcess, string>();
        foreach (var host in hosts) ids[host] = await IdOf(host);
        await WaitConvergedAsync(hosts, ids.Values, cluster);
        var sender = followers[0];
        HostProcess[] joined = [leader, followers[1], sender];
        foreach (var host in joined) Replies.Value(await host.RequestAsync("member-join news"));
        var marks = hosts.ToDictionary(h => h, h => h.LineCount);
        // The joins travel on other connections than the messages: give them a moment to reach the leader.
        await Task.Delay(500);

        for (int i = 0; i < 20; i++) Replies.Value(await sender.RequestAsync($"member-send news m{i}"));

        foreach (var host in new[] { leader, followers[1] })
        {
            await host.WaitForEventAsync("member-message", l => Replies.Text(l, "value") == "m19", from: marks[host]);
        }
        await Task.Delay(500);
        var expected = Enumerable.Range(0, 20).Select(i => $"m{i}").ToArray();
        foreach (var host in hosts)
        {
            var got = host.Lines.Skip(marks[host]).Where(l => HostProcess.IsEvent(l, "member-message")).ToArray();
            if (host == leader || host == followers[1])
            {
                Assert.Equal(expected, got.Select(l => Replies.Text(l, "value")));
                Assert.All(got, l => Assert.Equal(ids[sender], Replies.Text(l, "from")));
            }
            else
            {
                // The sender does not get its own broadcast; a member that did not join gets nothing.
                Assert.Empty(got);
            }
        }
    }

    [Fact]
    public async Task A_direct_message_is_delivered_and_one_to_a_killed_member_reports_it_gone()
    {
        await using var cluster = new HostCluster(Common);
        var (leader, followers) = await cluster.StartReadyAsync(3);
        HostProcess[] hosts = [leader, .. followers];
        var ids = new Dictionary<HostProcess, string>();
        foreach (var host in hosts) ids[host] = await IdOf(host);
        await WaitConvergedAsync(hosts, ids.Values, cluster);
        var (sender, target) = (followers[0], followers[1]);
        Replies.Value(await target.RequestAsync("member-join work"));
        await Task.Delay(300);

        Assert.Equal("Delivered", Replies.Value(await sender.RequestAsync($"member-send-to {ids[target]} work hello")).GetString());
        var message = target.Events("member-message").Single();
        Assert.True(message.GetProperty("direct").GetBoolean());
        Assert.Equal("hello", Replies.Text(message, "value"));

        target.Kill();
        await target.WaitForExitAsync();
        // Sent at once after the kill: the leader may not have noticed yet; either way the sender learns the member is gone.
        Assert.Equal("MemberGone", Replies.Value(await sender.RequestAsync($"member-send-to {ids[target]} work again 15000")).GetString());
    }

    [Fact]
    public async Task Bad_membership_input_gets_clear_errors_and_the_member_keeps_working()
    {
        await using var cluster = new HostCluster(Common);
        var (leader, followers) = await cluster.StartReadyAsync(2);
        var follower = followers[0];

        var big = Replies.Error(await follower.RequestAsync("member-advertise-bytes 20000"), "ArgumentException");
        Assert.Contains("16384", Replies.Text(big, "message"));
        var reserved = Replies.Error(await follower.RequestAsync("member-join cluster.services"), "ArgumentException");
        Assert.Contains("reserved", Replies.Text(reserved, "message"));
        Replies.Error(await follower.RequestAsync("member-send $internal x"), "ArgumentException");
        Assert.Equal("MemberGone", Replies.Value(await follower.RequestAsync("member-send-to 0123456789abcdef0123456789abcdef work x")).GetString());

        // Still a member, and still updating: an advertisement reaches the leader.
        Replies.Value(await follower.RequestAsync("member-advertise ready"));
        string followerId = await IdOf(follower);
        var watch = Stopwatch.StartNew();
        while (watch.ElapsedMilliseconds < 20_000)
        {
            var list = await ListOf(leader);
            if (list.Any(m => m.GetProperty("id").GetString() == followerId && Replies.Text(m, "advertised") == "ready")) return;
            await Task.Delay(50);
        }
        throw new Xunit.Sdk.XunitException($"The leader never saw the advertisement.\n{cluster.DescribeAll()}");
    }

    [Theory]
    [InlineData("etcd")]
    [InlineData("redis")]
    public async Task On_a_cluster_scope_members_on_three_machines_converge_through_the_one_leader_messages_travel_and_a_killed_one_is_removed(string engine)
    {
        IAsyncDisposable server;
        string[] arguments;
        if (engine == "etcd")
        {
            var etcd = await EtcdServer.StartAsync();
            (server, arguments) = (etcd, EtcdMachines.Arguments(etcd));
        }
        else
        {
            var redis = await ClusterSharing.EngineTests.Coordination.Redis.RedisServer.StartAsync();
            (server, arguments) = (redis, RedisClusterTests.Arguments(redis));
        }
        await using var _ = server;
        await using var cluster = new HostCluster(arguments);
        var (leader, followers) = await EtcdMachines.StartThreeAsync(cluster);
        HostProcess[] hosts = [leader, .. followers];
        var ids = new Dictionary<HostProcess, string>();
        foreach (var host in hosts) ids[host] = await IdOf(host);
        Assert.Equal(ids[leader], await WaitConvergedAsync(hosts, ids.Values, cluster));

        // A broadcast and a direct message between two machines, relayed by the leader on a third, over TLS.
        Replies.Value(await followers[1].RequestAsync("member-join news"));
        await Task.Delay(300);
        Replies.Value(await followers[0].RequestAsync("member-send news over-tls"));
        await followers[1].WaitForEventAsync("member-message", l => Replies.Text(l, "value") == "over-tls");
        Assert.Equal("Delivered", Replies.Value(await followers[0].RequestAsync($"member-send-to {ids[followers[1]]} news direct")).GetString());
        Assert.Contains(followers[1].Events("member-message"), l => Replies.Text(l, "value") == "direct" && l.GetProperty("direct").GetBoolean());

        int mark = leader.LineCount;
        followers[0].Kill();
        await leader.WaitForEventAsync("member-removed", l => Replies.Text(l, "member") == ids[followers[0]], from: mark);
        await WaitConvergedAsync([leader, followers[1]], [ids[leader], ids[followers[1]]], cluster);
    }

    [Fact]
    public async Task A_heavier_worker_that_joins_takes_over_and_when_it_is_killed_another_leads()
    {
        await using var cluster = new HostCluster(Common);
        var (leader, followers) = await cluster.StartReadyAsync(3);
        HostProcess[] light = [leader, .. followers];
        var marks = light.ToDictionary(h => h, h => h.LineCount);

        var heavy = cluster.Start("--weight", "10");
        await HostCluster.WaitReadyAsync(heavy);
        await heavy.WaitForEventAsync("leader-changed", l => l.GetProperty("leader").GetBoolean());
        string heavyId = await IdOf(heavy);
        HostProcess[] all = [.. light, heavy];
        var ids = new Dictionary<HostProcess, string>();
        foreach (var host in all) ids[host] = await IdOf(host);
        Assert.Equal(heavyId, await WaitConvergedAsync(all, ids.Values, cluster));
        foreach (var host in all) Assert.Equal(heavy.Pid, Replies.Value(await host.RequestAsync("pid")).GetInt32());
        // The old leader stepped down once; no light worker led after it.
        Assert.Contains(leader.Lines.Skip(marks[leader]), l => HostProcess.IsEvent(l, "leader-changed") && !l.GetProperty("leader").GetBoolean());
        Assert.All(light, h => Assert.DoesNotContain(h.Lines.Skip(marks[h]), l => HostProcess.IsEvent(l, "leader-changed") && l.GetProperty("leader").GetBoolean()));

        // The heavy leader dies: the deferral excludes the lost leader, so a light worker takes over as after any failover.
        heavy.Kill();
        string next = await WaitConvergedAsync(light, [.. light.Select(h => ids[h])], cluster);
        Assert.NotEqual(heavyId, next);
    }
}
