using System.Collections.Concurrent;
using ClusterSharing.Node;
using ClusterSharing.Node.Subscriptions;

namespace ClusterSharing.Tests.Node;

/// <summary>Delivery to listeners through real follower connections: replay, isolation, re-publication and backpressure.</summary>
public sealed class SubscriptionDeliveryTests
{
    private static ClusterSharing.Leader.SubscriptionHub HubOf(ClusterNode node, string name) =>
        ((ClusterSharing.Leader.ISubscriptionHost)node.FindChannel(name)!.LeaderSide!).Hub;

    private static PublicationLog<ICalculator> PublicationsOf(ClusterNode node, string name) =>
        ((NodeChannel<ICalculator>)node.FindChannel(name)!).Publications;

    /// <summary>A leader holding <paramref name="real"/> and one follower, both ready.</summary>
    private static async Task<(ClusterNode LeaderNode, ClusterClient<ICalculator> Leader, ClusterClient<ICalculator> Follower)> StartLeaderAndFollowerAsync(
        TestCluster cluster, Calculator real)
    {
        var (leaderNode, leader) = cluster.Start(() => real);
        await leader.ReadyAsync();
        var (_, follower) = cluster.Start();
        await follower.ReadyAsync();
        return (leaderNode, leader, follower);
    }

    [Fact]
    public void SubscriptionBufferSize_must_be_positive()
    {
        var error = Assert.Throws<ArgumentException>(() => new ClusterClientOptions { SubscriptionBufferSize = 0 }.Validate());
        Assert.Contains("SubscriptionBufferSize", error.Message);
    }

    [Fact]
    public async Task A_late_follower_and_a_second_local_listener_get_the_last_value()
    {
        await using var cluster = new TestCluster();
        var real = new Calculator();
        var (leaderNode, leader, early) = await StartLeaderAndFollowerAsync(cluster, real);
        var hub = HubOf(leaderNode, leader.Name);

        var first = new ConcurrentQueue<int>();
        early.Client.Subscribe("t", first.Enqueue);
        await TestCluster.WaitUntilAsync(() => real.ListenerCount("t") == 1, "the real subscription");
        real.Emit("t", 1);
        real.Emit("t", 2);
        await TestCluster.WaitUntilAsync(() => first.Count == 2, "two values at the first listener");

        // A second listener in the same follower: the follower replays what it has, the leader is not asked again.
        var second = new ConcurrentQueue<int>();
        early.Client.Subscribe("t", second.Enqueue);
        await TestCluster.WaitUntilAsync(() => second.Count == 1, "the cached value at the second listener");
        Assert.Equal([2], second);

        // A follower that subscribes late gets the leader's cached last value at once.
        var (_, late) = cluster.Start();
        await late.ReadyAsync();
        var lateValues = new ConcurrentQueue<int>();
        late.Client.Subscribe("t", lateValues.Enqueue);
        await TestCluster.WaitUntilAsync(() => lateValues.Count == 1, "the last value at the late follower");
        Assert.Equal([2], lateValues);
        await TestCluster.WaitUntilAsync(() => hub.SubscriberCount(CalculatorContract.SubscribeTopic.Id) == 2, "two subscribing processes");

        real.Emit("t", 3);
        await TestCluster.WaitUntilAsync(() => first.Count == 3 && second.Count == 2 && lateValues.Count == 2, "the new value everywhere");
        Assert.Equal([1, 2, 3], first);
        Assert.Equal([2, 3], second);
        Assert.Equal([2, 3], lateValues);
        Assert.Equal(1, real.ListenerCount("t"));
    }

    [Fact]
    public async Task Unsubscribing_one_listener_keeps_the_others_and_unsubscribing_all_releases_the_real_subscription()
    {
        await using var cluster = new TestCluster();
        var real = new Calculator();
        var (_, _, follower) = await StartLeaderAndFollowerAsync(cluster, real);
        var a = new ConcurrentQueue<int>();
        var b = new ConcurrentQueue<int>();
        Action<int> listenerA = a.Enqueue, listenerB = b.Enqueue;
        follower.Client.Subscribe("t", listenerA);
        follower.Client.Subscribe("t", listenerB);
        await TestCluster.WaitUntilAsync(() => real.ListenerCount("t") == 1, "the real subscription");
        real.Emit("t", 1);
        await TestCluster.WaitUntilAsync(() => a.Count == 1 && b.Count == 1, "the value at both listeners");

        follower.Client.Unsubscribe("t", listenerA);
        real.Emit("t", 2);
        await TestCluster.WaitUntilAsync(() => b.Count == 2, "the second value at the remaining listener");
        Assert.Equal([1], a);
        Assert.Equal(1, real.ListenerCount("t"));

        follower.Client.Unsubscribe("t", null);
        await TestCluster.WaitUntilAsync(() => real.ListenerCount("t") == 0, "the real unsubscribe once the follower removed all");
        real.Emit("t", 3);
        Assert.Equal(0, await follower.Client.AddAsync(0, 0)); // a round trip: a stray value would have arrived before it
        await Task.Delay(100);
        Assert.Equal([1, 2], b);
    }

    [Fact]
    public async Task A_throwing_listener_reaches_ListenerError_and_the_others_keep_receiving()
    {
        await using var cluster = new TestCluster();
        var real = new Calculator();
        var (_, _, follower) = await StartLeaderAndFollowerAsync(cluster, real);

        var errors = new ConcurrentQueue<ListenerErrorEventArgs>();
        follower.ListenerError += (_, e) => errors.Enqueue(e);
        var good = new ConcurrentQueue<int>();
        follower.Client.Subscribe("t", _ => throw new InvalidOperationException("listener bug"));
        follower.Client.Subscribe("t", good.Enqueue);
        await TestCluster.WaitUntilAsync(() => real.ListenerCount("t") == 1, "the real subscription");
        for (int i = 1; i <= 3; i++) real.Emit("t", i);
        await TestCluster.WaitUntilAsync(() => good.Count == 3 && errors.Count == 3, "values at the good listener and three errors");
        Assert.Equal([1, 2, 3], good);
        Assert.All(errors, e => Assert.Equal("listener bug", e.Exception.Message));
        Assert.All(errors, e => Assert.Equal("Subscribe", e.Member));
        // The connection is fine: calls still work.
        Assert.Equal(3, await follower.Client.AddAsync(1, 2));
    }

    [Fact]
    public async Task Every_event_handler_gets_the_proxy_as_sender_and_the_real_handler_goes_with_the_last_one()
    {
        await using var cluster = new TestCluster();
        var real = new Calculator();
        var (_, _, follower) = await StartLeaderAndFollowerAsync(cluster, real);
        var senders = new ConcurrentQueue<object?>();
        var values = new ConcurrentQueue<int>();
        EventHandler<int> a = (s, v) => { senders.Enqueue(s); values.Enqueue(v); };
        EventHandler<int> b = (s, v) => { senders.Enqueue(s); values.Enqueue(v); };
        follower.Client.Ticked += a;
        follower.Client.Ticked += b;
        await TestCluster.WaitUntilAsync(() => HasTickedHandler(real), "the real event handler");
        real.RaiseTicked(4);
        await TestCluster.WaitUntilAsync(() => values.Count == 2, "the event at both handlers");
        Assert.All(senders, s => Assert.Same(follower.Client, s));
        follower.Client.Ticked -= a;
        follower.Client.Ticked -= b;
        await TestCluster.WaitUntilAsync(() => !HasTickedHandler(real), "the real handler removed when nobody listens");
    }

    private static bool HasTickedHandler(Calculator real)
    {
        var field = typeof(Calculator).GetField("Ticked", System.Reflection.BindingFlags.Instance | System.Reflection.BindingFlags.NonPublic);
        return field?.GetValue(real) is not null;
    }

    [Fact]
    public async Task Live_publications_reach_a_new_leader_once_each_and_are_bounded()
    {
        await using var cluster = new TestCluster();
        var first = new Calculator();
        var (leaderNode, leader) = cluster.Start(() => first);
        await leader.ReadyAsync();
        var second = new Calculator();
        var (followerNode, follower) = cluster.Start(() => second);
        await follower.ReadyAsync();

        for (int i = 0; i < 100; i++) follower.Client.Publish("same");
        follower.Client.Publish("other");
        await TestCluster.WaitUntilAsync(() => first.Published.Count == 101, "every publication at the first leader");
        Assert.Equal(2, PublicationsOf(followerNode, follower.Name).Count);

        await leader.DisposeAsync();
        await leaderNode.DisposeAsync();
        await TestCluster.WaitUntilAsync(() => follower.IsLeader && second.Published.Count == 2, "the replay at the new leader");
        await Task.Delay(200); // a duplicate replay would have arrived by now
        Assert.Equal(["same", "other"], second.Published.Order().Reverse());

        // Bounded: distinct publications beyond the cap are forgotten oldest first.
        for (int i = 0; i < PublicationLog<ICalculator>.Capacity + 500; i++) follower.Client.Publish("p" + i);
        Assert.Equal(PublicationLog<ICalculator>.Capacity, PublicationsOf(followerNode, follower.Name).Count);

        // A forgotten publication made again is remembered again (it evicts the now-oldest), the cap still holding.
        follower.Client.Publish("p0");
        follower.Client.Publish("p0");
        Assert.Equal(PublicationLog<ICalculator>.Capacity, PublicationsOf(followerNode, follower.Name).Count);
    }

    [Fact]
    public async Task A_follower_whose_listener_cannot_keep_up_resynchronises_and_gets_the_last_value_while_others_get_everything()
    {
        await using var cluster = new TestCluster();
        var real = new Calculator();
        var (leaderNode, leader) = cluster.Start(() => real);
        await leader.ReadyAsync();
        var (_, fast) = cluster.Start();
        await fast.ReadyAsync();
        var (_, slow) = cluster.Start(configure: o => o.SubscriptionBufferSize = 8);
        await slow.ReadyAsync();

        using var gate = new ManualResetEventSlim(false);
        var fastValues = new ConcurrentQueue<int>();
        var slowValues = new ConcurrentQueue<int>();
        var errors = new ConcurrentQueue<ListenerErrorEventArgs>();
        slow.ListenerError += (_, e) => errors.Enqueue(e);
        fast.Client.Subscribe("t", fastValues.Enqueue);
        slow.Client.Subscribe("t", v =>
        {
            gate.Wait(TimeSpan.FromSeconds(30));
            slowValues.Enqueue(v);
        });
        var hub = HubOf(leaderNode, leader.Name);
        await TestCluster.WaitUntilAsync(() => hub.SubscriberCount(CalculatorContract.SubscribeTopic.Id) == 2, "both followers subscribed");

        for (int i = 0; i < 100; i++) real.Emit("t", i);
        await TestCluster.WaitUntilAsync(() => fastValues.Count == 100, "every value at the fast follower");
        Assert.Equal(Enumerable.Range(0, 100), fastValues);
        await TestCluster.WaitUntilAsync(() => !errors.IsEmpty, "the overflow reported on the slow follower");
        Assert.Null(errors.First().Member);
        Assert.Contains("could not keep up", errors.First().Exception.Message);

        gate.Set();
        // After re-attaching, the leader replays its last value of the key.
        await TestCluster.WaitUntilAsync(() => slowValues.Contains(99), "the last value at the slow follower");
        Assert.True(slowValues.Count < 100, $"the slow follower dropped values instead of buffering them all ({slowValues.Count})");
        Assert.Equal(slowValues.Order(), slowValues);
        await TestCluster.WaitUntilAsync(() => hub.SubscriberCount(CalculatorContract.SubscribeTopic.Id) == 2, "the slow follower re-subscribed");
        real.Emit("t", 100);
        await TestCluster.WaitUntilAsync(() => slowValues.Contains(100) && fastValues.Contains(100), "a new value at both");
    }
}
