using ClusterSharing.Node;
using ClusterSharing.Tests.Fixtures;

namespace ClusterSharing.Tests.Node;

/// <summary>A process that follows has the leader's code compiled in the background before it may have to lead.</summary>
public sealed class LeaderPathWarmupTests
{
    [Fact]
    public async Task A_process_that_follows_prepares_the_leader_path_in_the_background()
    {
        await using var cluster = new TestCluster();
        var (_, leader) = cluster.Start();
        await leader.ReadyAsync();
        var (_, follower) = cluster.Start();
        await follower.ReadyAsync();
        Assert.False(follower.IsLeader);
        int prepared = await LeaderPathWarmup.Completion.WaitAsync(TimeSpan.FromSeconds(60));
        // The leader's server, sessions, channels, handshake and hubs: hundreds of methods, not a handful.
        Assert.True(prepared > 200, $"only {prepared} methods were prepared");
    }
}
