using System.Text.Json;
using ClusterSharing.ProcessHarness;

namespace ClusterSharing.IntegrationTests;

/// <summary>Runs bench/ClusterClient.Chaos (copied next to this assembly by CopyChildToolOutput) and returns its JSON report.</summary>
internal static class ChaosHarness
{
    public static string ChaosPath => ChildTools.PathOf("chaos", "ClusterClient.Chaos.dll");

    /// <summary>Runs the harness with <paramref name="arguments"/>, killing it after <paramref name="limit"/>; no charts are drawn.</summary>
    public static async Task<(JsonElement Report, string Stderr)> RunAsync(TimeSpan limit, params string[] arguments)
    {
        string reportPath = Path.Combine(Path.GetTempPath(), $"chaos-{Guid.NewGuid():N}.json");
        ProcessOutcome outcome;
        try
        {
            outcome = await ProcessCommand.RunToEndAsync(ProcessCommand.ForDll(ChaosPath, [.. arguments, "--no-charts", "--json", reportPath]), limit);
        }
        catch (TimeoutException e)
        {
            Assert.Fail($"The chaos harness did not finish within {limit.TotalSeconds} s.\n{e.Message}");
            throw;
        }
        Assert.True(File.Exists(reportPath), $"The chaos harness wrote no report (exit code {outcome.ExitCode}).\n{outcome.Stderr}");
        try
        {
            using var document = JsonDocument.Parse(await File.ReadAllTextAsync(reportPath));
            return (document.RootElement.Clone(), outcome.Stderr);
        }
        finally
        {
            File.Delete(reportPath);
        }
    }
}
