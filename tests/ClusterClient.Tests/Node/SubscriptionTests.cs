using System.Collections.Concurrent;

namespace ClusterSharing.Tests.Node;

public sealed class SubscriptionTests
{
    [Fact]
    public async Task One_real_subscription_fans_out_to_followers_and_local_listeners()
    {
        await using var cluster = new TestCluster();
        var real = new Calculator();
        var (leaderNode, leader) = cluster.Start(() => real);
        await leader.ReadyAsync();
        var (_, follower) = cluster.Start();
        await follower.ReadyAsync();
        var hub = ((ClusterSharing.Leader.ISubscriptionHost)leaderNode.FindChannel(leader.Name)!.LeaderSide!).Hub;

        var remote = new ConcurrentQueue<int>();
        var local = new ConcurrentQueue<int>();
        Action<int> remoteListener = remote.Enqueue;
        Action<int> localListener = local.Enqueue;
        follower.Client.Subscribe("t", remoteListener);
        leader.Client.Subscribe("t", localListener);
        try
        {
            await TestCluster.WaitUntilAsync(() => hub.SubscriberCount(CalculatorContract.SubscribeTopic.Id) == 2, "both subscribers at the leader");
        }
        catch (TimeoutException e)
        {
            throw new TimeoutException($"{e.Message} (hub {hub.SubscriberCount(CalculatorContract.SubscribeTopic.Id)}, real {real.ListenerCount("t")}, entries {hub.Count})");
        }
        Assert.Equal(1, real.ListenerCount("t"));

        real.Emit("t", 1);
        real.Emit("t", 2);
        await TestCluster.WaitUntilAsync(() => remote.Count == 2 && local.Count == 2, "values at both subscribers");
        Assert.Equal([1, 2], remote);
        Assert.Equal([1, 2], local);

        follower.Client.Unsubscribe("t", remoteListener);
        leader.Client.Unsubscribe("t", localListener);
        await TestCluster.WaitUntilAsync(() => real.ListenerCount("t") == 0, "the real unsubscribe once nobody listens");
    }

    [Fact]
    public async Task Events_and_publications_cross_the_connection()
    {
        await using var cluster = new TestCluster();
        var real = new Calculator();
        var (leaderNode, leader) = cluster.Start(() => real);
        await leader.ReadyAsync();
        var (_, follower) = cluster.Start();
        await follower.ReadyAsync();
        var hub = ((ClusterSharing.Leader.ISubscriptionHost)leaderNode.FindChannel(leader.Name)!.LeaderSide!).Hub;

        var ticks = new ConcurrentQueue<(object? Sender, int Value)>();
        EventHandler<int> handler = (sender, value) => ticks.Enqueue((sender, value));
        follower.Client.Ticked += handler;
        await TestCluster.WaitUntilAsync(() => hub.SubscriberCount(CalculatorContract.Ticked.Id) == 1, "the event subscription at the leader");
        // The hub counts the subscriber before the real handler is attached, and events are not replayed, so raise
        // until the follower hears one (bounded), rather than race the attachment with a single raise.
        for (int i = 0; i < 200 && ticks.IsEmpty; i++)
        {
            real.RaiseTicked(5);
            await Task.Delay(100);
        }
        await TestCluster.WaitUntilAsync(() => !ticks.IsEmpty, "the event at the follower");
        Assert.All(ticks, tick => Assert.Same(follower.Client, tick.Sender));
        Assert.All(ticks, tick => Assert.Equal(5, tick.Value));
        follower.Client.Ticked -= handler;

        follower.Client.Publish("hello");
        await TestCluster.WaitUntilAsync(() => real.Published.Contains("hello"), "the publication at the leader");
    }
}
