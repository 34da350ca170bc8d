using System.Globalization;
using System.Text.Json;

namespace ClusterSharing.IntegrationTests;

/// <summary>
/// The attacks of issue 11 made by another local user (a throwaway account running the attacker exe) against
/// clusters of this user that use the defaults: no secret configured, default state directory. Each test names the
/// finding it shows refused or bounded; docs/security.md lists them.
/// </summary>
[System.Runtime.Versioning.UnsupportedOSPlatform("windows")]
public sealed class MultiUserTests(ForeignUser stranger) : IClassFixture<ForeignUser>
{
    private static readonly TimeSpan Wait = TimeSpan.FromSeconds(60);

    private static bool Flag(JsonElement line, string name) => line.GetProperty(name).GetBoolean();

    [MultiUserFact]
    public async Task Finding1_another_user_cannot_register_or_invoke_while_a_same_user_process_joins_with_no_configuration()
    {
        await using var cluster = new HostCluster("--max-wait-ms", "20000", "--response-timeout-ms", "20000", "--log");
        var (leader, followers) = await cluster.StartReadyAsync(2);
        Assert.Equal(leader.Pid, Replies.Value(await followers[0].RequestAsync("pid")).GetInt32());

        using var attacker = stranger.StartAttacker("join", cluster.Port.ToString(CultureInfo.InvariantCulture), "ClusterSharing.TestHost.ITestService");
        var outcome = await attacker.NextAsync();
        Assert.True(Flag(outcome, "challenged"), outcome.GetRawText());
        Assert.False(Flag(outcome, "registered"), outcome.GetRawText());
        Assert.False(Flag(outcome, "invokeAnswered"), outcome.GetRawText());
        Assert.DoesNotContain("RegisterChannelResult", outcome.GetProperty("seen").GetString());
        Assert.Contains("authentication failed", outcome.GetProperty("goodbye").GetString());
        // The leader logged who it refused.
        await TestWait.UntilAsync(() => leader.Describe().Contains($"uid {stranger.Uid}", StringComparison.Ordinal), "the leader to log the stranger's uid");
        Assert.Equal(leader.Pid, Replies.Value(await followers[0].RequestAsync("pid")).GetInt32());
    }

    [MultiUserFact]
    public async Task Finding1_control_an_Open_cluster_lets_the_same_attacker_reach_the_channel_table()
    {
        await using var cluster = new HostCluster("--max-wait-ms", "20000", "--open");
        var leader = cluster.Start();
        await HostCluster.WaitReadyAsync(leader);
        using var attacker = stranger.StartAttacker("join", cluster.Port.ToString(CultureInfo.InvariantCulture), "ClusterSharing.TestHost.ITestService");
        var outcome = await attacker.NextAsync();
        Assert.False(Flag(outcome, "challenged"), outcome.GetRawText());
        Assert.Contains("RegisterChannelResult", outcome.GetProperty("seen").GetString());
    }

    [MultiUserFact]
    public async Task Finding2_victims_never_follow_a_squatter_and_ReadyAsync_names_it()
    {
        int port = HostProcess.FreePort();
        using var squatter = stranger.StartAttacker("squat", port.ToString(CultureInfo.InvariantCulture), "25");
        var listening = await squatter.NextAsync();
        Assert.Equal(port, listening.GetProperty("listening").GetInt32());

        await using var victim = HostProcess.Start("victim", "--port", port.ToString(CultureInfo.InvariantCulture), "--max-wait-ms", "4000");
        var failed = await HostCluster.WaitReadyFailedAsync(victim);
        string message = Replies.Text(failed, "message");
        Assert.Contains("authentication failed", message);
        Assert.Contains($"uid {stranger.Uid} ({stranger.Name})", message);

        var summary = await squatter.NextAsync(Wait);
        Assert.True(summary.GetProperty("handshakes").GetInt32() >= 1, summary.GetRawText());
        Assert.Equal(0, summary.GetProperty("registrations").GetInt32());
        Assert.Equal(0, summary.GetProperty("invokes").GetInt32());
    }

    [MultiUserFact]
    public async Task Finding10_a_squatter_gets_no_proof_from_victims_to_attack_their_passphrase_offline()
    {
        foreach (string style in new[] { "spake", "nonce" })
        {
            int port = HostProcess.FreePort();
            using var squatter = stranger.StartAttacker("oracle", port.ToString(CultureInfo.InvariantCulture), "20", style);
            Assert.Equal(port, (await squatter.NextAsync()).GetProperty("listening").GetInt32());

            // An explicit passphrase: the case where an offline guess would pay.
            await using var victim = HostProcess.Start("victim", "--port", port.ToString(CultureInfo.InvariantCulture), "--max-wait-ms", "4000",
                "--secret", "correct horse battery staple");
            var failed = await HostCluster.WaitReadyFailedAsync(victim);
            string message = Replies.Text(failed, "message");
            Assert.Contains("authentication failed", message);
            Assert.Contains($"uid {stranger.Uid} ({stranger.Name})", message);
            Assert.Contains($"port {port}", message);

            var summary = await squatter.NextAsync(Wait);
            Assert.True(summary.GetProperty("handshakes").GetInt32() >= 1, summary.GetRawText());
            // Against the SPAKE2 challenge the victim sends its share (a random group element) and stops there.
            if (style == "spake") Assert.True(summary.GetProperty("shares").GetInt32() >= 1, summary.GetRawText());
            else Assert.Equal(0, summary.GetProperty("shares").GetInt32());
            Assert.Equal(0, summary.GetProperty("proofs").GetInt32());
            Assert.Equal(0, summary.GetProperty("otherResponses").GetInt32());
        }
    }

    [MultiUserFact]
    public async Task Finding5_a_squatter_answering_pulses_does_not_keep_a_stopped_leader_from_being_replaced()
    {
        int port = HostProcess.FreePort();
        using var squatter = stranger.StartAttacker("pulse", port.ToString(CultureInfo.InvariantCulture), "60");
        Assert.Equal(port, (await squatter.NextAsync()).GetProperty("listening").GetInt32());

        await using var cluster = HostCluster.AtPort(port, "--heartbeat-ms", "300", "--max-wait-ms", "30000", "--response-timeout-ms", "30000",
            "--connect-timeout-ms", "3000", "--log");
        var (leader, followers) = await cluster.StartReadyAsync(2);
        // The leader could not bind the pulse port (warning 2015): every pulse of the follower reaches the squatter.
        await TestWait.UntilAsync(() => leader.Describe().Contains("pulse port", StringComparison.Ordinal), "the leader to say its pulse port is taken");
        Assert.True((await squatter.NextAsync(Wait)).GetProperty("firstPulse").GetBoolean());
        int mark = followers[0].LineCount;
        await HungLeaderTests.SignalAsync(leader.Pid, "STOP");
        try
        {
            await followers[0].WaitForEventAsync("leader-changed", l => l.GetProperty("leader").GetBoolean(), Wait, from: mark);
        }
        finally
        {
            await HungLeaderTests.SignalAsync(leader.Pid, "CONT");
        }
        await leader.WaitForEventAsync("leader-changed", l => !l.GetProperty("leader").GetBoolean(), Wait);
    }

    [MultiUserFact]
    public async Task Finding6_a_state_directory_planted_by_another_user_is_a_clear_error_naming_it()
    {
        // A private temp root for this test (like /tmp: sticky, world-writable), so the planted directory is the
        // default path of this test's processes only.
        string root = Directory.CreateTempSubdirectory("cc-mu-").FullName;
        try
        {
            File.SetUnixFileMode(root, (UnixFileMode)0x3FF); // 1777
            string planted = Path.Combine(root, $"clusterclient-{Environment.GetEnvironmentVariable("SUDO_UID") ?? "0"}");
            stranger.RunAs("mkdir", "-m", "700", planted);
            var environment = new Dictionary<string, string?> { ["TMPDIR"] = root, ["XDG_RUNTIME_DIR"] = null };
            await using var victim = HostProcess.Start("victim", environment, "--port", HostProcess.FreePort().ToString(CultureInfo.InvariantCulture), "--max-wait-ms", "4000");
            var line = await victim.WaitForAsync(l => HostProcess.IsEvent(l, "create-failed") || HostProcess.IsEvent(l, "ready") || HostProcess.IsEvent(l, "ready-failed"), "the outcome");
            Assert.True(HostProcess.IsEvent(line, "create-failed"), line.GetRawText());
            string message = Replies.Text(line, "message");
            Assert.Contains(planted, message);
            Assert.Contains($"belongs to uid {stranger.Uid}", message);
        }
        finally
        {
            Directory.Delete(root, recursive: true);
        }
    }

    [MultiUserFact]
    public async Task Finding7_unauthenticated_senders_of_huge_frames_are_closed_and_the_leader_stays_small()
    {
        await using var cluster = new HostCluster("--max-wait-ms", "20000");
        var leader = cluster.Start();
        await HostCluster.WaitReadyAsync(leader);
        long before = RssBytes(leader.Pid);

        using var attacker = stranger.StartAttacker("bigframe", cluster.Port.ToString(CultureInfo.InvariantCulture), "10");
        var outcome = await attacker.NextAsync();
        long after = RssBytes(leader.Pid);
        Assert.Equal(10, outcome.GetProperty("closed").GetInt32());
        // Ten announced 15.9 MiB frames used to be buffered (about 160 MB); the leader now closes each at its header.
        Assert.True(after - before < 48L * 1024 * 1024, $"leader RSS grew from {before >> 20} MiB to {after >> 20} MiB");
        await using var follower = cluster.Start();
        await HostCluster.WaitReadyAsync(follower);
    }

    [MultiUserFact]
    public async Task Finding12_junk_connections_cost_a_bounded_number_of_warnings_and_a_forged_epoch_is_refused()
    {
        await using var cluster = new HostCluster("--max-wait-ms", "20000", "--log", "--open");
        var leader = cluster.Start();
        await HostCluster.WaitReadyAsync(leader);

        using (var epoch = stranger.StartAttacker("epoch", cluster.Port.ToString(CultureInfo.InvariantCulture)))
        {
            var outcome = await epoch.NextAsync();
            Assert.True(Flag(outcome, "closed"), outcome.GetRawText());
            Assert.Equal(-1, outcome.GetProperty("answeredEpoch").GetInt64());
        }
        using (var junk = stranger.StartAttacker("junk", cluster.Port.ToString(CultureInfo.InvariantCulture), "500"))
        {
            var outcome = await junk.NextAsync();
            Assert.Equal(500, outcome.GetProperty("connections").GetInt32());
        }
        await using var follower = cluster.Start();
        await HostCluster.WaitReadyAsync(follower);
        Assert.Equal(leader.Pid, Replies.Value(await follower.RequestAsync("pid")).GetInt32());
        int warnings = leader.WarningLines;
        Assert.True(warnings <= 60, $"{warnings} warning lines for 501 hostile connections:\n{leader.Describe()}");
    }

    private static long RssBytes(int pid)
    {
        foreach (var line in File.ReadLines($"/proc/{pid}/status"))
        {
            if (line.StartsWith("VmRSS:", StringComparison.Ordinal))
                return long.Parse(line.Split(' ', StringSplitOptions.RemoveEmptyEntries)[1], CultureInfo.InvariantCulture) * 1024;
        }
        throw new InvalidOperationException($"No VmRSS for pid {pid}.");
    }
}
