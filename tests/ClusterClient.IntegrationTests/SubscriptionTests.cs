namespace ClusterSharing.IntegrationTests;

/// <summary>Subscriptions and publications across processes, and across a leader's death.</summary>
public sealed class SubscriptionTests
{
    private static bool IsValue(System.Text.Json.JsonElement line, string topic, string value) =>
        HostProcess.IsEvent(line, "value") && Replies.Text(line, "topic") == topic && Replies.Text(line, "value") == value;

    [Fact]
    public async Task A_publication_reaches_the_subscribers_in_every_process_through_one_real_subscription()
    {
        await using var cluster = new HostCluster("--max-wait-ms", "20000", "--response-timeout-ms", "20000");
        var (leader, followers) = await cluster.StartReadyAsync(3);

        Replies.Value(await followers[0].RequestAsync("sub news"));
        // The follower's subscription has reached the leader when its real client was subscribed.
        await leader.WaitForEventAsync("real-subscribed", l => Replies.Text(l, "topic") == "news");
        Replies.Value(await leader.RequestAsync("sub news"));

        Replies.Value(await followers[1].RequestAsync("publish news hello"));
        await followers[0].WaitForAsync(l => IsValue(l, "news", "hello"), "the value 'hello'");
        await leader.WaitForAsync(l => IsValue(l, "news", "hello"), "the value 'hello'");
        Assert.DoesNotContain(followers[1].Lines, l => HostProcess.IsEvent(l, "value"));

        // Two processes subscribed with the same registration: the leader's real client was subscribed once.
        Assert.Single(leader.Events("real-subscribed"), l => Replies.Text(l, "topic") == "news");
    }

    [Fact]
    public async Task Subscriptions_and_publications_survive_the_leader_being_killed()
    {
        await using var cluster = new HostCluster("--max-wait-ms", "20000", "--response-timeout-ms", "20000");
        var (oldLeader, followers) = await cluster.StartReadyAsync(3);
        var (subscriber, publisher) = (followers[0], followers[1]);

        Replies.Value(await subscriber.RequestAsync("sub news"));
        Replies.Value(await publisher.RequestAsync("publish news before"));
        await subscriber.WaitForAsync(l => IsValue(l, "news", "before"), "the value 'before'");

        oldLeader.Kill();
        await oldLeader.WaitForExitAsync();
        // An [Idempotent] call waits for the new leader: after it, the cluster has re-formed.
        int newLeaderPid = Replies.Value(await publisher.RequestAsync("slow-idem 0")).GetInt32();
        var newLeader = Assert.Single(followers, f => f.Pid == newLeaderPid);

        // The subscription was re-established on the new leader's real client, and the publication re-published.
        await newLeader.WaitForEventAsync("real-subscribed", l => Replies.Text(l, "topic") == "news");
        await newLeader.WaitForEventAsync("real-published", l => Replies.Text(l, "value") == "before");

        int from = subscriber.LineCount;
        Replies.Value(await publisher.RequestAsync("publish news after"));
        await subscriber.WaitForAsync(l => IsValue(l, "news", "after"), "the value 'after'", from: from);
    }
}
