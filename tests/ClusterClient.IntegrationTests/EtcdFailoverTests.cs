using ClusterSharing.EngineTests.Coordination.Etcd;

namespace ClusterSharing.IntegrationTests;

/// <summary>
/// The leader of a cluster on etcd is killed with SIGKILL while the other "machines" use it: subscriptions, publications,
/// event handlers and calls continue on the machine elected next.
/// </summary>
public sealed class EtcdFailoverTests
{
    [Fact]
    public async Task Subscriptions_publications_and_events_continue_on_another_machine_after_the_leader_is_killed()
    {
        await using var etcd = await EtcdServer.StartAsync();
        await using var cluster = new HostCluster(EtcdMachines.Arguments(etcd));
        var (oldLeader, followers) = await EtcdMachines.StartThreeAsync(cluster);
        var (subscriber, publisher) = (followers[0], followers[1]);
        foreach (var f in followers)
        {
            Replies.Value(await f.RequestAsync("sub news"));
            Replies.Value(await f.RequestAsync("on-notice"));
        }
        Replies.Value(await publisher.RequestAsync("publish news before"));
        foreach (var f in followers) await f.WaitForAsync(l => EtcdMachines.IsValue(l, "news", "before"), "the value 'before'");

        oldLeader.Kill();
        await oldLeader.WaitForExitAsync();
        // An [Idempotent] call waits for the new leader: after it, the cluster has re-formed.
        int newLeaderPid = Replies.Value(await subscriber.RequestAsync("slow-idem 0", TimeSpan.FromSeconds(60))).GetInt32();
        var newLeader = Assert.Single(followers, f => f.Pid == newLeaderPid);
        var other = followers.Single(f => f != newLeader);

        // Both live subscriptions (one real subscription) and the live publication moved to the new leader's real client.
        await newLeader.WaitForEventAsync("real-subscribed", l => Replies.Text(l, "topic") == "news");
        await newLeader.WaitForEventAsync("real-published", l => Replies.Text(l, "value") == "before");
        Assert.Single(newLeader.Events("real-subscribed"), l => Replies.Text(l, "topic") == "news");

        var marks = followers.ToDictionary(f => f, f => f.LineCount);
        Replies.Value(await other.RequestAsync("publish news after"));
        foreach (var f in followers)
            await f.WaitForAsync(l => EtcdMachines.IsValue(l, "news", "after"), "the value 'after'", from: marks[f]);
        // The publication from before the kill was replayed at most once per subscriber, never twice.
        foreach (var f in followers)
            Assert.True(EtcdMachines.Values(f, "news").Count(v => v == "before") <= 2, $"{f.Label} saw 'before' more than once again.\n{cluster.DescribeAll()}");

        // A machine joining now is replayed the last value of the key it subscribes to.
        var late = cluster.Start("--bind", EtcdMachines.LateMachine);
        await HostCluster.WaitReadyAsync(late);
        Replies.Value(await late.RequestAsync("sub news"));
        await late.WaitForAsync(l => EtcdMachines.IsValue(l, "news", "after"), "the replayed value 'after'");

        // The event handlers were re-attached to the new real client.
        await EtcdMachines.RaiseUntilHeardAsync(other, followers, cluster);
    }

    [Fact]
    public async Task An_idempotent_call_in_flight_when_the_leader_is_killed_is_retried_on_another_machine_and_a_plain_one_fails_fast()
    {
        await using var etcd = await EtcdServer.StartAsync();
        await using var cluster = new HostCluster(EtcdMachines.Arguments(etcd));
        var (oldLeader, followers) = await EtcdMachines.StartThreeAsync(cluster);

        int from = oldLeader.LineCount;
        var (_, plain) = await followers[0].SendAsync("slow 30000");
        var (_, idempotent) = await followers[1].SendAsync("slow-idem 3000");
        await oldLeader.WaitForEventAsync("executing", l => Replies.Text(l, "method") == "SlowAsync", from: from);
        await oldLeader.WaitForEventAsync("executing", l => Replies.Text(l, "method") == "SlowIdempotentAsync", from: from);

        oldLeader.Kill();
        await oldLeader.WaitForExitAsync();

        var plainReply = Replies.Error(await plain.WaitAsync(HostProcess.DefaultTimeout), "LeaderLostException");
        Assert.True(plainReply.GetProperty("sent").GetBoolean(), plainReply.GetRawText());
        int answeredBy = Replies.Value(await idempotent.WaitAsync(TimeSpan.FromSeconds(60))).GetInt32();
        var newLeader = Assert.Single(followers, f => f.Pid == answeredBy);
        // Retried, not answered twice: the new leader's real client ran it once.
        Assert.Single(newLeader.Events("executing"), l => Replies.Text(l, "method") == "SlowIdempotentAsync");
        Assert.Empty(followers.Single(f => f != newLeader).Events("executing"));
    }
}
