namespace ClusterSharing.Tests.Liveness;

[CollectionDefinition(nameof(StarvationCollection), DisableParallelization = true)]
public sealed class StarvationCollection;

/// <summary>Runs alone: it starves this process's thread pool on purpose.</summary>
[Collection(nameof(StarvationCollection))]
public sealed class StarvationTests
{
    [Fact]
    public async Task A_starved_thread_pool_longer_than_three_heartbeats_causes_no_false_death()
    {
        await using var cluster = new TestCluster();
        var (leaderNode, leader) = cluster.Start(configure: o => o.HeartbeatInterval = TimeSpan.FromMilliseconds(250));
        await leader.ReadyAsync();
        var (followerNode, follower) = cluster.Start(configure: o => o.HeartbeatInterval = TimeSpan.FromMilliseconds(250));
        await follower.ReadyAsync();
        var channel = followerNode.FindChannel(follower.Name)!;
        bool lostReadiness = false;

        // Block every pool thread (and the ones the pool injects meanwhile) for 3 s: 12 heartbeat intervals, 4 times the
        // 750 ms death threshold. The interval leaves the dedicated monitor threads room for a scheduling stall on a
        // loaded 2-core CI machine; what the test proves is that pool starvation alone is not read as a death.
        var release = new ManualResetEventSlim(); // not disposed: queued blockers may still start after the test
        int blockers = Environment.ProcessorCount * 8;
        for (int i = 0; i < blockers; i++) ThreadPool.UnsafeQueueUserWorkItem(_ => release.Wait(TimeSpan.FromSeconds(15)), null);
        var watcher = new Thread(() =>
        {
            var until = DateTime.UtcNow.AddSeconds(3);
            while (DateTime.UtcNow < until)
            {
                if (!channel.Readiness.IsReady) lostReadiness = true;
                Thread.Sleep(5);
            }
        });
        watcher.Start();
        watcher.Join();
        release.Set();

        Assert.False(lostReadiness, "The follower lost its leader while the pool was starved.");
        Assert.Equal(3, await follower.Client.AddAsync(1, 2));
        Assert.Equal(1, leaderNode.FollowerCount);
        Assert.Equal(1, follower.Epoch);
        Assert.True(leader.IsLeader);
    }
}
