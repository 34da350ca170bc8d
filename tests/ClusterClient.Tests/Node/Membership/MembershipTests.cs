using System.Collections.Concurrent;
using ClusterSharing.Node;

namespace ClusterSharing.Tests.Node.Membership;

/// <summary>Membership between in-process nodes on one port (each node stands for a process).</summary>
public sealed class MembershipTests
{
    private static async Task<ClusterMembership[]> StartAsync(TestCluster cluster, int count, Action<ClusterClientOptions>? configure = null)
    {
        var first = cluster.Start(configure: configure);
        await first.Client.ReadyAsync();
        var members = new List<ClusterMembership> { first.Client.Membership };
        for (int i = 1; i < count; i++)
        {
            var (_, client) = cluster.Start(configure: configure);
            members.Add(client.Membership);
        }
        await Task.WhenAll(members.Select(m => m.ReadyAsync()));
        await WaitConvergedAsync(members, count);
        return [.. members];
    }

    private static Task WaitConvergedAsync(IReadOnlyList<ClusterMembership> members, int count) =>
        TestCluster.WaitUntilAsync(() =>
        {
            var ids = members[0].Members.Select(m => m.Id).ToHashSet();
            return ids.Count == count && members.All(m => m.Members.Select(x => x.Id).ToHashSet().SetEquals(ids))
                && members.All(m => m.Members.Count(x => x.IsLeader) == 1);
        }, $"{members.Count} members to see the same {count} members and one leader");

    [Fact]
    public async Task Members_converge_on_one_view_with_the_leader_marked()
    {
        await using var cluster = new TestCluster();
        var members = await StartAsync(cluster, 4);
        var leader = members[0].Members.Single(m => m.IsLeader);
        Assert.Equal(members[0].LocalId, leader.Id);
        Assert.All(members, m => Assert.Equal(leader.Id, m.Leader!.Id));
        Assert.All(members, m => Assert.Contains(m.Members, x => x.Id == m.LocalId));
        Assert.All(members[0].Members, m => Assert.Equal(Environment.ProcessId, m.ProcessId));
        Assert.Equal(4, members.Select(m => m.LocalId).Distinct().Count());
    }

    [Fact]
    public async Task A_closed_member_is_removed_everywhere_and_the_others_see_exactly_one_removal()
    {
        await using var cluster = new TestCluster();
        var first = cluster.Start();
        await first.Client.ReadyAsync();
        var (goneNode, goneClient) = cluster.Start();
        var (_, third) = cluster.Start();
        ClusterMembership[] members = [first.Client.Membership, goneClient.Membership, third.Membership];
        await WaitConvergedAsync(members, 3);
        string goneId = goneClient.Membership.LocalId;
        var removed = new ConcurrentQueue<string>();
        members[0].MemberRemoved += (_, e) => removed.Enqueue("0:" + e.Member.Id);
        members[2].MemberRemoved += (_, e) => removed.Enqueue("2:" + e.Member.Id);

        await goneNode.DisposeAsync();
        await TestCluster.WaitUntilAsync(() => removed.Count == 2, "both members to see the removal");
        Assert.Equal(["0:" + goneId, "2:" + goneId], removed.Order());
        await Task.Delay(200);
        Assert.Equal(2, removed.Count);
        Assert.DoesNotContain(members[0].Members, m => m.Id == goneId);
    }

    [Fact]
    public async Task After_the_leader_closes_the_others_converge_and_only_the_old_leader_is_removed()
    {
        await using var cluster = new TestCluster();
        var (leaderNode, leaderClient) = cluster.Start();
        await leaderClient.ReadyAsync();
        var rest = Enumerable.Range(0, 3).Select(_ => cluster.Start().Client.Membership).ToArray();
        ClusterMembership[] all = [leaderClient.Membership, .. rest];
        await WaitConvergedAsync(all, 4);
        string oldLeader = leaderClient.Membership.LocalId;
        var removed = new ConcurrentQueue<string>();
        var added = new ConcurrentQueue<string>();
        var leaders = new ConcurrentQueue<string>();
        foreach (var m in rest)
        {
            m.MemberRemoved += (_, e) => removed.Enqueue(e.Member.Id);
            m.MemberAdded += (_, e) => added.Enqueue(e.Member.Id);
            m.LeaderChanged += (_, e) => leaders.Enqueue(e.Member.Id);
        }

        await leaderNode.DisposeAsync();
        await WaitConvergedAsync(rest, 3);
        await TestCluster.WaitUntilAsync(() => leaders.Count == 3, "every member to see the new leader");
        Assert.Single(leaders.Distinct());
        Assert.NotEqual(oldLeader, leaders.First());
        Assert.All(removed, id => Assert.Equal(oldLeader, id));
        Assert.Equal(3, removed.Count);
        Assert.Empty(added);
    }

    [Fact]
    public async Task An_advertisement_reaches_every_member_as_an_update()
    {
        await using var cluster = new TestCluster();
        var members = await StartAsync(cluster, 3);
        var updates = new ConcurrentQueue<ClusterMember>();
        members[0].MemberUpdated += (_, e) => updates.Enqueue(e.Member);

        members[2].Advertise(new Dictionary<string, string> { ["role"] = "web", ["port"] = "8080" });
        await TestCluster.WaitUntilAsync(() => members.All(m => m.Find(members[2].LocalId)?.Revision == 1), "every member to see the advertisement");
        var seen = members[1].Find(members[2].LocalId)!.ReadAdvertisement<Dictionary<string, string>>()!;
        Assert.Equal("web", seen["role"]);
        await TestCluster.WaitUntilAsync(() => !updates.IsEmpty, "the update event");
        Assert.Equal(members[2].LocalId, updates.Single().Id);

        // The leader's own advertisement goes the same way.
        members[0].Advertise("leader-info");
        await TestCluster.WaitUntilAsync(() => members.All(m => m.Leader?.ReadAdvertisement<string>() == "leader-info"), "the leader's advertisement");
    }

    [Fact]
    public async Task Oversized_advertisements_and_messages_and_reserved_channels_are_refused_with_clear_errors()
    {
        await using var cluster = new TestCluster();
        var members = await StartAsync(cluster, 2);
        var big = Assert.Throws<ArgumentException>(() => members[1].Advertise(new byte[20_000]));
        Assert.Contains("at most 16384", big.Message);
        var reserved = Assert.Throws<ArgumentException>(() => members[1].Join<string>("cluster.services", _ => { }));
        Assert.Contains("reserved", reserved.Message);
        Assert.Throws<ArgumentException>(() => members[1].Join<string>("$x", _ => { }));
        Assert.Throws<ArgumentException>(() => members[1].Join<string>("has space", _ => { }));
        await Assert.ThrowsAsync<ArgumentException>(() => members[1].SendAsync("cluster.x", "hi"));
        var tooBig = await Assert.ThrowsAsync<ArgumentException>(() => members[1].SendAsync("news", new byte[2 * 1024 * 1024]));
        Assert.Contains("at most", tooBig.Message);
        Assert.Equal(DeliveryStatus.MemberGone, await members[1].SendToAsync("no-such-member", "news", "hi"));
    }

    [Fact]
    public async Task A_broadcast_reaches_every_other_joined_member_once_in_the_senders_order()
    {
        await using var cluster = new TestCluster();
        var members = await StartAsync(cluster, 4);
        var received = new ConcurrentDictionary<int, ConcurrentQueue<string>>();
        // Members 0 (the leader), 1 and 2 join; 3 does not; 1 sends.
        for (int i = 0; i < 3; i++)
        {
            int index = i;
            received[index] = new ConcurrentQueue<string>();
            members[i].Join<string>("news", m => received[index].Enqueue($"{m.From}:{m.Value}"));
        }
        await Task.Delay(200); // the joins reach the leader before the messages (they travel on other connections)
        for (int n = 0; n < 20; n++) await members[1].SendAsync("news", $"m{n}");
        await TestCluster.WaitUntilAsync(() => received[0].Count == 20 && received[2].Count == 20, "members 0 and 2 to get every message");
        await Task.Delay(200);
        string from = members[1].LocalId;
        var expected = Enumerable.Range(0, 20).Select(n => $"{from}:m{n}").ToArray();
        Assert.Equal(expected, received[0]);
        Assert.Equal(expected, received[2]);
        Assert.Empty(received[1]);
    }

    [Fact]
    public async Task A_direct_message_is_acknowledged_delivered_not_joined_or_gone()
    {
        await using var cluster = new TestCluster();
        var first = cluster.Start();
        await first.Client.ReadyAsync();
        var (targetNode, target) = cluster.Start();
        var (_, sender) = cluster.Start();
        ClusterMembership[] members = [first.Client.Membership, target.Membership, sender.Membership];
        await WaitConvergedAsync(members, 3);
        var got = new ConcurrentQueue<ClusterMessage<int>>();
        target.Membership.Join<int>("work", m => got.Enqueue(m));

        Assert.Equal(DeliveryStatus.Delivered, await sender.Membership.SendToAsync(target.Membership.LocalId, "work", 42));
        var message = Assert.Single(got);
        Assert.True(message.IsDirect);
        Assert.Equal(42, message.Value);
        Assert.Equal(sender.Membership.LocalId, message.From);

        Assert.Equal(DeliveryStatus.NotJoined, await sender.Membership.SendToAsync(target.Membership.LocalId, "other", 1));
        // To the leader, and from the leader.
        first.Client.Membership.Join<int>("work", _ => throw new InvalidOperationException("handler broke"));
        Assert.Equal(DeliveryStatus.HandlerFailed, await sender.Membership.SendToAsync(first.Client.Membership.LocalId, "work", 1));
        Assert.Equal(DeliveryStatus.Delivered, await first.Client.Membership.SendToAsync(target.Membership.LocalId, "work", 7));

        string targetId = target.Membership.LocalId;
        await targetNode.DisposeAsync();
        await TestCluster.WaitUntilAsync(() => sender.Membership.Find(targetId) is null, "the target to be removed");
        Assert.Equal(DeliveryStatus.MemberGone, await sender.Membership.SendToAsync(targetId, "work", 1));
    }

    [Fact]
    public async Task A_direct_message_to_a_member_whose_handler_hangs_times_out()
    {
        await using var cluster = new TestCluster();
        var members = await StartAsync(cluster, 2);
        members[1].Join<int>("slow", async (_, token) => await Task.Delay(5000, token));
        await Task.Delay(100);
        Assert.Equal(DeliveryStatus.TimedOut, await members[0].SendToAsync(members[1].LocalId, "slow", 1, TimeSpan.FromMilliseconds(300)));
    }

    [Fact]
    public async Task A_process_without_a_client_is_a_member()
    {
        await using var cluster = new TestCluster();
        var (_, client) = cluster.Start();
        await client.ReadyAsync();
        var options = cluster.Options(o => o.Weight = -5); // lighter than the leader: no handover
        await using var node = new ClusterNode(options);
        await using var alone = new ClusterMembership(node, ownsNode: false);
        node.Start();
        await alone.ReadyAsync();
        await TestCluster.WaitUntilAsync(() => client.Membership.Find(alone.LocalId) is { Weight: -5 }, "the client's process to see the lone member");
        Assert.Equal(2, alone.Members.Count);
    }

    [Fact]
    public async Task An_ineligible_member_never_leads()
    {
        await using var cluster = new TestCluster();
        var (_, ineligible) = cluster.Start(configure: o => o.Eligible = false);
        await Task.Delay(300);
        Assert.False(ineligible.IsLeader);
        var (_, eligible) = cluster.Start();
        await Task.WhenAll(ineligible.ReadyAsync(), eligible.ReadyAsync());
        Assert.True(eligible.IsLeader);
        await TestCluster.WaitUntilAsync(() => eligible.Membership.Find(ineligible.Membership.LocalId) is { Eligible: false }, "the ineligible member in the view");
    }
}

public sealed class MembershipChurnTests
{
    [Fact]
    public async Task After_fifty_joins_and_leaves_every_member_holds_the_same_view()
    {
        await using var cluster = new TestCluster();
        var (_, first) = cluster.Start();
        await first.ReadyAsync();
        var stable = new List<ClusterMembership> { first.Membership };
        for (int i = 0; i < 3; i++) stable.Add(cluster.Start().Client.Membership);
        await Task.WhenAll(stable.Select(m => m.ReadyAsync()));

        // 25 members join and leave, up to 5 at a time, some before they even joined.
        var random = new Random(15);
        var transient = new List<Task>();
        for (int i = 0; i < 25; i++)
        {
            int lifeMs = random.Next(0, 300);
            var options = cluster.Options();
            transient.Add(Task.Run(async () =>
            {
                await using var node = new ClusterSharing.Node.ClusterNode(options);
                await using var member = new ClusterMembership(node, ownsNode: false);
                node.Start();
                await Task.Delay(lifeMs);
            }));
            if (transient.Count(t => !t.IsCompleted) >= 5) await Task.WhenAny(transient);
        }
        await Task.WhenAll(transient);

        var expected = stable.Select(m => m.LocalId).ToHashSet();
        await TestCluster.WaitUntilAsync(() => stable.All(m => m.Members.Select(x => x.Id).ToHashSet().SetEquals(expected)),
            "every stable member to hold exactly the stable members");
        Assert.All(stable, m => Assert.Equal(first.Membership.LocalId, m.Leader!.Id));
    }
}
