namespace ClusterSharing.IntegrationTests;

/// <summary>
/// An awaited subscribe (<c>Task SubscribeAwaited(topic, listener)</c>) completes only once the leader's real client holds
/// the subscription: the real client stamps the moment it took the listener on the machine-wide monotonic clock, the
/// caller stamps the moment its await returned (docs/semantics.md, "Awaitable subscriptions").
/// </summary>
public sealed class AwaitableSubscriptionTests
{
    private static readonly string[] Common = ["--max-wait-ms", "20000", "--response-timeout-ms", "20000"];

    /// <summary>A leader (ready) first, then followers that never lead (ready), so the roles do not depend on a race.</summary>
    private static async Task<(HostProcess Leader, HostProcess[] Followers)> StartAsync(HostCluster cluster, int followers)
    {
        var leader = cluster.Start("--role", "leader");
        await HostCluster.WaitReadyAsync(leader);
        var started = Enumerable.Range(0, followers).Select(_ => cluster.Start("--role", "follower")).ToArray();
        await Task.WhenAll(started.Select(HostCluster.WaitReadyAsync));
        return (leader, started);
    }

    private static async Task<double> AttachedAtAsync(HostProcess leader, string topic)
    {
        var line = await leader.WaitForEventAsync("real-attached", l => Replies.Text(l, "topic") == topic);
        return line.GetProperty("atMs").GetDouble();
    }

    [Fact]
    public async Task An_awaited_subscribe_on_a_follower_completes_only_after_the_leaders_real_client_holds_it()
    {
        await using var cluster = new HostCluster(Common);
        var (leader, followers) = await StartAsync(cluster, 1);
        var follower = followers[0];

        // The real subscribe of a "slow" topic takes 1 s before it holds the listener.
        double completedAt = Replies.Value(await follower.RequestAsync("sub-awaited slow-news")).GetDouble();
        double attachedAt = await AttachedAtAsync(leader, "slow-news");
        Assert.True(attachedAt <= completedAt, $"the await completed at {completedAt:0.0} ms, the real client held the listener at {attachedAt:0.0} ms\n{cluster.DescribeAll()}");

        // No sleep: the first value emitted after the await reaches the listener.
        Replies.Value(await follower.RequestAsync("burst slow-news 1 first"));
        await follower.WaitForEventAsync("value", l => Replies.Text(l, "topic") == "slow-news" && Replies.Text(l, "value") == "first-0");
    }

    [Fact]
    public async Task An_awaited_subscribe_on_the_leader_completes_when_the_real_subscribe_returned()
    {
        await using var cluster = new HostCluster(Common);
        var (leader, _) = await StartAsync(cluster, 0);

        double completedAt = Replies.Value(await leader.RequestAsync("sub-awaited slow-local")).GetDouble();
        double attachedAt = await AttachedAtAsync(leader, "slow-local");
        Assert.True(attachedAt <= completedAt, $"the await completed at {completedAt:0.0} ms, the real client held the listener at {attachedAt:0.0} ms\n{leader.Describe()}");
        Replies.Value(await leader.RequestAsync("burst slow-local 1 mine"));
        await leader.WaitForEventAsync("value", l => Replies.Text(l, "topic") == "slow-local" && Replies.Text(l, "value") == "mine-0");
    }

    [Fact]
    public async Task An_awaited_subscribe_the_real_client_refuses_fails_with_its_error_on_the_follower()
    {
        await using var cluster = new HostCluster(Common);
        var (leader, followers) = await StartAsync(cluster, 1);

        var error = Replies.Error(await followers[0].RequestAsync("sub-awaited refuse-me"), nameof(ClusterRemoteException));
        Assert.Equal(typeof(InvalidOperationException).FullName, Replies.Text(error, "remoteType"));
        Assert.Contains("refuses subscribers", Replies.Text(error, "remoteMessage"));
        Assert.Empty(leader.Events("real-attached"));
    }

    [Fact]
    public async Task An_awaited_subscription_is_attached_again_to_the_next_leader_after_a_kill()
    {
        await using var cluster = new HostCluster([.. Common, "--heartbeat-ms", "300"]);
        var (leader, followers) = await StartAsync(cluster, 1);
        var subscriber = followers[0];
        var next = cluster.Start();
        await HostCluster.WaitReadyAsync(next);
        Replies.Value(await subscriber.RequestAsync("sub-awaited news"));

        leader.Kill();
        await leader.WaitForExitAsync();
        // The next leader's real client holds the subscription again without the subscriber doing anything.
        await next.WaitForEventAsync("real-attached", l => Replies.Text(l, "topic") == "news", TimeSpan.FromSeconds(30));
        Replies.Value(await next.RequestAsync("burst news 1 after"));
        await subscriber.WaitForEventAsync("value", l => Replies.Text(l, "topic") == "news" && Replies.Text(l, "value") == "after-0");
    }
}
