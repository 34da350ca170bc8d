using ClusterSharing.EngineTests.Coordination;
using ClusterSharing.ProcessHarness;

namespace ClusterSharing.IntegrationTests;

/// <summary>
/// The cluster sample a user runs (<c>dotnet run --project samples/Cluster [-- --redis]</c>) works end to end on both
/// engines: three "machines" on 127.0.0.1-3 elect one leader, invoke it over TLS, and survive a SIGKILL of the leader.
/// </summary>
public sealed class ClusterSampleTests
{
    private static readonly TimeSpan Limit = TimeSpan.FromSeconds(150);

    [Theory]
    [InlineData("etcd", "etcd-server", new string[0])]
    [InlineData("redis-server", "redis-server", new[] { "--redis" })]
    public async Task The_cluster_sample_elects_invokes_and_fails_over(string binary, string package, string[] arguments)
    {
        // The fixtures install what is missing (apt-get as root), as the sample's own message tells a user to do.
        await ServerBinaries.EnsureInstalledAsync(binary, package, CancellationToken.None);
        var outcome = await ProcessCommand.RunToEndAsync(ProcessCommand.ForDll(ChildTools.PathOf("cluster", "Cluster.dll"), arguments), Limit);
        string context = $"exit code {outcome.ExitCode}\nstdout:\n{outcome.Stdout}\nstderr:\n{outcome.Stderr}";
        Assert.True(outcome.ExitCode == 0, context);
        var lines = outcome.Stdout.Split('\n', StringSplitOptions.TrimEntries);
        Assert.Equal(3, lines.Count(l => l.StartsWith("machine 127.0.0.", StringComparison.Ordinal) && l.Contains(" ready as ", StringComparison.Ordinal)));
        Assert.Single(lines, l => l.EndsWith("ready as leader", StringComparison.Ordinal));
        // Three answers before the kill, two after, every one from the one leader of its epoch.
        Assert.Equal(5, lines.Count(l => l.Contains("-> answered by pid", StringComparison.Ordinal)));
        Assert.Contains(lines, l => l.StartsWith("New leader: pid", StringComparison.Ordinal) && l.Contains(" -> ", StringComparison.Ordinal));
    }
}
