using System.Text.Json;

namespace ClusterSharing.IntegrationTests;

/// <summary><c>WhenLeader</c> work across real processes: it runs on the leader only and moves with leadership.</summary>
public sealed class WhenLeaderTests
{
    private static bool IsWork(JsonElement line, string state) =>
        HostProcess.IsEvent(line, "leader-work") && Replies.Text(line, "state") == state;

    [Fact]
    public async Task Leader_work_runs_on_the_leader_only_and_starts_on_the_survivor_after_a_SIGKILL()
    {
        await using var cluster = new HostCluster("--max-wait-ms", "20000", "--response-timeout-ms", "20000");
        var (leader, followers) = await cluster.StartReadyAsync(2);
        var survivor = Assert.Single(followers);
        foreach (var host in new[] { leader, survivor }) Replies.Value(await host.RequestAsync("when-leader job"));

        var started = await leader.WaitForAsync(l => IsWork(l, "started"), "the leader's work to start");
        Assert.True(started.GetProperty("leader").GetBoolean(), started.GetRawText());
        // Heartbeats and calls keep flowing meanwhile; the follower's work must not have started.
        Assert.Equal(leader.Pid, Replies.Value(await survivor.RequestAsync("pid")).GetInt32());
        Assert.Empty(survivor.Events("leader-work"));

        leader.Kill();
        await leader.WaitForExitAsync();
        var taken = await survivor.WaitForAsync(l => IsWork(l, "started"), "the survivor's work to start after the leader was killed");
        Assert.True(taken.GetProperty("leader").GetBoolean(), $"The work started on a process that does not lead.\n{cluster.DescribeAll()}");
        Assert.True(taken.GetProperty("epoch").GetInt64() > started.GetProperty("epoch").GetInt64(), cluster.DescribeAll());
        Assert.Single(survivor.Events("leader-work"), l => IsWork(l, "started"));
    }

    [Fact]
    public async Task Disposing_the_leader_gracefully_cancels_its_work_and_waits_for_it_before_the_follower_takes_over()
    {
        await using var cluster = new HostCluster("--max-wait-ms", "20000", "--response-timeout-ms", "20000");
        var (leader, followers) = await cluster.StartReadyAsync(2);
        var follower = Assert.Single(followers);
        foreach (var host in new[] { leader, follower }) Replies.Value(await host.RequestAsync("when-leader job"));
        await leader.WaitForAsync(l => IsWork(l, "started"), "the leader's work to start");

        int before = leader.LineCount;
        Replies.Value(await leader.RequestAsync("close"));
        // The close reply comes after the handle's DisposeAsync returned: the work had already observed its token.
        var lines = leader.Lines.Skip(before).ToArray();
        int stopped = Array.FindIndex(lines, l => IsWork(l, "stopped"));
        int closed = Array.FindIndex(lines, l => l.TryGetProperty("id", out _) && !HostProcess.IsEvent(l, "leader-work"));
        Assert.True(stopped >= 0 && stopped < closed, $"The work did not stop before close returned.\n{leader.Describe()}");
        Assert.True(lines[stopped].GetProperty("cancelled").GetBoolean(), lines[stopped].GetRawText());

        var taken = await follower.WaitForAsync(l => IsWork(l, "started"), "the follower's work to start after the leader closed");
        Assert.True(taken.GetProperty("leader").GetBoolean(), cluster.DescribeAll());
        Assert.Single(leader.Events("leader-work"), l => IsWork(l, "started"));
    }

    [Fact]
    public async Task Disposing_the_registration_stops_the_work_and_it_does_not_start_again()
    {
        await using var cluster = new HostCluster("--max-wait-ms", "20000", "--response-timeout-ms", "20000");
        var (leader, followers) = await cluster.StartReadyAsync(2);
        Replies.Value(await leader.RequestAsync("when-leader job"));
        Replies.Value(await followers[0].RequestAsync("when-leader job"));
        await leader.WaitForAsync(l => IsWork(l, "started"), "the leader's work to start");

        Replies.Value(await leader.RequestAsync("when-leader-stop job"));
        var stopped = Assert.Single(leader.Events("leader-work"), l => IsWork(l, "stopped"));
        Assert.True(stopped.GetProperty("cancelled").GetBoolean(), stopped.GetRawText());
        // Still the leader, the work is gone; the follower never ran it.
        Assert.True(Replies.Value(await leader.RequestAsync("status")).GetProperty("leader").GetBoolean());
        Assert.Empty(followers[0].Events("leader-work"));
    }
}
