using ClusterSharing.Node.Membership;
using ClusterSharing.Protocol;
using static ClusterSharing.Tests.Node.Membership.MemberViewTests;

namespace ClusterSharing.Tests.Node.Membership;

public sealed class MemberTableTests
{
    private sealed class Link(string name)
    {
        public override string ToString() => name;
    }

    [Fact]
    public void A_new_member_is_added_then_updated_on_its_link_and_removed_when_its_link_closes()
    {
        var table = new MemberTable<Link>();
        var link = new Link("a");
        Assert.Equal(AnnounceOutcome.Added, table.Announce(link, Member("a"), out _));
        Assert.Equal(AnnounceOutcome.Unchanged, table.Announce(link, Member("a"), out _));
        Assert.Equal(AnnounceOutcome.Updated, table.Announce(link, Member("a", revision: 1), out _));
        Assert.Equal("a", table.Detach(link)!.Id);
        Assert.Equal(0, table.Count);
        Assert.Null(table.Detach(link));
    }

    [Fact]
    public void A_link_cannot_change_its_member_id()
    {
        var table = new MemberTable<Link>();
        var link = new Link("a");
        table.Announce(link, Member("a"), out _);
        Assert.Throws<ProtocolException>(() => table.Announce(link, Member("b"), out _));
    }

    [Fact]
    public void Members_seeded_from_the_previous_view_stay_until_they_reattach_or_their_deadline_passes()
    {
        var table = new MemberTable<Link>();
        table.Seed([Member("b"), Member("c")], deadline: 1000);
        Assert.Equal(2, table.Count);
        Assert.True(table.HasPending);
        Assert.Null(table.LinkOf("b"));

        var b = new Link("b");
        Assert.Equal(AnnounceOutcome.Attached, table.Announce(b, Member("b"), out var replaced));
        Assert.Null(replaced);
        Assert.Same(b, table.LinkOf("b"));

        Assert.Empty(table.Expire(now: 999));
        var gone = table.Expire(now: 1000);
        Assert.Equal("c", Assert.Single(gone).Id);
        Assert.False(table.HasPending);
        Assert.Equal(1, table.Count);
    }

    [Fact]
    public void A_member_that_reconnects_moves_to_its_new_link_and_the_old_links_close_removes_nothing()
    {
        var table = new MemberTable<Link>();
        var old = new Link("old");
        var fresh = new Link("new");
        table.Announce(old, Member("a"), out _);
        table.SetChannel(old, "news", true);
        Assert.Equal(AnnounceOutcome.Attached, table.Announce(fresh, Member("a"), out var replaced));
        Assert.Same(old, replaced);
        Assert.Null(table.Detach(old));
        Assert.Equal(1, table.Count);
        // Channels are joined again by the member on its new link.
        Assert.Empty(table.JoinedTo("news", except: null));
    }

    [Fact]
    public void Channel_members_are_the_attached_joined_ones_except_the_sender()
    {
        var table = new MemberTable<Link>();
        var a = new Link("a");
        var b = new Link("b");
        var c = new Link("c");
        table.Announce(a, Member("a"), out _);
        table.Announce(b, Member("b"), out _);
        table.Announce(c, Member("c"), out _);
        table.SetChannel(a, "news", true);
        table.SetChannel(b, "news", true);
        table.SetChannel(c, "other", true);
        Assert.Equal([b], table.JoinedTo("news", except: a));
        table.SetChannel(b, "news", false);
        Assert.Empty(table.JoinedTo("news", except: a));
        Assert.Throws<ProtocolException>(() => table.SetChannel(new Link("stranger"), "news", true));
    }

    [Fact]
    public void A_member_cannot_join_more_channels_than_the_limit()
    {
        var table = new MemberTable<Link>();
        var a = new Link("a");
        table.Announce(a, Member("a"), out _);
        for (int i = 0; i < MembershipLimits.MaxChannelsPerMember; i++) table.SetChannel(a, $"c{i}", true);
        Assert.Throws<ProtocolException>(() => table.SetChannel(a, "one-more", true));
    }
}
