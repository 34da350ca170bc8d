namespace ClusterSharing.IntegrationTests;

/// <summary>The asynchronous client factory across processes: awaited once by the leader, again once after a failover.</summary>
public sealed class AsyncFactoryTests
{
    [Theory]
    [InlineData("generated")]
    [InlineData("dynamic")]
    public async Task An_async_factory_that_awaits_500_ms_builds_once_and_once_again_after_the_leader_is_killed(string proxy)
    {
        await using var cluster = new HostCluster("--max-wait-ms", "20000", "--response-timeout-ms", "20000",
            "--factory-delay-ms", "500", "--proxy", proxy);
        var (oldLeader, followers) = await cluster.StartReadyAsync(3);

        // One real client in the whole cluster, built by the leader's one awaited factory call.
        var built = cluster.Hosts.SelectMany(h => h.Events("factory")).ToArray();
        Assert.True(built.Length == 1, $"Expected one factory call in the cluster, saw {built.Length}.\n{cluster.DescribeAll()}");
        Assert.Single(oldLeader.Events("factory"));
        Assert.Equal(5, Replies.Value(await followers[0].RequestAsync("add 2 3")).GetInt32());

        oldLeader.Kill();
        await oldLeader.WaitForExitAsync();
        // An [Idempotent] call waits for the new leader and its awaited factory.
        int newLeaderPid = Replies.Value(await followers[1].RequestAsync("slow-idem 0")).GetInt32();
        var newLeader = Assert.Single(followers, f => f.Pid == newLeaderPid);
        Assert.Single(newLeader.Events("factory"), e => e.GetProperty("ok").GetBoolean());
        Assert.All(followers.Where(f => f != newLeader), f => Assert.Empty(f.Events("factory")));
    }
}
