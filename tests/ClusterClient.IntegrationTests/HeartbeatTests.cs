namespace ClusterSharing.IntegrationTests;

/// <summary>Heartbeats: busy processes are not declared dead; a silent one is, and comes back when it resumes.</summary>
[Collection(CpuHeavy.Name)]
public sealed class HeartbeatTests
{
    // A peer silent for 3 intervals (600 ms) is dead, so a missed beat shows up quickly. Liveness rides on a UDP pulse
    // answered by each node's dedicated monitor thread, so a starved thread pool must not read as a dead peer.
    private static readonly string[] FastHeartbeat = ["--heartbeat-ms", "200", "--max-wait-ms", "20000", "--response-timeout-ms", "20000"];

    // The default interval (1 s): a peer silent for 3 s is dead.
    private static readonly string[] DefaultHeartbeat = ["--heartbeat-ms", "1000", "--max-wait-ms", "20000", "--response-timeout-ms", "20000"];

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public async Task CPU_bound_work_on_the_thread_pool_for_longer_than_the_death_threshold_does_not_cause_false_deaths(bool burnOnLeader)
    {
        await BurnAndExpectNoLeadershipChangeAsync(DefaultHeartbeat, burnOnLeader);
    }

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public async Task CPU_bound_work_on_the_thread_pool_does_not_cause_false_deaths_with_a_fast_heartbeat(bool burnOnLeader)
    {
        await BurnAndExpectNoLeadershipChangeAsync(FastHeartbeat, burnOnLeader);
    }

    private static async Task BurnAndExpectNoLeadershipChangeAsync(string[] heartbeat, bool burnOnLeader)
    {
        await using var cluster = new HostCluster(heartbeat);
        var (leader, followers) = await cluster.StartReadyAsync(3);
        var busy = burnOnLeader ? leader : followers[0];
        var marks = cluster.Hosts.ToDictionary(h => h, h => h.LineCount);

        // Every core busy for 4 s (longer than 3 intervals), twice over, from thread-pool work items.
        Replies.Value(await busy.RequestAsync($"burn 4000 {Environment.ProcessorCount * 2}"));

        foreach (var host in cluster.Hosts)
        {
            Assert.Equal(leader.Pid, Replies.Value(await host.RequestAsync("pid")).GetInt32());
            var changes = host.Lines.Skip(marks[host]).Where(l => HostProcess.IsEvent(l, "leader-changed") || HostProcess.IsEvent(l, "leadership-lost"));
            Assert.True(!changes.Any(), $"{host.Label} saw a leadership change while {busy.Label} was busy.\n{cluster.DescribeAll()}");
        }
    }

    [Fact]
    public async Task A_paused_follower_does_not_disturb_the_others_and_rejoins_when_it_resumes()
    {
        Assert.True(OperatingSystem.IsLinux() || OperatingSystem.IsMacOS(), "This test pauses a process with SIGSTOP (Linux, macOS).");
        await using var cluster = new HostCluster(FastHeartbeat);
        var (leader, followers) = await cluster.StartReadyAsync(3);
        var paused = followers[0];

        await SignalAsync(paused.Pid, Stop);
        try
        {
            // Well past the 600 ms death threshold, the other follower keeps working with the same leader.
            var report = Replies.Value(await followers[1].RequestAsync("loop 2000 pid"));
            Assert.True(report.GetProperty("successes").GetInt32() > 0, report.GetRawText());
            Assert.Equal(0, report.GetProperty("untyped").GetInt32());
            Assert.Empty(report.GetProperty("typed").EnumerateObject());
        }
        finally
        {
            await SignalAsync(paused.Pid, Continue);
        }

        // The paused follower learns its connection is gone and joins the same leader again.
        Assert.Equal(leader.Pid, Replies.Value(await paused.RequestAsync("slow-idem 0")).GetInt32());
        Assert.Equal(leader.Pid, Replies.Value(await paused.RequestAsync("pid")).GetInt32());
        Assert.Empty(leader.Events("leadership-lost"));
        Assert.All(followers, f => Assert.DoesNotContain(f.Events("leader-changed"), e => e.GetProperty("leader").GetBoolean()));
    }

    private const string Stop = "STOP";

    private const string Continue = "CONT";

    /// <summary>Sends a signal with the system's kill command (no native interop needed).</summary>
    private static async Task SignalAsync(int pid, string signal)
    {
        var info = new System.Diagnostics.ProcessStartInfo("kill") { UseShellExecute = false, RedirectStandardError = true };
        info.ArgumentList.Add("-" + signal);
        info.ArgumentList.Add(pid.ToString(System.Globalization.CultureInfo.InvariantCulture));
        using var kill = System.Diagnostics.Process.Start(info) ?? throw new InvalidOperationException("Could not start kill.");
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(10));
        await kill.WaitForExitAsync(timeout.Token);
        if (kill.ExitCode != 0)
            throw new InvalidOperationException($"kill -{signal} {pid} failed: {await kill.StandardError.ReadToEndAsync()}");
    }
}
