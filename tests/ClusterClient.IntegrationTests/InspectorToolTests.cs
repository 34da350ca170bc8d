using System.Globalization;
using System.Text.Json;
using ClusterSharing.ProcessHarness;

namespace ClusterSharing.IntegrationTests;

/// <summary><c>cluster-client status</c> (tools/ClusterClient.Inspector) against live worker processes.</summary>
public sealed class InspectorToolTests
{
    private static readonly TimeSpan Limit = TimeSpan.FromSeconds(60);

    private static Task<ProcessOutcome> RunStatusAsync(int port, IReadOnlyDictionary<string, string?>? environment, params string[] extra)
    {
        var info = ProcessCommand.ForDll(ChildTools.PathOf("inspector", "ClusterClient.Inspector.dll"),
            ["status", "--port", port.ToString(CultureInfo.InvariantCulture), .. extra]);
        info.Environment.Remove(ClusterClientOptions.SecretEnvironmentVariable);
        info.Environment.Remove(ClusterClientOptions.PortEnvironmentVariable);
        foreach (var (name, value) in environment ?? new Dictionary<string, string?>()) info.Environment[name] = value;
        return ProcessCommand.RunToEndAsync(info, Limit);
    }

    [Fact]
    public async Task Status_of_a_live_three_process_cluster_names_the_leader_and_its_two_followers()
    {
        await using var cluster = new HostCluster("--max-wait-ms", "20000", "--response-timeout-ms", "20000");
        var (leader, followers) = await cluster.StartReadyAsync(3);
        Replies.Value(await followers[0].RequestAsync("sub news"));
        Replies.Value(await followers[0].RequestAsync("pid"));

        var outcome = await RunStatusAsync(cluster.Port, null, "--json", "--sample-ms", "200");
        string context = $"exit code {outcome.ExitCode}\nstdout:\n{outcome.Stdout}\nstderr:\n{outcome.Stderr}\n{cluster.DescribeAll()}";
        Assert.True(outcome.ExitCode == 0, context);
        using var report = JsonDocument.Parse(outcome.Stdout);
        var root = report.RootElement;
        Assert.Equal(leader.Pid, root.GetProperty("leaderPid").GetInt32());
        Assert.Equal(cluster.Port, root.GetProperty("port").GetInt32());
        long epoch = Replies.Value(await leader.RequestAsync("status")).GetProperty("epoch").GetInt64();
        Assert.Equal(epoch, root.GetProperty("epoch").GetInt64());
        var pids = root.GetProperty("followers").EnumerateArray().Select(f => f.GetProperty("pid").GetInt32()).Order().ToArray();
        Assert.True(pids.SequenceEqual(followers.Select(f => f.Pid).Order()), context);
        Assert.All(root.GetProperty("followers").EnumerateArray(), f => Assert.Equal(1, f.GetProperty("channels").GetArrayLength()));
        var subscription = Assert.Single(root.GetProperty("channels").EnumerateArray().SelectMany(c => c.GetProperty("subscriptions").EnumerateArray()));
        Assert.Equal("\"news\"", subscription.GetProperty("key").GetString());

        // The human form names the same leader.
        var tables = await RunStatusAsync(cluster.Port, null, "--sample-ms", "0");
        Assert.True(tables.ExitCode == 0, tables.Stderr);
        Assert.Contains($"pid {leader.Pid}", tables.Stdout, StringComparison.Ordinal);
        Assert.Contains(followers[1].Pid.ToString(CultureInfo.InvariantCulture), tables.Stdout, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Status_with_another_secret_is_refused_and_the_cluster_keeps_serving()
    {
        await using var cluster = new HostCluster("--max-wait-ms", "20000", "--response-timeout-ms", "20000");
        var (leader, followers) = await cluster.StartReadyAsync(2);

        var outcome = await RunStatusAsync(cluster.Port,
            new Dictionary<string, string?> { [ClusterClientOptions.SecretEnvironmentVariable] = "not the secret this cluster uses" }, "--json");
        string context = $"exit code {outcome.ExitCode}\nstdout:\n{outcome.Stdout}\nstderr:\n{outcome.Stderr}";
        Assert.True(outcome.ExitCode == 1, context);
        Assert.Contains("authentication failed", outcome.Stderr, StringComparison.OrdinalIgnoreCase);
        Assert.Equal("", outcome.Stdout.Trim());
        Assert.Equal(leader.Pid, Replies.Value(await followers[0].RequestAsync("pid")).GetInt32());
    }

    [Fact]
    public async Task Status_of_a_port_nobody_leads_fails_with_a_clear_message()
    {
        int port = HostProcess.FreePort();
        var outcome = await RunStatusAsync(port, null, "--timeout-ms", "1500");
        Assert.True(outcome.ExitCode == 1, outcome.Stdout + outcome.Stderr);
        Assert.Contains(port.ToString(CultureInfo.InvariantCulture), outcome.Stderr, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Status_refuses_a_bad_port_by_name()
    {
        var outcome = await RunStatusAsync(70000, null);
        Assert.True(outcome.ExitCode != 0, outcome.Stdout);
        Assert.Contains("--port", outcome.Stderr, StringComparison.Ordinal);
    }
}
