using System.Collections.Concurrent;
using ClusterSharing.Node.Membership;

namespace ClusterSharing.Tests.Node.Membership;

/// <summary>The rank (weight, then earliest joined), N masters, and how the engine's registry combines with the leader's view.</summary>
public sealed class MasterViewTests
{
    private static ClusterMember Member(string id, int weight = 0, int joinedSecond = 0, bool leader = false, bool eligible = true, byte[]? advertisement = null) =>
        new(id, "host", 100, "127.0.0.1:1", weight, eligible, advertisement ?? [], leader, DateTimeOffset.UnixEpoch.AddSeconds(joinedSecond),
            DateTimeOffset.UnixEpoch.AddSeconds(joinedSecond), 0);

    [Fact]
    public void The_rank_is_weight_then_earliest_joined_then_id()
    {
        ClusterMember[] members = [Member("c", 1, 5), Member("b", 1, 2), Member("a", 0, 0), Member("d", 1, 2)];
        Assert.Equal(["b", "d", "c", "a"], members.Order(MemberRank.Instance).Select(m => m.Id));
    }

    [Fact]
    public void The_leader_and_the_best_ranked_eligible_members_are_masters_and_changes_are_reported()
    {
        var view = new MemberView(mastersRequired: 3);
        var changes = new List<MemberChange>();
        var masters = new List<ClusterMember>();
        // The leader is a master even though others rank before it; then the two best eligible others.
        view.ApplySnapshot([Member("lead", 0, 0, leader: true), Member("heavy", 5, 3), Member("early", 1, 1), Member("late", 1, 4),
            Member("ineligible", 9, 0, eligible: false)], 1, changes, masters);
        Assert.Equal(["early", "heavy", "lead"], masters.Select(m => m.Id).Order());
        Assert.Equal(["early", "heavy", "lead"], view.Members.Where(m => m.IsMaster).Select(m => m.Id).Order());
        Assert.All(changes, c => Assert.Equal(MemberChangeKind.Added, c.Kind));

        // A master leaves: the next one is promoted; both are reported as master changes, and the newcomer as an update.
        changes.Clear();
        masters.Clear();
        view.Remove(["heavy"], 2, changes, masters);
        Assert.Contains(changes, c => c is { Kind: MemberChangeKind.Removed, Member.Id: "heavy" });
        Assert.Contains(changes, c => c is { Kind: MemberChangeKind.Updated, Member.Id: "late", Member.IsMaster: true });
        Assert.Equal([("heavy", false), ("late", true)], masters.Select(m => (m.Id, m.IsMaster)));
        Assert.Equal(["early", "late", "lead"], view.Members.Where(m => m.IsMaster).Select(m => m.Id).Order());
    }

    [Fact]
    public void With_one_master_only_the_leader_is_one()
    {
        var view = new MemberView();
        view.ApplySnapshot([Member("a", leader: true), Member("b", 7)], 1, []);
        Assert.True(view.Find("a")!.IsMaster);
        Assert.False(view.Find("b")!.IsMaster);
    }

    [Fact]
    public void Without_a_leader_the_best_ranked_are_masters()
    {
        var view = new MemberView(2);
        view.ApplyRegistry([new RegisteredMember(Member("x", 0, 3), 1), new RegisteredMember(Member("y", 0, 1), 1), new RegisteredMember(Member("z", 0, 2), 1)], []);
        Assert.Equal(["y", "z"], view.Members.Where(m => m.IsMaster).Select(m => m.Id));
    }

    [Fact]
    public void A_registered_member_appears_without_a_leader_and_keeps_the_leaders_details()
    {
        var view = new MemberView();
        var changes = new List<MemberChange>();
        view.ApplyRegistry([new RegisteredMember(Member("a"), 1), new RegisteredMember(Member("b", joinedSecond: 1), 1)], changes);
        Assert.Equal(["a", "b"], view.Members.Select(m => m.Id));
        Assert.Equal(2, changes.Count);

        // The leader's details win while it lists the member; a new leader's snapshot that lacks it keeps them (still registered).
        changes.Clear();
        view.ApplySnapshot([Member("a", leader: true), Member("b", joinedSecond: 1, advertisement: [0xc3])], 1, changes);
        Assert.Equal(2, changes.Count);
        changes.Clear();
        view.ApplySnapshot([Member("a", leader: true)], 2, changes);
        Assert.Empty(changes);
        Assert.Equal(new byte[] { 0xc3 }, view.Find("b")!.Advertisement.ToArray());

        // Its registration ends: gone.
        view.ApplyRegistry([new RegisteredMember(Member("a"), 1)], changes);
        Assert.Equal(MemberChangeKind.Removed, Assert.Single(changes).Kind);
    }

    [Fact]
    public void A_member_the_leader_removed_stays_hidden_until_it_registers_anew_or_a_leader_lists_it()
    {
        var view = new MemberView();
        var changes = new List<MemberChange>();
        view.ApplyRegistry([new RegisteredMember(Member("a"), 1), new RegisteredMember(Member("b", joinedSecond: 1), 7)], changes);
        view.ApplySnapshot([Member("a", leader: true), Member("b", joinedSecond: 1)], 1, changes);
        changes.Clear();

        // Killed: the leader saw its connection close, before its lease expired.
        view.Remove(["b"], 2, changes);
        Assert.Equal(MemberChangeKind.Removed, Assert.Single(changes).Kind);
        changes.Clear();
        view.ApplyRegistry([new RegisteredMember(Member("a"), 1), new RegisteredMember(Member("b", joinedSecond: 1), 7)], changes);
        Assert.Empty(changes);
        // A new registration (another lease) is a new life.
        view.ApplyRegistry([new RegisteredMember(Member("a"), 1), new RegisteredMember(Member("b", joinedSecond: 1), 8)], changes);
        Assert.Equal(MemberChangeKind.Added, Assert.Single(changes).Kind);
    }

    [Fact]
    public void After_the_leader_is_lost_members_whose_registration_ends_are_removed_without_waiting_for_a_new_leader()
    {
        var view = new MemberView();
        var changes = new List<MemberChange>();
        view.ApplyRegistry([new RegisteredMember(Member("a"), 1), new RegisteredMember(Member("b", joinedSecond: 1), 1), new RegisteredMember(Member("c", joinedSecond: 2), 1)], changes);
        view.ApplySnapshot([Member("a", leader: true), Member("b", joinedSecond: 1), Member("c", joinedSecond: 2)], 1, changes);
        changes.Clear();
        // While a leader lists a member, a registry hiccup does not remove it.
        view.ApplyRegistry([new RegisteredMember(Member("a"), 1), new RegisteredMember(Member("b", joinedSecond: 1), 1)], changes);
        Assert.Empty(changes);

        view.LeaderLost(changes);
        Assert.Equal("c", Assert.Single(changes, c => c.Kind == MemberChangeKind.Removed).Member.Id);
        changes.Clear();
        view.ApplyRegistry([new RegisteredMember(Member("b", joinedSecond: 1), 1)], changes);
        // The old leader's registration ends: removed, and b (now the best) becomes the master.
        Assert.Equal("a", Assert.Single(changes, c => c.Kind == MemberChangeKind.Removed).Member.Id);
        Assert.True(view.Find("b")!.IsMaster);
        Assert.Null(view.Leader);
    }

    [Fact]
    public void Without_a_registry_losing_the_leader_changes_nothing()
    {
        var view = new MemberView();
        var changes = new List<MemberChange>();
        view.ApplySnapshot([Member("a", leader: true), Member("b", joinedSecond: 1)], 1, changes);
        changes.Clear();
        view.LeaderLost(changes);
        Assert.Empty(changes);
        Assert.Equal(2, view.Count);
    }
}

/// <summary>N masters and the earliest-joined tie rule between in-process nodes on one port.</summary>
public sealed class MastersTests
{
    [Fact]
    public async Task Every_member_sees_the_same_masters_and_a_master_that_leaves_is_replaced_with_events_on_every_member()
    {
        await using var cluster = new TestCluster();
        var (_, a) = cluster.Start(configure: o => o.MastersRequired = 2);
        await a.ReadyAsync();
        var (bNode, b) = cluster.Start(configure: o => o.MastersRequired = 2);
        await b.ReadyAsync();
        var (_, c) = cluster.Start(configure: o => o.MastersRequired = 2);
        await c.ReadyAsync();
        ClusterMembership[] all = [a.Membership, b.Membership, c.Membership];
        await TestCluster.WaitUntilAsync(() => all.All(m => m.Members.Count == 3), "three members everywhere");
        string[] Masters(ClusterMembership m) => [.. m.Masters.Select(x => x.Id)];
        await TestCluster.WaitUntilAsync(() => all.All(m => Masters(m).SequenceEqual([a.Membership.LocalId, b.Membership.LocalId])),
            "the leader and the earliest-joined other member to be the masters everywhere");
        Assert.True(b.Membership.Self.IsMaster);
        Assert.False(c.Membership.Self.IsMaster);

        var events = new ConcurrentQueue<string>();
        a.Membership.MasterChanged += (_, e) => events.Enqueue($"a:{e.Member.Id}:{e.Member.IsMaster}");
        c.Membership.MasterChanged += (_, e) => events.Enqueue($"c:{e.Member.Id}:{e.Member.IsMaster}");
        string bId = b.Membership.LocalId, cId = c.Membership.LocalId;
        await bNode.DisposeAsync();
        string[] expected = ["a:" + bId + ":False", "a:" + cId + ":True", "c:" + bId + ":False", "c:" + cId + ":True"];
        await TestCluster.WaitUntilAsync(() => expected.All(events.Contains), "both members to see b stop and c start being a master");
        // (c may still be raising the events of its own join, which came before; the last word on each member is what counts.)
        var last = events.Select(e => e.Split(':')).GroupBy(p => (p[0], p[1])).Select(g => string.Join(':', g.Last())).Where(e => !e.Contains(a.Membership.LocalId));
        Assert.True(new[] { "a:" + bId + ":False", "a:" + cId + ":True", "c:" + bId + ":False", "c:" + cId + ":True" }.Order().SequenceEqual(last.Order()),
            $"a {a.Membership.LocalId}, b {bId}, c {cId}: {string.Join(", ", events)}");
        Assert.True(c.Membership.Self.IsMaster);
    }

    [Fact]
    public async Task On_equal_weights_the_earliest_joined_survivor_leads_after_the_leader_closes()
    {
        // Repeated: without the rule either survivor may win the race; with it, the earlier one always does.
        for (int round = 0; round < 3; round++)
        {
            await using var cluster = new TestCluster();
            var (leaderNode, leader) = cluster.Start();
            await leader.ReadyAsync();
            var (_, early) = cluster.Start();
            await early.ReadyAsync();
            await Task.Delay(20);
            var late = new List<ClusterClient<ICalculator>>();
            for (int i = 0; i < 3; i++)
            {
                var (_, client) = cluster.Start();
                await client.ReadyAsync();
                late.Add(client);
            }
            await TestCluster.WaitUntilAsync(() => late.All(l => l.Membership.Members.Count == 5) && early.Membership.Members.Count == 5, "five members everywhere");

            await leaderNode.DisposeAsync();
            await TestCluster.WaitUntilAsync(() => early.IsLeader || late.Any(l => l.IsLeader), "a new leader");
            Assert.True(early.IsLeader, $"round {round}: a later-joined member led instead of the earliest-joined survivor");
            Assert.DoesNotContain(late, l => l.IsLeader);
        }
    }
}
