using ClusterSharing.Node.Membership;

namespace ClusterSharing.Tests.Node.Membership;

public sealed class MemberViewTests
{
    internal static ClusterMember Member(string id, bool leader = false, long revision = 0, int joinedSecond = 0, byte[]? advertisement = null) =>
        new(id, "host", 100, "127.0.0.1:1", 0, true, advertisement ?? [], leader, DateTimeOffset.UnixEpoch.AddSeconds(joinedSecond),
            DateTimeOffset.UnixEpoch.AddSeconds(joinedSecond), revision);

    [Fact]
    public void A_first_snapshot_adds_every_member()
    {
        var view = new MemberView();
        var changes = new List<MemberChange>();
        view.ApplySnapshot([Member("a", leader: true), Member("b", joinedSecond: 1)], 1, changes);
        Assert.Equal([MemberChangeKind.Added, MemberChangeKind.Added], changes.Select(c => c.Kind));
        Assert.Equal("a", view.Leader!.Id);
        Assert.Equal(["a", "b"], view.Members.Select(m => m.Id));
    }

    [Fact]
    public void A_snapshot_repeating_the_view_reports_nothing_and_one_that_differs_reports_only_the_differences()
    {
        var view = new MemberView();
        var changes = new List<MemberChange>();
        view.ApplySnapshot([Member("a", leader: true), Member("b"), Member("c")], 1, changes);
        changes.Clear();
        view.ApplySnapshot([Member("a", leader: true), Member("b"), Member("c")], 2, changes);
        Assert.Empty(changes);

        // A new leader's snapshot: the old leader gone, b now leads, c unchanged, d new.
        view.ApplySnapshot([Member("b", leader: true), Member("c"), Member("d")], 3, changes);
        Assert.Equal(3, changes.Count);
        Assert.Contains(changes, c => c is { Kind: MemberChangeKind.Removed, Member.Id: "a" });
        Assert.Contains(changes, c => c is { Kind: MemberChangeKind.Updated, Member.Id: "b", Member.IsLeader: true });
        Assert.Contains(changes, c => c is { Kind: MemberChangeKind.Added, Member.Id: "d" });
        Assert.Equal(3, view.Version);
    }

    [Fact]
    public void Last_seen_alone_is_not_an_update_but_an_advertisement_is()
    {
        var view = new MemberView();
        var changes = new List<MemberChange>();
        view.Upsert([Member("a")], 1, changes);
        changes.Clear();
        view.Upsert([Member("a").With(false, DateTimeOffset.UtcNow)], 2, changes);
        Assert.Empty(changes);
        view.Upsert([Member("a", revision: 1, advertisement: [0xc3])], 3, changes);
        Assert.Equal(MemberChangeKind.Updated, Assert.Single(changes).Kind);
        Assert.Equal(new byte[] { 0xc3 }, view.Find("a")!.Advertisement.ToArray());
    }

    [Fact]
    public void Removing_an_unknown_member_reports_nothing()
    {
        var view = new MemberView();
        var changes = new List<MemberChange>();
        view.Upsert([Member("a")], 1, changes);
        changes.Clear();
        view.Remove(["zz"], 2, changes);
        Assert.Empty(changes);
        view.Remove(["a"], 3, changes);
        Assert.Equal(MemberChangeKind.Removed, Assert.Single(changes).Kind);
        Assert.Equal(0, view.Count);
    }

    [Fact]
    public void Members_are_listed_oldest_first()
    {
        var view = new MemberView();
        view.Upsert([Member("late", joinedSecond: 5), Member("early", joinedSecond: 1), Member("mid", joinedSecond: 3)], 1, []);
        Assert.Equal(["early", "mid", "late"], view.Members.Select(m => m.Id));
    }
}
