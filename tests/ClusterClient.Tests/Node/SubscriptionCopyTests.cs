using System.Collections.Concurrent;
using ClusterSharing.Node;
using ClusterSharing.Proxies;

namespace ClusterSharing.Tests.Node;

/// <summary>A contract with a mutable value type, resolved through the dynamic path.</summary>
public interface IListFeed
{
    void Subscribe(string topic, Action<List<int>> listener);

    void Unsubscribe(string topic, Action<List<int>>? listener);
}

/// <summary>The real feed: keeps listeners per topic and pushes one shared list instance to all of them.</summary>
public sealed class ListFeed : IListFeed
{
    private readonly ConcurrentDictionary<string, ConcurrentQueue<Action<List<int>>>> _listeners = new();

    public void Subscribe(string topic, Action<List<int>> listener) => _listeners.GetOrAdd(topic, _ => new()).Enqueue(listener);

    public void Unsubscribe(string topic, Action<List<int>>? listener) => _listeners.TryRemove(topic, out _);

    public bool HasListener(string topic) => _listeners.TryGetValue(topic, out var list) && !list.IsEmpty;

    public void Emit(string topic, List<int> value)
    {
        if (!_listeners.TryGetValue(topic, out var list)) return;
        foreach (var listener in list) listener(value);
    }
}

public sealed class SubscriptionCopyTests
{
    [Fact]
    public async Task Each_listener_gets_its_own_copy_of_the_value_in_the_leader_and_in_a_follower()
    {
        await using var cluster = new TestCluster();
        var contract = ContractResolver.Resolve<IListFeed>(ProxyGenerationMode.AlwaysDynamic);
        var real = new ListFeed();
        var leaderOptions = cluster.Options();
        await using var leaderNode = new ClusterNode(leaderOptions);
        await using var leader = ClusterClient<IListFeed>.Open(leaderNode, contract, () => real, leaderOptions, ownsNodeReference: false);
        await leader.ReadyAsync();
        var followerOptions = cluster.Options();
        await using var followerNode = new ClusterNode(followerOptions);
        await using var follower = ClusterClient<IListFeed>.Open(followerNode, contract, () => new ListFeed(), followerOptions, ownsNodeReference: false);
        await follower.ReadyAsync();

        var received = new ConcurrentQueue<(string Who, List<int> Value)>();
        foreach (var (who, handle) in new[] { ("leader", leader), ("follower", follower) })
        {
            // The first listener of each process mutates what it got; the second must not see that.
            handle.Client.Subscribe("t", v => { v.Add(99); received.Enqueue((who + " mutator", v)); });
            handle.Client.Subscribe("t", v => received.Enqueue((who + " reader", v)));
        }
        await TestCluster.WaitUntilAsync(() => real.HasListener("t"), "the real subscription");
        // Subscriptions travel asynchronously: emit until both processes have heard (bounded).
        var sent = new List<int> { 1, 2, 3 };
        for (int i = 0; i < 200 && received.Count < 4; i++)
        {
            received.Clear();
            real.Emit("t", sent);
            await Task.Delay(25);
        }
        await TestCluster.WaitUntilAsync(() => received.Count >= 4, "the value at all four listeners");
        Assert.Equal([1, 2, 3], sent);
        foreach (var (who, value) in received)
        {
            Assert.NotSame(sent, value);
            Assert.Equal(who.EndsWith("mutator", StringComparison.Ordinal) ? [1, 2, 3, 99] : [1, 2, 3], value);
        }
    }
}
