using ClusterSharing.Node;

namespace ClusterSharing.Tests.Node;

/// <summary>Races the chaos run (bench/ClusterClient.Chaos) found, replayed deterministically.</summary>
public sealed class ChaosRegressionTests
{
    [Fact]
    public async Task A_registration_answer_from_the_lost_leader_arriving_after_taking_over_does_not_unroute_the_new_leader()
    {
        await using var cluster = new TestCluster();
        var (oldLeaderNode, oldLeader) = cluster.Start();
        await oldLeader.ReadyAsync();
        var (node, survivor) = cluster.Start(configure: o => o.ResponseTimeout = TimeSpan.FromSeconds(3));
        var (_, other) = cluster.Start(configure: o => o.ResponseTimeout = TimeSpan.FromSeconds(3));
        await Task.WhenAll(survivor.ReadyAsync(), other.ReadyAsync());
        var channel = (NodeChannel<ICalculator>)node.FindChannel(survivor.Name)!;
        var lostConnection = channel.CurrentRoute!.Connection!;

        await oldLeaderNode.DisposeAsync();
        await TestCluster.WaitUntilAsync(() => survivor.IsLeader || other.IsLeader, "a new leader");
        if (!survivor.IsLeader)
        {
            // Make the node under test the leader: the other one steps out of the way.
            await other.DisposeAsync();
            await TestCluster.WaitUntilAsync(() => survivor.IsLeader, "the survivor to lead");
        }
        await survivor.ReadyAsync();

        // What a registration continuation still running for the lost connection does when it completes late.
        channel.AttachRemote(lostConnection, 1);

        Assert.True(channel.Readiness.IsReady);
        Assert.NotNull(channel.CurrentRoute?.Local);
        // Before the fix: routed to the dead connection, the call detached the leader's own route and timed out.
        Assert.Equal(3, await survivor.Client.AddAsync(1, 2));
        Assert.True(channel.Readiness.IsReady);
    }
}
