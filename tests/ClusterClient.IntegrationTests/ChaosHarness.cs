using System.Diagnostics;
using System.Text;
using System.Text.Json;

namespace ClusterSharing.IntegrationTests;

/// <summary>Runs bench/ClusterClient.Chaos (copied next to this assembly by CopyChaosOutput) and returns its JSON report.</summary>
internal static class ChaosHarness
{
    public static string ChaosPath
    {
        get
        {
            string path = Path.Combine(AppContext.BaseDirectory, "chaos", "ClusterClient.Chaos.dll");
            if (!File.Exists(path))
                throw new FileNotFoundException($"The chaos harness was not found at {path}. Build tests/ClusterClient.IntegrationTests (its CopyChaosOutput target copies it there).", path);
            return path;
        }
    }

    /// <summary>Runs the harness with <paramref name="arguments"/>, killing it after <paramref name="limit"/>.</summary>
    public static async Task<(JsonElement Report, string Stderr)> RunAsync(TimeSpan limit, params string[] arguments)
    {
        string reportPath = Path.Combine(Path.GetTempPath(), $"chaos-{Guid.NewGuid():N}.json");
        var info = HostProcess.DotnetStartInfo(ChaosPath, [.. arguments, "--json", reportPath], redirectInput: false);
        using var process = Process.Start(info) ?? throw new InvalidOperationException("Process.Start returned null for the chaos harness.");
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        using var timeout = new CancellationTokenSource(limit);
        try
        {
            await process.WaitForExitAsync(timeout.Token);
        }
        catch (OperationCanceledException)
        {
            // Its workers read stdin from it, so they end with it.
            process.Kill(entireProcessTree: true);
            Assert.Fail($"The chaos harness did not finish within {limit.TotalSeconds} s.\n{await stderr}");
        }
        string errors = await stderr;
        await stdout;
        Assert.True(File.Exists(reportPath), $"The chaos harness wrote no report (exit code {process.ExitCode}).\n{errors}");
        try
        {
            using var document = JsonDocument.Parse(await File.ReadAllTextAsync(reportPath));
            return (document.RootElement.Clone(), errors);
        }
        finally
        {
            File.Delete(reportPath);
        }
    }
}
