using System.Text.Json;

namespace ClusterSharing.IntegrationTests;

/// <summary>
/// The short form of the chaos run: 4 followers under invoke + subscribe load, the leader SIGKILLed 10 times
/// (the full 100-kill run is <c>dotnet run -c Release --project bench/ClusterClient.Chaos -- --kills 100</c>).
/// </summary>
[Collection(CpuHeavy.Name)]
public sealed class ChaosTests
{
    [Fact]
    public async Task Ten_leader_kills_under_load_leave_no_hung_call_no_untyped_failure_no_lost_value_and_no_publication_out_of_order()
    {
        var (report, stderr) = await ChaosHarness.RunAsync(TimeSpan.FromSeconds(110), "--kills", "10", "--followers", "4");
        string context = $"{report.GetRawText()}\n{stderr}";
        Assert.True(report.GetProperty("kills").GetInt32() == 10, $"Not every kill round completed.\n{context}");
        Assert.True(report.GetProperty("hungCalls").GetInt64() == 0, $"Hung calls.\n{context}");
        Assert.True(report.GetProperty("untypedFailures").GetInt64() == 0, $"Calls failed without a typed exception.\n{context}");
        Assert.True(report.GetProperty("lostValues").GetInt32() == 0, $"Subscribers missed the current value after recovery.\n{context}");
        Assert.True(report.GetProperty("anomalies").GetArrayLength() == 0, $"Anomalies.\n{context}");
        Assert.True(report.GetProperty("callsOk").GetInt64() > 0, $"No call succeeded.\n{context}");
        // Only the failover's own exception may surface (and a timeout if the machine stalls past the 5 s call timeout).
        foreach (var failure in report.GetProperty("failuresByType").EnumerateObject())
            Assert.True(failure.Name is "LeaderLostException(RequestSent)" or "ClusterTimeoutException" or "ClusterNoLeaderException", $"Unexpected failure type {failure.Name}.\n{context}");
        // Every worker's ordered publications reached each real client in order: its own, the followers', the replays.
        Assert.True(report.GetProperty("publicationOrderInversions").GetInt64() == 0, $"Publications reached the real client out of order.\n{context}");
        // Every survivor of every kill had a successful call on the new leader (4 survivors per kill).
        Assert.True(report.GetProperty("failoverSamples").GetInt32() == 40, $"Missing failover samples.\n{context}");
        Assert.True(report.GetProperty("pass").GetBoolean(), context);
    }
}
