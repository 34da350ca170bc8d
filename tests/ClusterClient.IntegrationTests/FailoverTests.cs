using System.Text.Json;

namespace ClusterSharing.IntegrationTests;

/// <summary>The leader process dies (SIGKILL, no goodbye) while followers are busy calling.</summary>
public sealed class FailoverTests
{
    [Fact]
    public async Task Leader_killed_mid_call_one_new_leader_takes_over_and_calls_resume()
    {
        await using var cluster = new HostCluster("--max-wait-ms", "20000", "--response-timeout-ms", "20000");
        var (oldLeader, followers) = await cluster.StartReadyAsync(4);
        long oldEpoch = Replies.Value(await oldLeader.RequestAsync("status")).GetProperty("epoch").GetInt64();

        // In flight at the moment of death: a plain call and an [Idempotent] one, both executing on the leader.
        int from = oldLeader.LineCount;
        var (_, plain) = await followers[0].SendAsync("slow 20000");
        var (_, idempotent) = await followers[1].SendAsync("slow-idem 5000");
        await oldLeader.WaitForEventAsync("executing", l => Replies.Text(l, "method") == "SlowAsync", from: from);
        await oldLeader.WaitForEventAsync("executing", l => Replies.Text(l, "method") == "SlowIdempotentAsync", from: from);

        // Busy workers: back-to-back calls across the failover. The idempotent call is still running (5 s) at the kill.
        var loops = followers.Select(f => f.RequestAsync("loop 6000 pid", TimeSpan.FromSeconds(60))).ToArray();
        await Task.Delay(1000);
        oldLeader.Kill();
        await oldLeader.WaitForExitAsync();

        var plainReply = Replies.Error(await plain.WaitAsync(HostProcess.DefaultTimeout), "LeaderLostException");
        Assert.True(plainReply.GetProperty("sent").GetBoolean(), plainReply.GetRawText());

        int newLeaderPid = Replies.Value(await idempotent.WaitAsync(HostProcess.DefaultTimeout)).GetInt32();
        Assert.True(newLeaderPid != oldLeader.Pid, $"The [Idempotent] call was answered by the killed leader.\n{cluster.DescribeAll()}");
        var newLeader = Assert.Single(followers, f => f.Pid == newLeaderPid);
        await newLeader.WaitForEventAsync("leader-changed", l => l.GetProperty("leader").GetBoolean());

        foreach (var loop in await Task.WhenAll(loops))
        {
            var report = Replies.Value(loop);
            Assert.True(report.GetProperty("untyped").GetInt32() == 0, $"Untyped failures: {report.GetRawText()}");
            foreach (var typed in report.GetProperty("typed").EnumerateObject())
                Assert.True(typed.Name == "LeaderLostException", $"Only LeaderLostException may surface on failover: {report.GetRawText()}");
            var leaders = report.GetProperty("leaders").EnumerateArray().Select(l => l.GetProperty("pid").GetInt32()).ToArray();
            Assert.True(leaders.Length > 0 && leaders[^1] == newLeaderPid, $"Calls did not resume on the new leader {newLeaderPid}: {report.GetRawText()}");
            Assert.All(leaders, pid => Assert.True(pid == oldLeader.Pid || pid == newLeaderPid, $"Unexpected answering pid {pid}: {report.GetRawText()}"));
        }

        // Exactly one new leader, everyone agrees on it and on the new epoch.
        var statuses = new List<JsonElement>();
        foreach (var f in followers)
        {
            Assert.Equal(newLeaderPid, Replies.Value(await f.RequestAsync("pid")).GetInt32());
            statuses.Add(Replies.Value(await f.RequestAsync("status")));
        }
        Assert.Single(statuses, s => s.GetProperty("leader").GetBoolean());
        long newEpoch = Assert.Single(statuses.Select(s => s.GetProperty("epoch").GetInt64()).Distinct());
        Assert.True(newEpoch > oldEpoch, $"Epoch did not advance: {oldEpoch} -> {newEpoch}");
        Assert.Single(followers.SelectMany(f => f.Events("leader-changed")), e => e.GetProperty("leader").GetBoolean());
        // The new leader built exactly one real client.
        Assert.Single(newLeader.Events("factory"), e => e.GetProperty("ok").GetBoolean());
        Assert.All(followers.Where(f => f != newLeader), f => Assert.Empty(f.Events("factory")));
    }

    [Fact]
    public async Task Calls_issued_while_there_is_no_leader_wait_for_the_next_one()
    {
        await using var cluster = new HostCluster("--max-wait-ms", "20000", "--response-timeout-ms", "20000");
        var (oldLeader, followers) = await cluster.StartReadyAsync(3);
        oldLeader.Kill();
        // Issued right after the kill, most likely before anyone noticed: they must wait, not fail.
        var calls = followers.Select(f => f.RequestAsync("slow-idem 0")).ToArray();
        await oldLeader.WaitForExitAsync();
        var pids = (await Task.WhenAll(calls)).Select(r => Replies.Value(r).GetInt32()).Distinct().ToArray();
        int newLeaderPid = Assert.Single(pids);
        Assert.Contains(followers, f => f.Pid == newLeaderPid);
    }

    [Fact]
    public async Task Two_failovers_in_a_row_each_elect_exactly_one_leader()
    {
        await using var cluster = new HostCluster("--max-wait-ms", "20000", "--response-timeout-ms", "20000");
        var (leader, followers) = await cluster.StartReadyAsync(4);
        var alive = followers.ToList();
        long epoch = Replies.Value(await leader.RequestAsync("status")).GetProperty("epoch").GetInt64();
        for (int round = 1; round <= 2; round++)
        {
            leader.Kill();
            await leader.WaitForExitAsync();
            var pids = new List<int>();
            foreach (var host in alive) pids.Add(Replies.Value(await host.RequestAsync("slow-idem 0")).GetInt32());
            int newLeaderPid = Assert.Single(pids.Distinct());
            leader = Assert.Single(alive, h => h.Pid == newLeaderPid);
            alive.Remove(leader);

            var statuses = new List<System.Text.Json.JsonElement> { Replies.Value(await leader.RequestAsync("status")) };
            foreach (var host in alive) statuses.Add(Replies.Value(await host.RequestAsync("status")));
            Assert.Single(statuses, s => s.GetProperty("leader").GetBoolean());
            long newEpoch = Assert.Single(statuses.Select(s => s.GetProperty("epoch").GetInt64()).Distinct());
            Assert.True(newEpoch > epoch, $"Round {round}: epoch did not advance ({epoch} -> {newEpoch}).\n{cluster.DescribeAll()}");
            epoch = newEpoch;
        }
        Assert.Single(alive);
    }
}
