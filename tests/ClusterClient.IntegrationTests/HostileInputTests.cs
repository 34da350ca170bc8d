namespace ClusterSharing.IntegrationTests;

/// <summary>
/// Hostile input against a live leader process, bounded for CI (the full million frames and 500-connection flood is
/// <c>dotnet run -c Release --project bench/ClusterClient.Chaos -- --hostile</c>).
/// </summary>
[Collection(CpuHeavy.Name)]
public sealed class HostileInputTests
{
    [Fact]
    public async Task Random_and_mutated_frames_oversized_lengths_trickles_and_a_flood_leave_the_leader_serving()
    {
        var (report, stderr) = await ChaosHarness.RunAsync(TimeSpan.FromSeconds(110), "--hostile", "--frames", "50000", "--flood", "200");
        string context = $"{report.GetRawText()}\n{stderr}";
        long rogue = report.GetProperty("rogueConnections").GetInt64();
        Assert.True(rogue > 400, $"Too few rogue connections were made.\n{context}");
        // Every rogue connection was closed by the leader; the log got at most one line each, and rejection warnings
        // stayed within their rate limit (issue 11, finding 12: junk connections must not flood the log).
        Assert.True(report.GetProperty("notClosed").GetInt64() == 0, context);
        Assert.Equal(rogue, report.GetProperty("closedByLeader").GetInt64());
        Assert.True(report.GetProperty("logLines").GetProperty("disconnected2004").GetInt64() <= rogue, context);
        // The legitimate followers were served throughout.
        var calls = report.GetProperty("legitimateCallsDuringAttack");
        Assert.True(calls.GetProperty("ok").GetInt64() > 0, context);
        Assert.True(calls.GetProperty("failed").GetInt64() == 0, context);
        // Bounded memory: after a collection, the managed heap is back to a few MiB.
        Assert.True(report.GetProperty("leaderMemory").GetProperty("heapAfterMiB").GetDouble() < 64, context);
        Assert.True(report.GetProperty("pass").GetBoolean(), context);
    }
}
