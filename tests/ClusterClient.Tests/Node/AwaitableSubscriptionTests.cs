using ClusterSharing.Node;
using ClusterSharing.Node.Subscriptions;
using ClusterSharing.Proxies.Dynamic;

namespace ClusterSharing.Tests.Node;

/// <summary>A contract with awaitable subscribe members and a last-value publication, shared through the Castle.Core fallback.</summary>
public interface IAwaitedFeed
{
    Task SubscribeNews(string topic, Action<int> listener, CancellationToken cancellationToken = default);

    void UnsubscribeNews(string topic, Action<int>? listener);

    /// <summary>The real client never finishes subscribing this one.</summary>
    [Timeout(500)]
    Task SubscribeStuck(string topic, Action<int> listener);

    Task<int> EmitAsync(string topic, int value);

    /// <summary>The real client refuses every subscriber.</summary>
    Task SubscribeRefused(string topic, Action<int> listener);

    [Publish(LastValue = true)]
    void PublishLatest(string key, int value);

    [Publish]
    void PublishEach(int value);
}

/// <summary>The real client: news subscriptions wait for <see cref="Gate"/>.</summary>
public sealed class AwaitedFeed : IAwaitedFeed
{
    private readonly Lock _gate = new();
    private readonly List<(string Topic, Action<int> Listener)> _listeners = [];

    public TaskCompletionSource Gate { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

    public List<(string Key, int Value)> Latest { get; } = [];

    public int Listeners { get { lock (_gate) return _listeners.Count; } }

    public async Task SubscribeNews(string topic, Action<int> listener, CancellationToken cancellationToken = default)
    {
        await Gate.Task.WaitAsync(cancellationToken);
        lock (_gate) _listeners.Add((topic, listener));
    }

    public void UnsubscribeNews(string topic, Action<int>? listener)
    {
        lock (_gate) _listeners.RemoveAll(l => l.Topic == topic && (listener is null || l.Listener == listener));
    }

    public Task SubscribeStuck(string topic, Action<int> listener) => new TaskCompletionSource().Task;

    public Task SubscribeRefused(string topic, Action<int> listener) => throw new InvalidOperationException($"'{topic}' refuses subscribers");

    public Task<int> EmitAsync(string topic, int value)
    {
        Action<int>[] targets;
        lock (_gate) targets = _listeners.Where(l => l.Topic == topic).Select(l => l.Listener).ToArray();
        foreach (var target in targets) target(value);
        return Task.FromResult(targets.Length);
    }

    public void PublishLatest(string key, int value)
    {
        lock (Latest) Latest.Add((key, value));
    }

    public void PublishEach(int value)
    {
    }
}

/// <summary>Awaited subscribes and last-value publications through a real leader and follower in one process.</summary>
public sealed class AwaitableSubscriptionTests
{
    private static readonly DynamicClusterContract<IAwaitedFeed> Contract = new();

    private static async Task<(ClusterClient<IAwaitedFeed> Leader, ClusterNode FollowerNode, ClusterClient<IAwaitedFeed> Follower)> StartAsync(TestCluster cluster, AwaitedFeed real,
        LeaderCallMode leaderCalls = LeaderCallMode.Direct)
    {
        var (_, leader) = cluster.Start(Contract, () => real, o => o.LeaderCalls = leaderCalls);
        await leader.ReadyAsync();
        var (followerNode, follower) = cluster.Start(Contract, () => new AwaitedFeed());
        await follower.ReadyAsync();
        Assert.True(leader.IsLeader);
        return (leader, followerNode, follower);
    }

    [Fact]
    public async Task A_followers_awaited_subscribe_completes_when_the_leaders_real_subscribe_has()
    {
        await using var cluster = new TestCluster();
        var real = new AwaitedFeed();
        var (leader, _, follower) = await StartAsync(cluster, real);
        var received = new List<int>();

        var subscribing = follower.Client.SubscribeNews("news", v => { lock (received) received.Add(v); });
        await Task.Delay(300);
        Assert.False(subscribing.IsCompleted);

        real.Gate.SetResult();
        await subscribing.WaitAsync(TimeSpan.FromSeconds(20));
        Assert.Equal(1, real.Listeners);
        // The first value after the await reaches the listener.
        Assert.Equal(1, await leader.Client.EmitAsync("news", 5));
        await TestCluster.WaitUntilAsync(() => { lock (received) return received.Contains(5); }, "the value");

        // A second listener of the same key: the real client holds it already, so it completes at once.
        await follower.Client.SubscribeNews("news", _ => { }).WaitAsync(TimeSpan.FromSeconds(20));
        Assert.Equal(1, real.Listeners);
    }

    [Fact]
    public async Task An_awaited_subscribe_the_leader_never_holds_fails_with_a_timeout_naming_the_leader_and_is_removed()
    {
        await using var cluster = new TestCluster();
        var real = new AwaitedFeed();
        var (_, followerNode, follower) = await StartAsync(cluster, real);

        var error = await Assert.ThrowsAsync<ClusterTimeoutException>(() => follower.Client.SubscribeStuck("x", _ => { }));
        Assert.Equal("SubscribeStuck", error.Method);
        Assert.Equal(TimeSpan.FromMilliseconds(500), error.Timeout);
        Assert.NotNull(error.Leader);
        var channel = (NodeChannel<IAwaitedFeed>)followerNode.FindChannel(follower.Name)!;
        Assert.Equal(0, channel.Subscriptions.Count);
    }

    [Fact]
    public async Task Cancelling_an_awaited_subscribe_removes_the_listener()
    {
        await using var cluster = new TestCluster();
        var real = new AwaitedFeed();
        var (_, followerNode, follower) = await StartAsync(cluster, real);
        using var cancel = new CancellationTokenSource(200);

        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => follower.Client.SubscribeNews("news", _ => { }, cancel.Token));
        var channel = (NodeChannel<IAwaitedFeed>)followerNode.FindChannel(follower.Name)!;
        Assert.Equal(0, channel.Subscriptions.Count);
    }

    [Fact]
    public async Task Last_value_publications_are_remembered_once_per_key_and_ordinary_ones_once_per_value()
    {
        await using var cluster = new TestCluster();
        var real = new AwaitedFeed();
        var (_, followerNode, follower) = await StartAsync(cluster, real);
        for (int i = 0; i < 300; i++) follower.Client.PublishLatest("k" + (i % 3), i);
        for (int i = 0; i < 5; i++) follower.Client.PublishEach(i);
        var channel = (NodeChannel<IAwaitedFeed>)followerNode.FindChannel(follower.Name)!;
        Assert.Equal(3 + 5, channel.Publications.Count);
        // Every publication still reached the leader's real client as it was made.
        await TestCluster.WaitUntilAsync(() => { lock (real.Latest) return real.Latest.Count == 300; }, "the 300 publications");
    }

    [Fact]
    public async Task A_refused_awaited_subscribe_fails_with_ClusterRemoteException_on_a_follower_and_on_a_leader_that_asks_for_one_shape()
    {
        await using var cluster = new TestCluster();
        var (leader, _, follower) = await StartAsync(cluster, new AwaitedFeed(), LeaderCallMode.SameAsFollowers);

        var remote = await Assert.ThrowsAsync<ClusterRemoteException>(() => follower.Client.SubscribeRefused("t", _ => { }));
        Assert.Equal(typeof(InvalidOperationException).FullName, remote.RemoteType);
        var local = await Assert.ThrowsAsync<ClusterRemoteException>(() => leader.Client.SubscribeRefused("u", _ => { }));
        Assert.Equal(remote.RemoteType, local.RemoteType);
        Assert.IsType<InvalidOperationException>(local.InnerException);
    }

    [Fact]
    public async Task A_refused_awaited_subscribe_on_a_direct_leader_throws_the_real_exception()
    {
        await using var cluster = new TestCluster();
        var (leader, _, _) = await StartAsync(cluster, new AwaitedFeed());
        var error = await Assert.ThrowsAsync<InvalidOperationException>(() => leader.Client.SubscribeRefused("u", _ => { }));
        Assert.Contains("refuses subscribers", error.Message);
    }
}
