using System.Text.Json;

namespace ClusterSharing.IntegrationTests;

/// <summary>
/// Calls and publications that meet a leader whose real client is still being built (its factory is slow, fails, or the
/// leader has just taken over): they wait within their own timeout, fail with a typed exception when the client cannot
/// be had, and publications and oneways reach the real client in the order they were made (docs/semantics.md).
/// </summary>
public sealed class LeaderClientReadinessTests
{
    private static readonly string[] Common = ["--max-wait-ms", "20000", "--response-timeout-ms", "20000"];

    /// <summary>The values of <paramref name="topic"/> the real client of <paramref name="leader"/> received, in order.</summary>
    private static string[] RealPublished(HostProcess leader, string topic) =>
        leader.Events("real-published").Where(l => Replies.Text(l, "topic") == topic).Select(l => Replies.Text(l, "value")).ToArray();

    private static string[] Expected(string prefix, int count) => Enumerable.Range(0, count).Select(i => $"{prefix}-{i}").ToArray();

    /// <summary>Pairs (i, j), i before j, whose sequence numbers are in the wrong order.</summary>
    private static int Inversions(string[] values)
    {
        var numbers = values.Select(v => int.Parse(v[(v.LastIndexOf('-') + 1)..], System.Globalization.CultureInfo.InvariantCulture)).ToArray();
        int inversions = 0;
        for (int i = 0; i < numbers.Length; i++)
        for (int j = i + 1; j < numbers.Length; j++)
            if (numbers[i] > numbers[j]) inversions++;
        return inversions;
    }

    private static Task WaitForPublishedAsync(HostProcess leader, string topic, string value) =>
        leader.WaitForEventAsync("real-published", l => Replies.Text(l, "topic") == topic && Replies.Text(l, "value") == value, TimeSpan.FromSeconds(60));

    [Fact]
    public async Task Calls_from_a_follower_wait_for_a_leader_whose_factory_is_slow_and_all_succeed()
    {
        await using var cluster = new HostCluster([.. Common, "--factory-delay-ms", "3000"]);
        var leader = cluster.Start("--role", "leader");
        await leader.WaitForEventAsync("leader-changed");
        var follower = cluster.Start("--role", "follower");

        // Sent while the leader's factory still runs (3 s): invokes and a stream of publications.
        var calls = new List<Task<JsonElement>>();
        for (int i = 0; i < 20; i++) calls.Add(follower.RequestAsync($"add {i} 1"));
        calls.Add(follower.RequestAsync("pid"));
        calls.Add(follower.RequestAsync("publish-many f 100 f"));
        var replies = await Task.WhenAll(calls);

        for (int i = 0; i < 20; i++) Assert.Equal(i + 1, Replies.Value(replies[i]).GetInt32());
        Assert.Equal(leader.Pid, Replies.Value(replies[20]).GetInt32());
        await WaitForPublishedAsync(leader, "f", "f-99");
        Assert.Equal(Expected("f", 100), RealPublished(leader, "f"));
        Assert.Single(leader.Events("factory"));
    }

    [Fact]
    public async Task A_factory_that_always_fails_gives_the_follower_and_the_leader_a_typed_exception()
    {
        await using var cluster = new HostCluster("--max-wait-ms", "5000", "--response-timeout-ms", "20000",
            "--factory-fails", "1000000", "--factory-error", "upstream refused the login");
        var leader = cluster.Start("--role", "leader");
        var follower = cluster.Start("--role", "follower");

        foreach (var host in new[] { follower, leader })
        {
            var reply = Replies.Error(await host.RequestAsync("add 1 2"), nameof(ClusterFactoryException));
            Assert.Contains("upstream refused the login", Replies.Text(reply, "message"));
        }
        Assert.Empty(follower.Events("factory"));
    }

    [Fact]
    public async Task Publications_made_in_the_leader_during_start_up_reach_the_real_client_in_order()
    {
        await using var cluster = new HostCluster([.. Common, "--factory-delay-ms", "1500"]);
        var leader = cluster.Start("--role", "leader");
        Replies.Value(await leader.RequestAsync("publish-many k 300 v"));
        // Made before the real client existed (the factory takes 1.5 s).
        Assert.Empty(leader.Events("ready"));

        await WaitForPublishedAsync(leader, "k", "v-299");
        var seen = RealPublished(leader, "k");
        Assert.Equal(0, Inversions(seen));
        Assert.Equal(Expected("v", 300), seen);
    }

    [Fact]
    public async Task Publications_made_during_a_takeover_reach_the_new_leaders_real_client_in_order()
    {
        await using var cluster = new HostCluster([.. Common, "--heartbeat-ms", "200"]);
        var oldLeader = cluster.Start("--role", "leader");
        await HostCluster.WaitReadyAsync(oldLeader);
        // The successor's factory is slow, so the takeover leaves it without a real client for 1.5 s.
        var successor = cluster.Start("--factory-delay-ms", "1500");
        var publisher = cluster.Start("--role", "follower");
        await Task.WhenAll(HostCluster.WaitReadyAsync(successor), HostCluster.WaitReadyAsync(publisher));
        Replies.Value(await successor.RequestAsync("publish-many k 10 before"));
        await WaitForPublishedAsync(oldLeader, "k", "before-9");

        oldLeader.Kill();
        await oldLeader.WaitForExitAsync();
        // Published by the new leader's own process and by a follower while the new leader has no real client yet.
        var local = successor.RequestAsync("publish-many k 1000 w");
        var remote = publisher.RequestAsync("publish-many r 1000 x");
        Replies.Value(await local);
        Replies.Value(await remote);

        await WaitForPublishedAsync(successor, "k", "w-999");
        await WaitForPublishedAsync(successor, "r", "x-999");
        Assert.True(successor.Events("leader-changed").Any(l => l.GetProperty("leader").GetBoolean()), successor.Describe());
        var local999 = RealPublished(successor, "k");
        // The replay of what it had published before comes first, then every new publication once, in order.
        Assert.Equal(Expected("before", 10).Concat(Expected("w", 1000)), local999);
        var fromFollower = RealPublished(successor, "r");
        Assert.Equal(0, Inversions(fromFollower));
        Assert.Equal(Expected("x", 1000), fromFollower);
    }

    /// <summary>The amounts the real client of <paramref name="host"/> recorded (oneway <c>Record</c>), in order.</summary>
    private static int[] RealRecorded(HostProcess host) => host.Events("recorded").Select(l => l.GetProperty("amount").GetInt32()).ToArray();

    private static Task WaitForRecordedAsync(HostProcess host, int amount) =>
        host.WaitForEventAsync("recorded", l => l.GetProperty("amount").GetInt32() == amount, TimeSpan.FromSeconds(60));

    [Fact]
    public async Task Oneways_made_in_the_leader_during_start_up_reach_the_real_client_in_order()
    {
        await using var cluster = new HostCluster([.. Common, "--factory-delay-ms", "1500"]);
        var leader = cluster.Start("--role", "leader");
        Replies.Value(await leader.RequestAsync("record-many 300"));
        // Made before the real client existed (the factory takes 1.5 s).
        Assert.Empty(leader.Events("ready"));

        await WaitForRecordedAsync(leader, 300);
        Assert.Equal(Enumerable.Range(1, 300), RealRecorded(leader));
    }

    [Fact]
    public async Task Oneways_made_during_a_takeover_reach_the_new_leaders_real_client_in_order()
    {
        await using var cluster = new HostCluster([.. Common, "--heartbeat-ms", "200"]);
        var oldLeader = cluster.Start("--role", "leader");
        await HostCluster.WaitReadyAsync(oldLeader);
        // The successor's factory is slow, so the takeover leaves it without a real client for 1.5 s.
        var successor = cluster.Start("--factory-delay-ms", "1500");
        var caller = cluster.Start("--role", "follower");
        await Task.WhenAll(HostCluster.WaitReadyAsync(successor), HostCluster.WaitReadyAsync(caller));

        oldLeader.Kill();
        await oldLeader.WaitForExitAsync();
        // Made by the new leader's own process and by a follower while there is no leader, then no real client yet.
        var local = successor.RequestAsync("record-many 500 1");
        var remote = caller.RequestAsync("record-many 500 1001");
        Replies.Value(await local);
        Replies.Value(await remote);

        // Each process's oneways reach the real client in order; the two processes interleave as they may.
        await TestWait.UntilAsync(() => RealRecorded(successor).Length >= 1000, "1,000 oneways at the new leader's real client", 60_000);
        var seen = RealRecorded(successor);
        Assert.Equal(Enumerable.Range(1, 500), seen.Where(n => n <= 500));
        Assert.Equal(Enumerable.Range(1001, 500), seen.Where(n => n > 1000));
    }
}
