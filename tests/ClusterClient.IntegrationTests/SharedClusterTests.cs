using System.Text.Json;

namespace ClusterSharing.IntegrationTests;

/// <summary>Calls through one leader and three followers, each a real process.</summary>
public sealed class SharedClusterTests(SharedClusterFixture fixture) : IClassFixture<SharedClusterFixture>
{
    private HostProcess Leader => fixture.Leader;
    private HostProcess[] Followers => fixture.Followers;
    private HostProcess[] Everyone => [fixture.Leader, .. fixture.Followers];

    [Fact]
    public async Task Every_worker_is_answered_by_the_one_real_client_in_the_leader()
    {
        foreach (var host in Everyone)
        {
            Assert.Equal(Leader.Pid, Replies.Value(await host.RequestAsync("pid")).GetInt32());
            Assert.Equal("hello cluster", Replies.Value(await host.RequestAsync("echo hello cluster")).GetString());
            Assert.Equal(42, Replies.Value(await host.RequestAsync("add 40 2")).GetInt32());
        }
        // One real client for the whole cluster: only the leader ever ran the factory.
        Assert.Single(fixture.Cluster.Hosts.SelectMany(h => h.Events("factory")));
        Assert.Single(Leader.Events("factory"));
    }

    [Fact]
    public async Task Every_worker_agrees_on_the_leader_and_its_epoch()
    {
        var statuses = new List<JsonElement>();
        foreach (var host in Everyone) statuses.Add(Replies.Value(await host.RequestAsync("status")));
        Assert.Single(statuses, s => s.GetProperty("leader").GetBoolean());
        Assert.True(Replies.Value(await Leader.RequestAsync("status")).GetProperty("leader").GetBoolean());
        Assert.Single(statuses.Select(s => s.GetProperty("epoch").GetInt64()).Distinct());
        Assert.All(statuses, s => Assert.Equal(fixture.Cluster.Port, s.GetProperty("port").GetInt32()));
    }

    [Fact]
    public async Task Concurrent_calls_from_every_follower_all_complete()
    {
        var calls = Followers.SelectMany(f => Enumerable.Range(0, 50).Select(i => f.RequestAsync($"add {i} {f.Pid}"))).ToArray();
        var replies = await Task.WhenAll(calls);
        int k = 0;
        foreach (var f in Followers)
            for (int i = 0; i < 50; i++)
                Assert.Equal(i + f.Pid, Replies.Value(replies[k++]).GetInt32());
    }

    [Fact]
    public async Task A_leader_side_exception_reaches_the_follower_with_its_type_and_message()
    {
        var reply = Replies.Error(await Followers[0].RequestAsync("fail upstream said no (code 7)"), "ClusterRemoteException");
        Assert.Equal("upstream said no (code 7)", Replies.Text(reply, "remoteMessage"));
        Assert.Equal(typeof(InvalidOperationException).FullName, Replies.Text(reply, "remoteType"));
    }

    [Fact]
    public async Task Oneway_calls_from_followers_reach_the_leader()
    {
        long before = Replies.Value(await Leader.RequestAsync("recorded")).GetInt64();
        foreach (var f in Followers)
            for (int i = 0; i < 5; i++)
                Replies.Value(await f.RequestAsync("record 2"));
        long expected = before + Followers.Length * 5 * 2;
        // Oneways have no reply: poll the counter, bounded in count and time.
        long seen = before;
        for (int attempt = 0; attempt < 200 && seen != expected; attempt++)
        {
            seen = Replies.Value(await Followers[^1].RequestAsync("recorded")).GetInt64();
            if (seen != expected) await Task.Delay(100);
        }
        Assert.Equal(expected, seen);
    }

    [Fact]
    public async Task Cancelling_a_follower_call_cancels_the_real_call_on_the_leader()
    {
        int from = Leader.LineCount;
        // Waits 30 s on the leader, cancelled by the follower after 500 ms.
        var reply = await Followers[1].RequestAsync("slow 30000 500");
        Replies.Error(reply, nameof(OperationCanceledException), nameof(TaskCanceledException));
        await Leader.WaitForEventAsync("real-call-cancelled", l => Replies.Text(l, "method") == "SlowAsync", from: from);
    }

    [Fact]
    public async Task A_call_past_its_timeout_fails_typed_and_the_leader_cancels_the_real_call()
    {
        await using var impatient = fixture.Cluster.Start("--response-timeout-ms", "1000");
        await HostCluster.WaitReadyAsync(impatient);
        int from = Leader.LineCount;
        var reply = Replies.Error(await impatient.RequestAsync("slow 30000"), "ClusterTimeoutException");
        Assert.True(reply.GetProperty("clusterError").GetBoolean());
        await Leader.WaitForEventAsync("real-call-cancelled", l => Replies.Text(l, "method") == "SlowAsync", from: from);
    }

    [Fact]
    public async Task A_follower_killed_mid_call_leaves_the_leader_and_the_other_followers_unaffected()
    {
        var doomed = fixture.Cluster.Start();
        await HostCluster.WaitReadyAsync(doomed);
        int from = Leader.LineCount;
        _ = await doomed.SendAsync("slow 20000");
        await Leader.WaitForEventAsync("executing", l => Replies.Text(l, "method") == "SlowAsync", from: from);

        doomed.Kill();
        await doomed.WaitForExitAsync();

        // The survivors keep calling while the leader notices the dead connection.
        var loops = Followers.Select(f => f.RequestAsync("loop 1500 pid")).ToArray();
        foreach (var host in Everyone)
            Assert.Equal(Leader.Pid, Replies.Value(await host.RequestAsync("pid")).GetInt32());
        foreach (var loop in await Task.WhenAll(loops))
        {
            var report = Replies.Value(loop);
            Assert.True(report.GetProperty("successes").GetInt32() > 0, report.GetRawText());
            Assert.Equal(0, report.GetProperty("untyped").GetInt32());
            Assert.Empty(report.GetProperty("typed").EnumerateObject());
            Assert.All(report.GetProperty("leaders").EnumerateArray(), l => Assert.Equal(Leader.Pid, l.GetProperty("pid").GetInt32()));
        }
        foreach (var follower in Followers)
            Assert.DoesNotContain(follower.Events("leader-changed"), e => e.GetProperty("leader").GetBoolean());
        Assert.Empty(Leader.Events("leadership-lost"));
    }
}
