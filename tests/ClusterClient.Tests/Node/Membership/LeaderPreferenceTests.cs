using System.Collections.Concurrent;

namespace ClusterSharing.Tests.Node.Membership;

/// <summary>Weights decide who leads: a heavier eligible member that joins takes over through a graceful handover.</summary>
public sealed class LeaderPreferenceTests
{
    [Fact]
    public async Task A_heavier_member_that_joins_takes_over_and_everyone_follows_it()
    {
        await using var cluster = new TestCluster();
        var (_, a) = cluster.Start();
        await a.ReadyAsync();
        var (_, b) = cluster.Start();
        await b.ReadyAsync();
        Assert.True(a.IsLeader);
        var roles = new ConcurrentQueue<string>();
        a.LeaderChanged += (_, e) => roles.Enqueue($"a:{e.IsLeader}");

        var (_, heavy) = cluster.Start(configure: o => o.Weight = 10);
        await TestCluster.WaitUntilAsync(() => heavy.IsLeader, "the heavier member to lead");
        await TestCluster.WaitUntilAsync(() => !a.IsLeader && a.IsReady && b.IsReady && heavy.IsReady, "everyone ready behind the new leader");
        Assert.False(b.IsLeader);
        Assert.Contains("a:False", roles);
        // Calls are served by the new leader's real client.
        Assert.Equal(await heavy.Client.WhoAmIAsync(), await a.Client.WhoAmIAsync());
        Assert.Equal(await heavy.Client.WhoAmIAsync(), await b.Client.WhoAmIAsync());
        string heavyId = heavy.Membership.LocalId;
        await TestCluster.WaitUntilAsync(() => new[] { a, b, heavy }.All(c => c.Membership.Leader?.Id == heavyId && c.Membership.Members.Count == 3),
            "every view to name the heavier member leader");
    }

    [Fact]
    public async Task A_heavier_but_ineligible_member_never_takes_over()
    {
        await using var cluster = new TestCluster();
        var (_, a) = cluster.Start();
        await a.ReadyAsync();
        var (_, heavy) = cluster.Start(configure: o => { o.Weight = 10; o.Eligible = false; });
        await heavy.ReadyAsync();
        await TestCluster.WaitUntilAsync(() => a.Membership.Members.Count == 2, "both members in the view");
        await Task.Delay(500);
        Assert.True(a.IsLeader);
        Assert.False(heavy.IsLeader);
    }

    [Fact]
    public async Task A_lighter_member_joining_changes_nothing()
    {
        await using var cluster = new TestCluster();
        var (_, a) = cluster.Start(configure: o => o.Weight = 3);
        await a.ReadyAsync();
        var (_, light) = cluster.Start(configure: o => o.Weight = 1);
        await light.ReadyAsync();
        await TestCluster.WaitUntilAsync(() => a.Membership.Members.Count == 2, "both members in the view");
        await Task.Delay(500);
        Assert.True(a.IsLeader);
        Assert.Equal(1, a.Epoch);
    }
}

public sealed class PromoteDemoteTests
{
    [Fact]
    public async Task Promote_makes_a_follower_the_leader_and_demote_hands_leadership_to_another_member_with_events_on_each()
    {
        await using var cluster = new TestCluster();
        var (_, a) = cluster.Start();
        await a.ReadyAsync();
        var (_, b) = cluster.Start();
        var (_, c) = cluster.Start();
        await Task.WhenAll(b.ReadyAsync(), c.ReadyAsync());
        var events = new ConcurrentQueue<string>();
        a.Membership.Promoted += (_, _) => events.Enqueue("a+");
        a.Membership.Demoted += (_, _) => events.Enqueue("a-");
        b.Membership.Promoted += (_, _) => events.Enqueue("b+");
        b.Membership.Demoted += (_, _) => events.Enqueue("b-");

        await b.Membership.PromoteAsync();
        Assert.True(b.IsLeader);
        await TestCluster.WaitUntilAsync(() => !a.IsLeader && a.IsReady && c.IsReady, "the old leader to follow");
        await TestCluster.WaitUntilAsync(() => events.Contains("a-") && events.Contains("b+"), "a demoted, b promoted");
        Assert.Equal(await b.Client.WhoAmIAsync(), await c.Client.WhoAmIAsync());

        Assert.True(await b.Membership.DemoteAsync(ineligible: true));
        await TestCluster.WaitUntilAsync(() => a.IsLeader || c.IsLeader, "another member to lead");
        await TestCluster.WaitUntilAsync(() => events.Contains("b-"), "b demoted");
        await TestCluster.WaitUntilAsync(() => b.IsReady, "b to follow");
        Assert.False(b.IsLeader);
        Assert.False(b.Membership.Self.Eligible);
        await TestCluster.WaitUntilAsync(() => a.Membership.Find(b.Membership.LocalId) is { Eligible: false }, "everyone to see b ineligible");
        // A follower's demotion changes only its preference.
        var follower = a.IsLeader ? c : a;
        Assert.False(await follower.Membership.DemoteAsync());
        Assert.False(follower.IsLeader);
    }
}
