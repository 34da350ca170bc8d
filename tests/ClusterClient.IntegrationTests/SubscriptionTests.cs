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
        Replies.Value(await subscriber.RequestAsync("on-notice"));
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
        // The live publication reached the new leader exactly once (deduplicated, replayed once per new leader).
        await newLeader.WaitForEventAsync("real-published", l => Replies.Text(l, "value") == "after");
        Assert.Single(newLeader.Events("real-published"), l => Replies.Text(l, "value") == "before");

        // The event handler was re-attached to the new real client too.
        from = subscriber.LineCount;
        await RaiseUntilHeardAsync(publisher, [subscriber], from, cluster);
    }

    [Fact]
    public async Task Events_raised_by_the_real_client_reach_handlers_in_every_process()
    {
        await using var cluster = new HostCluster("--max-wait-ms", "20000", "--response-timeout-ms", "20000");
        var (leader, followers) = await cluster.StartReadyAsync(3);
        foreach (var host in cluster.Hosts) Replies.Value(await host.RequestAsync("on-notice"));

        await RaiseUntilHeardAsync(followers[1], cluster.Hosts, 0, cluster);
        foreach (var host in cluster.Hosts)
            Assert.All(host.Events("notice"), n => Assert.True(n.GetProperty("senderIsProxy").GetBoolean(), n.GetRawText()));
        // Raised in the leader's real client only.
        Assert.NotEmpty(leader.Events("real-raised"));
        Assert.All(followers, f => Assert.Empty(f.Events("real-raised")));
    }

    [Fact]
    public async Task An_async_stream_reaches_a_follower_in_order_and_stops_on_the_leader_when_the_follower_stops()
    {
        await using var cluster = new HostCluster("--max-wait-ms", "20000", "--response-timeout-ms", "20000");
        var (leader, followers) = await cluster.StartReadyAsync(2);

        var values = Replies.Value(await followers[0].RequestAsync("stream counter 5")).EnumerateArray().Select(v => v.GetInt32()).ToArray();
        Assert.Equal(5, values.Length);
        for (int i = 1; i < values.Length; i++) Assert.Equal(values[i - 1] + 1, values[i]);

        await leader.WaitForEventAsync("real-stream-started", l => Replies.Text(l, "name") == "counter");
        await leader.WaitForEventAsync("real-stream-stopped", l => Replies.Text(l, "name") == "counter");
    }

    /// <summary>
    /// Raises notices until every listener has heard one: a notice raised before a handler reached the leader is
    /// (correctly) missed, so one raise is not enough. Bounded in count and time.
    /// </summary>
    private static async Task RaiseUntilHeardAsync(HostProcess raiser, IReadOnlyList<HostProcess> listeners, int from, HostCluster cluster)
    {
        bool everyoneHeard = false;
        for (int attempt = 0; attempt < 50 && !everyoneHeard; attempt++)
        {
            Replies.Value(await raiser.RequestAsync($"raise notice-{attempt}"));
            await Task.Delay(100);
            everyoneHeard = listeners.All(h => h.Lines.Skip(from).Any(l => HostProcess.IsEvent(l, "notice")));
        }
        Assert.True(everyoneHeard, $"Not every process heard a notice.\n{cluster.DescribeAll()}");
    }
}
