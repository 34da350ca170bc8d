using System.Diagnostics;
using System.Reflection;
using System.Text;

namespace ClusterSharing.PackageTests;

/// <summary>Runs the dotnet CLI (and programs built with it) as a user's shell would, with bounded time.</summary>
internal static class DotnetCli
{
    /// <summary>The repository these tests were built from.</summary>
    public static string RepositoryRoot { get; } = Metadata("RepositoryRoot");

    /// <summary>The configuration the runtime was built in by this test run (so packing needs no build).</summary>
    public static string Configuration { get; } = Metadata("Configuration");

    /// <summary>The muxer of the SDK running the tests: DOTNET_HOST_PATH, or dotnet on the PATH.</summary>
    public static string Host { get; } = FindHost();

    /// <summary>Runs <c>dotnet args</c> in <paramref name="directory"/>; returns its exit code and merged output.</summary>
    public static Task<(int ExitCode, string Output)> RunAsync(string directory, TimeSpan timeout, params string[] arguments) =>
        RunAsync(Start(directory, arguments), timeout);

    /// <summary>Starts <c>dotnet args</c> in <paramref name="directory"/> with output and input redirected.</summary>
    public static Process Start(string directory, params string[] arguments)
    {
        var info = new ProcessStartInfo(Host)
        {
            WorkingDirectory = directory,
            RedirectStandardInput = true,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
            StandardOutputEncoding = Encoding.UTF8,
            StandardErrorEncoding = Encoding.UTF8,
        };
        foreach (string argument in arguments) info.ArgumentList.Add(argument);
        // The test host runs inside MSBuild's and VSTest's environment; a user's shell has neither, and MSBuild variables
        // pointing at this SDK's internals would change how the child build resolves SDKs.
        foreach (string key in info.Environment.Keys.ToList())
        {
            if (key.StartsWith("MSBUILD", StringComparison.OrdinalIgnoreCase) || key.StartsWith("VSTEST", StringComparison.OrdinalIgnoreCase) ||
                key.StartsWith("CLUSTER_CLIENT_", StringComparison.OrdinalIgnoreCase))
                info.Environment.Remove(key);
        }
        // No MSBuild worker node may outlive the command.
        info.Environment["MSBUILDDISABLENODEREUSE"] = "1";
        info.Environment["DOTNET_CLI_TELEMETRY_OPTOUT"] = "1";
        info.Environment["DOTNET_NOLOGO"] = "1";
        info.Environment["DOTNET_SKIP_FIRST_TIME_EXPERIENCE"] = "1";
        return Process.Start(info) ?? throw new InvalidOperationException($"Process.Start returned null for {Host}.");
    }

    /// <summary>
    /// Waits for <paramref name="process"/> to exit (killing it and its children after <paramref name="timeout"/>), telling
    /// <paramref name="onLine"/> each line of its output as it comes.
    /// </summary>
    public static async Task<(int ExitCode, string Output)> RunAsync(Process process, TimeSpan timeout, Action<string>? onLine = null)
    {
        using (process)
        {
            var output = new StringBuilder();
            var stdout = Pump(process.StandardOutput, output, onLine);
            var stderr = Pump(process.StandardError, output, onLine);
            using var cts = new CancellationTokenSource(timeout);
            try
            {
                await process.WaitForExitAsync(cts.Token).ConfigureAwait(false);
            }
            catch (OperationCanceledException)
            {
                process.Kill(entireProcessTree: true);
                await process.WaitForExitAsync(CancellationToken.None).ConfigureAwait(false);
                await Task.WhenAll(stdout, stderr).ConfigureAwait(false);
                throw new TimeoutException($"'{process.StartInfo.FileName} {string.Join(' ', process.StartInfo.ArgumentList)}' did not finish within {timeout}. Output:\n{Tail(output)}");
            }
            await Task.WhenAll(stdout, stderr).ConfigureAwait(false);
            return (process.ExitCode, output.ToString());
        }
    }

    /// <summary>The last lines of a long output, for assertion messages.</summary>
    public static string Tail(object output, int lines = 40)
    {
        string[] all = output.ToString()!.Split('\n');
        return string.Join('\n', all.Skip(Math.Max(0, all.Length - lines)));
    }

    private static async Task Pump(StreamReader reader, StringBuilder into, Action<string>? onLine)
    {
        while (await reader.ReadLineAsync().ConfigureAwait(false) is { } line)
        {
            lock (into) into.AppendLine(line);
            onLine?.Invoke(line);
        }
    }

    private static string Metadata(string key) =>
        typeof(DotnetCli).Assembly.GetCustomAttributes<AssemblyMetadataAttribute>().SingleOrDefault(a => a.Key == key)?.Value
        ?? throw new InvalidOperationException($"The test assembly has no AssemblyMetadata '{key}' (set by ClusterClient.PackageTests.csproj).");

    private static string FindHost()
    {
        string? host = Environment.GetEnvironmentVariable("DOTNET_HOST_PATH");
        if (!string.IsNullOrEmpty(host) && File.Exists(host)) return host;
        string? process = Environment.ProcessPath;
        if (process is not null && Path.GetFileNameWithoutExtension(process).Equals("dotnet", StringComparison.OrdinalIgnoreCase)) return process;
        return "dotnet";
    }
}
