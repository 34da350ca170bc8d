using System.Collections.Concurrent;

namespace ClusterSharing.Tests.Node;

public sealed class FailoverTests
{
    [Fact]
    public async Task Follower_takes_over_when_the_leader_node_closes_after_its_running_calls_replied()
    {
        await using var cluster = new TestCluster();
        var reals = new ConcurrentBag<Calculator>();
        Func<ICalculator> factory = () => { var c = new Calculator(); reals.Add(c); return c; };
        var (leaderNode, leader) = cluster.Start(factory);
        await leader.ReadyAsync();
        var (_, b) = cluster.Start(factory);
        var (_, c) = cluster.Start(factory);
        await Task.WhenAll(b.ReadyAsync(), c.ReadyAsync());
        int oldId = await b.Client.WhoAmIAsync();
        var changes = new ConcurrentQueue<LeaderChangedEventArgs>();
        b.LeaderChanged += (_, e) => changes.Enqueue(e);
        c.LeaderChanged += (_, e) => changes.Enqueue(e);

        // In flight when the leader closes on purpose: it lets both finish and reply before it goes (a killed leader's
        // in-flight calls are the multi-process tests' business).
        var idempotent = c.Client.SlowIdempotentWhoAmIAsync(1000);
        var plain = b.Client.SlowWhoAmIAsync(1000);
        var first = reals.Single();
        await TestCluster.WaitUntilAsync(() => first.SlowCallsStarted == 2, "both calls to run on the leader");
        await leaderNode.DisposeAsync();

        Assert.Equal(oldId, await plain);
        Assert.Equal(oldId, await idempotent);

        await TestCluster.WaitUntilAsync(() => b.IsLeader || c.IsLeader, "a new leader");
        Assert.True(b.IsLeader ^ c.IsLeader);
        int newId = await b.Client.WhoAmIAsync();
        Assert.Equal(newId, await c.Client.WhoAmIAsync());
        Assert.NotEqual(oldId, newId);
        Assert.Equal(2, b.Epoch);
        Assert.Equal(2, c.Epoch);
        Assert.Contains(changes, e => e.IsLeader && e.Epoch == 2);
        Assert.Equal(2, reals.Count);
    }

    [Fact]
    public async Task Calls_issued_during_reelection_wait_for_the_new_leader()
    {
        await using var cluster = new TestCluster();
        var (leaderNode, leader) = cluster.Start();
        await leader.ReadyAsync();
        var (followerNode, follower) = cluster.Start(configure: o => o.Role = ClusterRole.Follower);
        await follower.ReadyAsync();

        await leaderNode.DisposeAsync();
        var channel = followerNode.FindChannel(follower.Name)!;
        await TestCluster.WaitUntilAsync(() => !channel.Readiness.IsReady, "the follower to notice the leader is gone");
        var calls = Enumerable.Range(0, 50).Select(i => follower.Client.AddAsync(i, i)).ToArray();
        await Task.Delay(200);
        Assert.DoesNotContain(calls, c => c.IsCompleted);

        var (_, newLeader) = cluster.Start(configure: o => o.Role = ClusterRole.Leader);
        var results = await Task.WhenAll(calls);
        Assert.Equal(Enumerable.Range(0, 50).Select(i => 2 * i), results);
        Assert.True(newLeader.IsLeader);
        Assert.Equal(2, follower.Epoch);
    }

    [Fact]
    public async Task Leadership_lost_token_fires_on_the_leader_only()
    {
        await using var cluster = new TestCluster();
        var (_, leader) = cluster.Start();
        await leader.ReadyAsync();
        var (_, follower) = cluster.Start();
        await follower.ReadyAsync();
        var token = leader.LeadershipLost;
        Assert.False(token.IsCancellationRequested);

        await leader.DisposeAsync();
        Assert.True(token.IsCancellationRequested);
        Assert.False(follower.LeadershipLost.IsCancellationRequested);
        await TestCluster.WaitUntilAsync(() => follower.IsLeader, "the follower to take over");
    }

    [Fact]
    public async Task Followers_resubscribe_on_the_new_leader()
    {
        await using var cluster = new TestCluster();
        var reals = new ConcurrentQueue<Calculator>();
        Func<ICalculator> factory = () => { var c = new Calculator(); reals.Enqueue(c); return c; };
        var (leaderNode, leader) = cluster.Start(factory);
        await leader.ReadyAsync();
        var (_, b) = cluster.Start(factory);
        var (_, c) = cluster.Start(factory);
        await Task.WhenAll(b.ReadyAsync(), c.ReadyAsync());
        var atB = new ConcurrentQueue<int>();
        var atC = new ConcurrentQueue<int>();
        b.Client.Subscribe("prices", atB.Enqueue);
        c.Client.Subscribe("prices", atC.Enqueue);
        var first = reals.Single();
        await TestCluster.WaitUntilAsync(() => first.ListenerCount("prices") == 1, "one real subscription for two followers");

        await leaderNode.DisposeAsync();
        await TestCluster.WaitUntilAsync(() => reals.Count == 2, "the new leader's real client");
        var second = reals.Last();
        await TestCluster.WaitUntilAsync(() => second.ListenerCount("prices") == 1, "the subscription on the new leader");
        second.Emit("prices", 99);
        await TestCluster.WaitUntilAsync(() => atB.Contains(99) && atC.Contains(99), "both followers to get the new leader's value");
    }
}
