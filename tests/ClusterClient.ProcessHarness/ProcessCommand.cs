using System.Diagnostics;
using System.Reflection;
using System.Text;

namespace ClusterSharing.ProcessHarness;

/// <summary>
/// How the tools and tests start their child processes: standard streams redirected as UTF-8, and the ClusterClient
/// environment variables of the parent removed, so no child silently picks up a port, single mode or a secret.
/// </summary>
public static class ProcessCommand
{
    /// <summary><c>dotnet <paramref name="dll"/> <paramref name="arguments"/></c> with the SDK's own muxer.</summary>
    public static ProcessStartInfo ForDll(string dll, IEnumerable<string> arguments) =>
        ForExecutable(DotnetHost(), [dll, .. arguments]);

    /// <summary>
    /// This program again with <paramref name="arguments"/> (a tool starting its own workers): its apphost, or
    /// <c>dotnet Tool.dll</c> when it was started that way.
    /// </summary>
    public static ProcessStartInfo ForThisProgram(IEnumerable<string> arguments)
    {
        string self = Environment.ProcessPath ?? throw new InvalidOperationException("Cannot tell which executable is running (Environment.ProcessPath is null).");
        if (!IsDotnet(self)) return ForExecutable(self, arguments);
        string entry = Assembly.GetEntryAssembly()?.Location
            ?? throw new InvalidOperationException("Started through dotnet, but the entry assembly has no location to start the workers from.");
        return ForExecutable(self, [entry, .. arguments]);
    }

    /// <summary>Any executable on PATH or by path (node, npm, an apphost).</summary>
    public static ProcessStartInfo ForExecutable(string fileName, IEnumerable<string> arguments)
    {
        var info = new ProcessStartInfo(fileName)
        {
            RedirectStandardInput = true,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
            StandardInputEncoding = new UTF8Encoding(false),
            StandardOutputEncoding = Encoding.UTF8,
            StandardErrorEncoding = Encoding.UTF8,
        };
        foreach (var argument in arguments) info.ArgumentList.Add(argument);
        info.Environment.Remove(ClusterClientOptions.PortEnvironmentVariable);
        info.Environment.Remove(ClusterClientOptions.SingleModeEnvironmentVariable);
        info.Environment.Remove(ClusterClientOptions.SecretEnvironmentVariable);
        return info;
    }

    /// <summary>
    /// Runs <paramref name="info"/> to its end and returns its exit code and output. Past <paramref name="limit"/> the
    /// process tree is killed and a <see cref="TimeoutException"/> carries what it had written.
    /// </summary>
    public static async Task<ProcessOutcome> RunToEndAsync(ProcessStartInfo info, TimeSpan limit, CancellationToken cancellationToken = default)
    {
        info.RedirectStandardInput = false;
        info.StandardInputEncoding = null;
        using var process = Process.Start(info) ?? throw new InvalidOperationException($"Process.Start returned null for {info.FileName}.");
        var stdout = process.StandardOutput.ReadToEndAsync(CancellationToken.None);
        var stderr = process.StandardError.ReadToEndAsync(CancellationToken.None);
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        timeout.CancelAfter(limit);
        try
        {
            await process.WaitForExitAsync(timeout.Token).ConfigureAwait(false);
        }
        catch (OperationCanceledException)
        {
            // Its own children read stdin from it, so they end with it.
            process.Kill(entireProcessTree: true);
            await process.WaitForExitAsync(CancellationToken.None).ConfigureAwait(false);
            cancellationToken.ThrowIfCancellationRequested();
            throw new TimeoutException($"{Path.GetFileName(info.FileName)} {string.Join(' ', info.ArgumentList)} did not finish within {limit.TotalSeconds:0} s; it was killed.\n{await stderr.ConfigureAwait(false)}");
        }
        return new ProcessOutcome(process.ExitCode, await stdout.ConfigureAwait(false), await stderr.ConfigureAwait(false));
    }

    private static string DotnetHost()
    {
        // A test runs under dotnet itself (testhost), so DOTNET_HOST_PATH or the muxer running us is the same SDK.
        string? host = Environment.GetEnvironmentVariable("DOTNET_HOST_PATH");
        if (!string.IsNullOrEmpty(host) && File.Exists(host)) return host;
        string? process = Environment.ProcessPath;
        return process is not null && IsDotnet(process) ? process : "dotnet";
    }

    private static bool IsDotnet(string path) => Path.GetFileNameWithoutExtension(path).Equals("dotnet", StringComparison.OrdinalIgnoreCase);
}

/// <summary>What a process that ran to its end left behind.</summary>
/// <param name="ExitCode">Its exit code.</param>
/// <param name="Stdout">Everything it wrote to stdout.</param>
/// <param name="Stderr">Everything it wrote to stderr.</param>
public sealed record ProcessOutcome(int ExitCode, string Stdout, string Stderr);
