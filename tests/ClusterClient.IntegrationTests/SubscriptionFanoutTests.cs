using System.Text.Json;

namespace ClusterSharing.IntegrationTests;

/// <summary>
/// Fan-out of one key to several processes, late subscribers, the leader's death under live subscriptions and a
/// follower too slow for its subscriptions (docs/semantics.md, "Subscriptions and publications").
/// </summary>
public sealed class SubscriptionFanoutTests
{
    private static readonly string[] Common = ["--max-wait-ms", "20000", "--response-timeout-ms", "20000"];

    /// <summary>The values of <paramref name="topic"/> starting with <paramref name="prefix"/>, in arrival order, from line <paramref name="from"/>.</summary>
    private static string[] Values(HostProcess host, string topic, string prefix, int from = 0) =>
        host.Lines.Skip(from)
            .Where(l => HostProcess.IsEvent(l, "value") && Replies.Text(l, "topic") == topic && Replies.Text(l, "value").StartsWith(prefix + "-", StringComparison.Ordinal))
            .Select(l => Replies.Text(l, "value"))
            .ToArray();

    private static string[] Expected(string prefix, int count) => Enumerable.Range(0, count).Select(i => $"{prefix}-{i}").ToArray();

    /// <summary>
    /// Bursts single warm-up values until every subscriber has heard one: a Subscribe is asynchronous, and this is how a
    /// test knows every subscription has reached the (possibly new) leader. Only lines printed after the call count, so a
    /// warm-up value heard from an earlier leader does not pass for one from this emitter. Bounded in count and time.
    /// </summary>
    private static async Task WarmUpAsync(HostProcess emitter, string topic, IReadOnlyList<HostProcess> subscribers, HostCluster cluster)
    {
        var from = subscribers.ToDictionary(s => s, s => s.LineCount);
        for (int attempt = 0; attempt < 100; attempt++)
        {
            Replies.Value(await emitter.RequestAsync($"burst {topic} 1 warm{attempt}"));
            await Task.Delay(100);
            if (subscribers.All(s => s.Lines.Skip(from[s]).Any(l => HostProcess.IsEvent(l, "value") && Replies.Text(l, "value").StartsWith("warm", StringComparison.Ordinal))))
                return;
        }
        Assert.Fail($"Not every subscriber heard a warm-up value.\n{cluster.DescribeAll()}");
    }

    private static Task WaitForValueAsync(HostProcess host, string topic, string value, int from = 0) =>
        host.WaitForAsync(l => HostProcess.IsEvent(l, "value") && Replies.Text(l, "topic") == topic && Replies.Text(l, "value") == value, $"the value '{value}'", from: from);

    [Fact]
    public async Task Four_subscriber_processes_receive_every_value_of_a_key_in_order()
    {
        await using var cluster = new HostCluster(Common);
        var (leader, followers) = await cluster.StartReadyAsync(5);
        Assert.Equal(4, followers.Length);
        foreach (var f in followers) Replies.Value(await f.RequestAsync("sub k"));
        await WarmUpAsync(leader, "k", followers, cluster);

        Replies.Value(await leader.RequestAsync("burst k 500 v"));
        foreach (var f in followers) await WaitForValueAsync(f, "k", "v-499");
        foreach (var f in followers) Assert.Equal(Expected("v", 500), Values(f, "k", "v"));
        // One real subscription for the four processes.
        Assert.Single(leader.Events("real-subscribed"), l => Replies.Text(l, "topic") == "k");
    }

    [Fact]
    public async Task A_late_subscriber_gets_the_last_value_at_once_and_only_once()
    {
        await using var cluster = new HostCluster(Common);
        var (leader, followers) = await cluster.StartReadyAsync(2);
        Replies.Value(await followers[0].RequestAsync("sub k"));
        await WarmUpAsync(leader, "k", [followers[0]], cluster);
        Replies.Value(await leader.RequestAsync("burst k 20 v"));
        await WaitForValueAsync(followers[0], "k", "v-19");

        var late = cluster.Start();
        await HostCluster.WaitReadyAsync(late);
        Replies.Value(await late.RequestAsync("sub k"));
        await WaitForValueAsync(late, "k", "v-19");
        Replies.Value(await leader.RequestAsync("burst k 1 after"));
        await WaitForValueAsync(late, "k", "after-0");
        Assert.Equal(["v-19"], Values(late, "k", "v"));
        Assert.Single(leader.Events("real-subscribed"), l => Replies.Text(l, "topic") == "k");
    }

    [Fact]
    public async Task Every_subscription_continues_on_a_new_leader_after_SIGKILL_with_at_most_one_replay()
    {
        await using var cluster = new HostCluster(Common);
        var (oldLeader, followers) = await cluster.StartReadyAsync(5);
        foreach (var f in followers) Replies.Value(await f.RequestAsync("sub k"));
        await WarmUpAsync(oldLeader, "k", followers, cluster);
        Replies.Value(await oldLeader.RequestAsync("burst k 50 a"));
        foreach (var f in followers) await WaitForValueAsync(f, "k", "a-49");
        var killedAt = followers.ToDictionary(f => f, f => f.LineCount);

        oldLeader.Kill();
        await oldLeader.WaitForExitAsync();
        // An [Idempotent] call waits for the new leader: after it, the cluster has re-formed. No subscriber did anything.
        int newLeaderPid = Replies.Value(await followers[0].RequestAsync("slow-idem 0")).GetInt32();
        var newLeader = Assert.Single(followers, f => f.Pid == newLeaderPid);
        await newLeader.WaitForEventAsync("real-subscribed", l => Replies.Text(l, "topic") == "k");

        await WarmUpAsync(newLeader, "k", followers.Where(f => f != newLeader).ToArray(), cluster);
        Replies.Value(await newLeader.RequestAsync("burst k 50 c"));
        foreach (var f in followers) await WaitForValueAsync(f, "k", "c-49", from: killedAt[f]);
        foreach (var f in followers)
        {
            Assert.Equal(Expected("c", 50), Values(f, "k", "c", killedAt[f]));
            // At most one replay of a value from before the failover, and only the last one.
            var replays = Values(f, "k", "a", killedAt[f]);
            Assert.True(replays.Length <= 1 && replays.All(v => v == "a-49"), $"{f.Label} saw {string.Join(",", replays)} again after the failover.");
        }
        // The new leader's real client was subscribed once for all four processes.
        Assert.Single(newLeader.Events("real-subscribed"), l => Replies.Text(l, "topic") == "k");
    }

    [Fact]
    public async Task A_slow_follower_is_resynchronised_with_the_last_value_while_the_others_get_every_value()
    {
        await using var cluster = new HostCluster(Common);
        var (leader, fast) = await cluster.StartReadyAsync(3);
        // This follower's listener takes 20 ms a value and it may hold only 50 waiting values.
        var slow = cluster.Start("--subscription-buffer", "50", "--log");
        await HostCluster.WaitReadyAsync(slow);
        foreach (var f in fast) Replies.Value(await f.RequestAsync("sub k"));
        Replies.Value(await slow.RequestAsync("sub-slow k 20"));
        var subscribers = fast.Append(slow).ToArray();
        await WarmUpAsync(leader, "k", subscribers, cluster);

        Replies.Value(await leader.RequestAsync("burst k 2000 s"));
        foreach (var f in fast) await WaitForValueAsync(f, "k", "s-1999");
        foreach (var f in fast) Assert.Equal(Expected("s", 2000), Values(f, "k", "s"));

        // The slow one reports that it fell behind, drops what was waiting, reconnects and gets the last value.
        var overflow = await slow.WaitForEventAsync("listener-error");
        Assert.Contains("could not keep up", Replies.Text(overflow, "message"));
        await WaitForValueAsync(slow, "k", "s-1999");
        var seen = Values(slow, "k", "s");
        Assert.True(seen.Length < 2000, $"The slow follower should have dropped values, it saw {seen.Length}.");
        Assert.Equal(seen.OrderBy(v => int.Parse(v[2..], System.Globalization.CultureInfo.InvariantCulture)), seen);
        Assert.Equal("s-1999", seen[^1]);

        // And it is a normal subscriber again.
        int from = slow.LineCount;
        Replies.Value(await leader.RequestAsync("burst k 3 t"));
        await WaitForValueAsync(slow, "k", "t-2", from);
        Assert.Equal(Expected("t", 3), Values(slow, "k", "t", from));
    }

    [Fact]
    public async Task A_paused_subscriber_does_not_slow_the_others_and_rejoins_with_the_last_value()
    {
        Assert.True(OperatingSystem.IsLinux() || OperatingSystem.IsMacOS(), "This test pauses a process with SIGSTOP (Linux, macOS).");
        await using var cluster = new HostCluster([.. Common, "--heartbeat-ms", "200"]);
        var (leader, followers) = await cluster.StartReadyAsync(3);
        var (paused, active) = (followers[0], followers[1]);
        foreach (var f in followers) Replies.Value(await f.RequestAsync("sub k"));
        await WarmUpAsync(leader, "k", followers, cluster);

        await SignalAsync(paused.Pid, "STOP");
        try
        {
            // The leader only queues to the paused follower's connection (bounded; it is evicted once silent for three
            // heartbeat intervals): the active follower gets every value meanwhile.
            Replies.Value(await leader.RequestAsync("burst k 5000 p"));
            await WaitForValueAsync(active, "k", "p-4999");
            Assert.Equal(Expected("p", 5000), Values(active, "k", "p"));
            Replies.Value(await leader.RequestAsync("slow 1000")); // well past the 600 ms death threshold
        }
        finally
        {
            await SignalAsync(paused.Pid, "CONT");
        }

        // Whatever it had received, it ends with the last value, in order, and is a normal subscriber again.
        await WaitForValueAsync(paused, "k", "p-4999");
        var seen = Values(paused, "k", "p").Select(v => int.Parse(v[2..], System.Globalization.CultureInfo.InvariantCulture)).ToArray();
        Assert.Equal(seen.Order(), seen);
        Assert.Equal(seen.Distinct(), seen);
        await WarmUpAsync(leader, "k", [paused], cluster);
        int from = paused.LineCount;
        Replies.Value(await leader.RequestAsync("burst k 3 q"));
        await WaitForValueAsync(paused, "k", "q-2", from);
        Assert.Equal(Expected("q", 3), Values(paused, "k", "q", from));
    }

    /// <summary>Sends a signal with the system's kill command.</summary>
    private static async Task SignalAsync(int pid, string signal)
    {
        var info = new System.Diagnostics.ProcessStartInfo("kill") { UseShellExecute = false, RedirectStandardError = true };
        info.ArgumentList.Add("-" + signal);
        info.ArgumentList.Add(pid.ToString(System.Globalization.CultureInfo.InvariantCulture));
        using var kill = System.Diagnostics.Process.Start(info) ?? throw new InvalidOperationException("Could not start kill.");
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(10));
        await kill.WaitForExitAsync(timeout.Token);
        Assert.True(kill.ExitCode == 0, $"kill -{signal} {pid} failed: {await kill.StandardError.ReadToEndAsync()}");
    }

    [Fact]
    public async Task A_one_of_N_subscription_gives_each_value_to_exactly_one_process_in_turn()
    {
        await using var cluster = new HostCluster(Common);
        var (leader, followers) = await cluster.StartReadyAsync(4);
        foreach (var f in followers)
        {
            Replies.Value(await f.RequestAsync("sub-work q"));
            // The Subscribe frame precedes this call on the same connection: once it is answered, the leader has it.
            Replies.Value(await f.RequestAsync("echo subscribed"));
        }
        Replies.Value(await leader.RequestAsync("burst work:q 30 j"));
        string[] Work(HostProcess h) => h.Events("work").Select(l => Replies.Text(l, "value")).ToArray();
        for (int attempt = 0; attempt < 200 && followers.Sum(f => Work(f).Length) < 30; attempt++) await Task.Delay(50);
        var all = followers.SelectMany(Work).ToArray();
        Assert.Equal(Expected("j", 30).Order(), all.Order());
        // Round-robin over the three subscribed processes: ten each.
        Assert.All(followers, f => Assert.Equal(10, Work(f).Length));
        Assert.Single(leader.Events("real-subscribed"), l => Replies.Text(l, "topic") == "work:q");
    }

    [Fact]
    public async Task An_async_stream_ends_on_the_follower_when_cancelled_and_stops_on_the_leader()
    {
        await using var cluster = new HostCluster(Common);
        var (leader, followers) = await cluster.StartReadyAsync(2);
        var reply = await followers[0].RequestAsync("stream-cancel counter 300");
        var value = Replies.Value(reply);
        Assert.True(value.GetProperty("cancelled").GetBoolean(), reply.GetRawText());
        var values = value.GetProperty("values").EnumerateArray().Select(v => v.GetInt32()).ToArray();
        for (int i = 1; i < values.Length; i++) Assert.Equal(values[i - 1] + 1, values[i]);
        await leader.WaitForEventAsync("real-stream-stopped", l => Replies.Text(l, "name") == "counter");
    }
}
