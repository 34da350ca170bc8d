using System.Collections.Concurrent;
using System.Diagnostics;

namespace ClusterSharing.Tests.Node.Membership.Keys;

/// <summary>Leadership per key between in-process nodes on one port (each node stands for a process).</summary>
public sealed class KeyLeadershipTests
{
    private static void Fast(ClusterClientOptions o)
    {
        o.HeartbeatInterval = TimeSpan.FromMilliseconds(200);
        o.KeyReleaseGrace = TimeSpan.FromSeconds(5);
    }

    private static async Task<(ClusterSharing.Node.ClusterNode Node, ClusterMembership Member)[]> StartAsync(TestCluster cluster, int count)
    {
        var first = cluster.Start(configure: Fast);
        await first.Client.ReadyAsync();
        var all = new List<(ClusterSharing.Node.ClusterNode, ClusterMembership)> { (first.Node, first.Client.Membership) };
        for (int i = 1; i < count; i++)
        {
            var (node, client) = cluster.Start(configure: Fast);
            all.Add((node, client.Membership));
        }
        await Task.WhenAll(all.Select(m => m.Item2.ReadyAsync()));
        return [.. all];
    }

    private static Task WaitAgreedAsync(IReadOnlyList<ClusterMembership> members, IReadOnlyCollection<string> keys, string what) =>
        TestCluster.WaitUntilAsync(() =>
        {
            var view = members[0].KeyOwners;
            if (view.Count != keys.Count || !keys.All(view.ContainsKey)) return false;
            if (!members.All(m => m.KeyOwners.Count == view.Count && m.KeyOwners.All(e => view.TryGetValue(e.Key, out var o) && o == e.Value))) return false;
            // Each key is owned (IsLeaderFor) by exactly the member the view names.
            return keys.All(k => members.Count(m => m.IsLeaderFor(k)) == 1 && members.Single(m => m.IsLeaderFor(k)).LocalId == view[k]);
        }, what);

    [Fact]
    public async Task Every_key_gets_exactly_one_owner_and_every_member_sees_the_same_owners()
    {
        await using var cluster = new TestCluster();
        var nodes = await StartAsync(cluster, 3);
        var members = nodes.Select(n => n.Member).ToArray();
        string[] keys = [.. Enumerable.Range(0, 30).Select(i => $"job-{i}")];
        foreach (var m in members) foreach (var k in keys) m.AddKey(k);
        await WaitAgreedAsync(members, keys, "three members to agree on 30 owners");
        Assert.True(members.All(m => keys.Any(m.IsLeaderFor)), "with 30 keys over 3 equal members each owns some");
        Assert.All(keys, k => Assert.NotNull(members.Single(m => m.IsLeaderFor(k)).GetKeyLease(k)));
    }

    [Fact]
    public async Task A_member_owns_only_keys_it_holds()
    {
        await using var cluster = new TestCluster();
        var nodes = await StartAsync(cluster, 2);
        nodes[1].Member.AddKey("only-b");
        await TestCluster.WaitUntilAsync(() => nodes[1].Member.IsLeaderFor("only-b"), "the only holder to own the key");
        Assert.False(nodes[0].Member.IsLeaderFor("only-b"));
        await TestCluster.WaitUntilAsync(() => nodes[0].Member.KeyOwners.GetValueOrDefault("only-b") == nodes[1].Member.LocalId, "the other member to see the owner");
    }

    [Fact]
    public async Task A_closed_member_hands_its_keys_over_and_tokens_fire_before_the_next_owner_starts()
    {
        await using var cluster = new TestCluster();
        var nodes = await StartAsync(cluster, 3);
        var members = nodes.Select(n => n.Member).ToArray();
        string[] keys = [.. Enumerable.Range(0, 20).Select(i => $"k{i}")];
        var log = new ConcurrentQueue<(string Member, string Key, long Epoch, bool Start, long At)>();
        foreach (var m in members)
        {
            string id = m.LocalId;
            m.KeyAcquired += (_, e) => log.Enqueue((id, e.Key, e.Epoch, true, Stopwatch.GetTimestamp()));
            m.KeyAcquired += (_, e) => e.Lease.Token.Register(() => log.Enqueue((id, e.Key, e.Epoch, false, Stopwatch.GetTimestamp())));
            foreach (var k in keys) m.AddKey(k);
        }
        await WaitAgreedAsync(members, keys, "agreement on 20 owners");
        // Close a follower that owns something.
        var gone = nodes.Skip(1).First(n => keys.Any(n.Member.IsLeaderFor));
        string goneId = gone.Member.LocalId;
        var owned = keys.Where(gone.Member.IsLeaderFor).ToList();
        await gone.Node.DisposeAsync();
        var rest = members.Where(m => m.LocalId != goneId).ToArray();
        await WaitAgreedAsync(rest, keys, "the two others to take the closed member's keys over");
        Assert.All(owned, k => Assert.NotEqual(goneId, rest[0].KeyOwners[k]));
        await Task.Delay(300);
        AssertNoOverlap(log);
    }

    [Fact]
    public async Task Removing_a_key_waits_for_the_owners_work_before_the_next_owner_starts()
    {
        await using var cluster = new TestCluster();
        var nodes = await StartAsync(cluster, 2);
        var members = nodes.Select(n => n.Member).ToArray();
        foreach (var m in members) m.AddKey("report");
        await WaitAgreedAsync(members, ["report"], "one owner of the key");
        var owner = members.Single(m => m.IsLeaderFor("report"));
        var other = members.Single(m => m != owner);
        long workEnded = 0, otherStarted = 0;
        other.KeyAcquired += (_, _) => Interlocked.Exchange(ref otherStarted, Stopwatch.GetTimestamp());
        var started = new TaskCompletionSource();
        var work = owner.DoIfLeaderAsync("report", async token =>
        {
            started.SetResult();
            try { await Task.Delay(Timeout.Infinite, token); }
            catch (OperationCanceledException) { }
            await Task.Delay(700); // cleanup that ignores the token: the key must not move before it ends
            Interlocked.Exchange(ref workEnded, Stopwatch.GetTimestamp());
        });
        await started.Task.WaitAsync(TimeSpan.FromSeconds(10));
        owner.RemoveKey("report");
        Assert.False(owner.IsLeaderFor("report"));
        Assert.True(await work.WaitAsync(TimeSpan.FromSeconds(10)));
        await TestCluster.WaitUntilAsync(() => other.IsLeaderFor("report"), "the other member to own the key");
        await TestCluster.WaitUntilAsync(() => Interlocked.Read(ref otherStarted) != 0, "its KeyAcquired event");
        Assert.True(Interlocked.Read(ref otherStarted) > Interlocked.Read(ref workEnded), "the new owner started before the old owner's work returned");
    }

    [Fact]
    public async Task DoIfLeader_runs_in_call_order_on_the_owner_and_returns_false_elsewhere()
    {
        await using var cluster = new TestCluster();
        var nodes = await StartAsync(cluster, 2);
        var members = nodes.Select(n => n.Member).ToArray();
        foreach (var m in members) m.AddKey("cron");
        await WaitAgreedAsync(members, ["cron"], "one owner");
        var owner = members.Single(m => m.IsLeaderFor("cron"));
        var other = members.Single(m => m != owner);
        var order = new ConcurrentQueue<int>();
        var runs = Enumerable.Range(0, 5).Select(i => owner.DoIfLeaderAsync("cron", async _ =>
        {
            await Task.Delay(5 - i);
            order.Enqueue(i);
        })).ToArray();
        Assert.All(await Task.WhenAll(runs), Assert.True);
        Assert.Equal([0, 1, 2, 3, 4], order);
        var watch = Stopwatch.StartNew();
        Assert.False(await other.DoIfLeaderAsync("cron", _ => Task.CompletedTask, TimeSpan.FromMilliseconds(300)));
        Assert.True(watch.ElapsedMilliseconds >= 250, "a member that does not own the key waits once before it gives up");
        Assert.False(await other.DoIfLeaderAsync("not-held", _ => Task.CompletedTask, TimeSpan.Zero));
    }

    [Fact]
    public async Task WhenLeader_on_the_membership_runs_only_on_the_leader()
    {
        await using var cluster = new TestCluster();
        var nodes = await StartAsync(cluster, 2);
        int runs = 0;
        var regs = nodes.Select(n => n.Member.WhenLeader(async token =>
        {
            Interlocked.Increment(ref runs);
            await Task.Delay(Timeout.Infinite, token).ContinueWith(_ => { });
        })).ToArray();
        await TestCluster.WaitUntilAsync(() => Volatile.Read(ref runs) == 1, "the leader's work to start");
        await Task.Delay(300);
        Assert.Equal(1, Volatile.Read(ref runs));
        foreach (var r in regs) await r.DisposeAsync();
    }

    internal static void AssertNoOverlap(IEnumerable<(string Member, string Key, long Epoch, bool Start, long At)> log)
    {
        foreach (var byKey in log.GroupBy(e => e.Key))
        {
            var spans = byKey.GroupBy(e => (e.Member, e.Epoch)).Select(g => (g.Key.Member, Start: g.Where(e => e.Start).Select(e => e.At).DefaultIfEmpty(long.MinValue).Min(),
                Stop: g.Where(e => !e.Start).Select(e => e.At).DefaultIfEmpty(long.MaxValue).Max())).OrderBy(s => s.Start).ToList();
            for (int i = 1; i < spans.Count; i++)
            {
                Assert.True(spans[i - 1].Stop <= spans[i].Start,
                    $"key {byKey.Key}: {spans[i - 1].Member} owned it until {spans[i - 1].Stop}, {spans[i].Member} from {spans[i].Start}");
            }
        }
    }
}
