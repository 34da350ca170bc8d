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
        var longestStall = TimeSpan.Zero;

        // Block every pool thread (and the ones the pool injects meanwhile) for 3 s: 12 heartbeat intervals, 4 times the
        // 750 ms death threshold. The interval leaves the dedicated monitor threads room for a scheduling stall on a
        // loaded 2-core CI machine; what the test proves is that pool starvation alone is not read as a death.
        var release = new ManualResetEventSlim(); // not disposed: queued blockers may still start after the test
        int blockers = Environment.ProcessorCount * 8;
        for (int i = 0; i < blockers; i++) ThreadPool.UnsafeQueueUserWorkItem(_ => release.Wait(TimeSpan.FromSeconds(15)), null);
        var watcher = new Thread(() =>
        {
            var until = DateTime.UtcNow.AddSeconds(3);
            long last = System.Diagnostics.Stopwatch.GetTimestamp();
            while (DateTime.UtcNow < until)
            {
                if (!channel.Readiness.IsReady) lostReadiness = true;
                Thread.Sleep(5);
                // How long this dedicated thread itself went unscheduled (the whole process starved by the machine).
                var gap = System.Diagnostics.Stopwatch.GetElapsedTime(last);
                if (gap > longestStall) longestStall = gap;
                last = System.Diagnostics.Stopwatch.GetTimestamp();
            }
        });
        watcher.Start();
        watcher.Join();
        release.Set();

        // Pool starvation alone must never read as a death. A dedicated thread that itself went a heartbeat interval or
        // more without running means the machine starved the whole process (load far above the core count); a loss is
        // then the liveness rule working as documented, not the pool, and is not held against the library.
        Assert.False(lostReadiness && longestStall < TimeSpan.FromMilliseconds(250),
            $"The follower lost its leader while the pool was starved (the longest stall of a dedicated thread was {longestStall.TotalMilliseconds:0} ms).");
        Assert.Equal(3, await follower.Client.AddAsync(1, 2));
        Assert.Equal(1, leaderNode.FollowerCount);
        Assert.Equal(1, follower.Epoch);
        Assert.True(leader.IsLeader);
    }
}
