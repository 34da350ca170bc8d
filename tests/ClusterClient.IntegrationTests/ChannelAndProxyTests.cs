namespace ClusterSharing.IntegrationTests;

/// <summary>Several contracts on one port, and generated and dynamic proxies talking to each other across processes.</summary>
public sealed class ChannelAndProxyTests
{
    [Fact]
    public async Task Two_contracts_in_every_process_share_one_port_and_one_leader()
    {
        await using var cluster = new HostCluster("--max-wait-ms", "20000", "--response-timeout-ms", "20000", "--second-channel");
        var (leader, followers) = await cluster.StartReadyAsync(3);
        foreach (var host in cluster.Hosts)
        {
            await host.WaitForEventAsync("clock-ready");
            Assert.Equal(leader.Pid, Replies.Value(await host.RequestAsync("pid")).GetInt32());
            Assert.Equal(leader.Pid, Replies.Value(await host.RequestAsync("clock-pid")).GetInt32());
        }
        Assert.All(followers, f => Assert.False(f.Events("clock-ready")[0].GetProperty("leader").GetBoolean()));
    }

    [Fact]
    public async Task A_follower_with_a_contract_the_leader_does_not_host_gets_a_clear_error_and_keeps_the_others()
    {
        await using var cluster = new HostCluster("--max-wait-ms", "3000", "--response-timeout-ms", "20000");
        var (leader, _) = await cluster.StartReadyAsync(1);
        var follower = cluster.Start("--second-channel");
        await HostCluster.WaitReadyAsync(follower);

        var failed = await follower.WaitForEventAsync("clock-ready-failed");
        Assert.True(failed.GetProperty("clusterError").GetBoolean(), failed.GetRawText());
        Assert.Contains("IClockService", Replies.Text(failed, "message"));
        // The contract the leader does host is unaffected.
        Assert.Equal(leader.Pid, Replies.Value(await follower.RequestAsync("pid")).GetInt32());
    }

    [Theory]
    [InlineData("generated", "dynamic")]
    [InlineData("dynamic", "generated")]
    public async Task Generated_and_dynamic_proxies_interoperate_across_processes(string leaderProxy, string followerProxy)
    {
        await using var cluster = new HostCluster("--max-wait-ms", "20000", "--response-timeout-ms", "20000");
        var (leader, _) = await cluster.StartReadyAsync(1, "--proxy", leaderProxy);
        var follower = cluster.Start("--proxy", followerProxy);
        await HostCluster.WaitReadyAsync(follower);

        Assert.Equal(leader.Pid, Replies.Value(await follower.RequestAsync("pid")).GetInt32());
        Assert.Equal("héllo wörld ✓", Replies.Value(await follower.RequestAsync("echo héllo wörld ✓")).GetString());
        Assert.Equal(-7, Replies.Value(await follower.RequestAsync("add -10 3")).GetInt32());
        var error = Replies.Error(await follower.RequestAsync("fail dynamic meets generated"), "ClusterRemoteException");
        Assert.Equal("dynamic meets generated", Replies.Text(error, "remoteMessage"));

        long before = Replies.Value(await leader.RequestAsync("recorded")).GetInt64();
        Replies.Value(await follower.RequestAsync("record 5"));
        long seen = before;
        for (int attempt = 0; attempt < 200 && seen != before + 5; attempt++)
        {
            seen = Replies.Value(await follower.RequestAsync("recorded")).GetInt64();
            if (seen != before + 5) await Task.Delay(100);
        }
        Assert.Equal(before + 5, seen);

        // A record type as a publication (MessagePack map) and a subscription value, both ways through the proxies.
        Replies.Value(await follower.RequestAsync("sub prices"));
        await leader.WaitForEventAsync("real-subscribed", l => Replies.Text(l, "topic") == "prices");
        Replies.Value(await follower.RequestAsync("publish prices 42.5"));
        await leader.WaitForEventAsync("real-published", l => Replies.Text(l, "topic") == "prices" && Replies.Text(l, "value") == "42.5");
        await follower.WaitForAsync(l => HostProcess.IsEvent(l, "value") && Replies.Text(l, "value") == "42.5", "the value 42.5");
    }
}
