using System.Diagnostics;
using System.Globalization;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;

namespace ClusterSharing.IntegrationTests;

/// <summary>
/// A throwaway local user for the multi-user tests (created with useradd, removed with userdel), and a way to run
/// the attacker exe as that user (setpriv drops to its uid and gid). Needs root on Linux; see <see cref="MultiUserFactAttribute"/>.
/// </summary>
public sealed class ForeignUser : IDisposable
{
    public ForeignUser()
    {
        if (MultiUserFactAttribute.Unavailable is { } reason) throw new InvalidOperationException(reason);
        Name = "ccmu" + Convert.ToHexString(RandomNumberGenerator.GetBytes(4)).ToLowerInvariant();
        Run("useradd", "--no-create-home", "--shell", "/usr/sbin/nologin", "--user-group", Name);
        Uid = int.Parse(Run("id", "-u", Name).Trim(), CultureInfo.InvariantCulture);
        Gid = int.Parse(Run("id", "-g", Name).Trim(), CultureInfo.InvariantCulture);
    }

    public string Name { get; }

    public int Uid { get; }

    public int Gid { get; }

    /// <summary>Path of the attacker exe copied next to this assembly by the project's CopyAttackerOutput target.</summary>
    public static string AttackerPath => ChildTools.PathOf("attacker", "ClusterClient.Attacker.dll");

    /// <summary>Runs a command as this user and returns its stdout; fails on a non-zero exit.</summary>
    public string RunAs(params string[] command) => Run("setpriv", [.. AsUser(), "--", .. command]);

    /// <summary>Starts the attacker as this user; its stdout lines are JSON.</summary>
    public Attacker StartAttacker(params string[] arguments)
    {
        var info = new ProcessStartInfo("setpriv")
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
            StandardOutputEncoding = Encoding.UTF8,
        };
        foreach (var argument in AsUser()) info.ArgumentList.Add(argument);
        info.ArgumentList.Add("--");
        info.ArgumentList.Add(ClusterSharing.ProcessHarness.ProcessCommand.ForDll(AttackerPath, []).FileName);
        info.ArgumentList.Add(AttackerPath);
        foreach (var argument in arguments) info.ArgumentList.Add(argument);
        info.Environment["HOME"] = "/tmp";
        info.Environment["DOTNET_CLI_TELEMETRY_OPTOUT"] = "1";
        info.Environment.Remove("CLUSTER_CLIENT_SECRET");
        return new Attacker(Process.Start(info)!);
    }

    private string[] AsUser() =>
        ["--reuid", Uid.ToString(CultureInfo.InvariantCulture), "--regid", Gid.ToString(CultureInfo.InvariantCulture), "--clear-groups"];

    public void Dispose()
    {
        try
        {
            Run("userdel", "--force", Name);
        }
        catch (InvalidOperationException)
        {
            // A leftover process of the user; the tests kill theirs, so this is only a warning in the output.
        }
    }

    private static string Run(string file, params string[] arguments)
    {
        var info = new ProcessStartInfo(file) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (var argument in arguments) info.ArgumentList.Add(argument);
        using var process = Process.Start(info)!;
        var output = process.StandardOutput.ReadToEndAsync();
        var error = process.StandardError.ReadToEndAsync();
        if (!process.WaitForExit(30_000)) process.Kill(entireProcessTree: true);
        if (process.ExitCode != 0)
            throw new InvalidOperationException($"{file} {string.Join(' ', arguments)} failed ({process.ExitCode}): {error.Result}");
        return output.Result;
    }

    /// <summary>One attacker process; disposing kills it.</summary>
    public sealed class Attacker(Process process) : IDisposable
    {
        private readonly Task<string> _stderr = process.StandardError.ReadToEndAsync();

        /// <summary>The next JSON line of its stdout (bounded wait).</summary>
        public async Task<JsonElement> NextAsync(TimeSpan? timeout = null)
        {
            using var cancel = new CancellationTokenSource(timeout ?? TimeSpan.FromSeconds(120));
            string? line = await process.StandardOutput.ReadLineAsync(cancel.Token);
            if (line is null)
            {
                await process.WaitForExitAsync(cancel.Token);
                throw new InvalidOperationException($"The attacker ended (exit {process.ExitCode}) without output: {await _stderr}");
            }
            return JsonDocument.Parse(line).RootElement.Clone();
        }

        public void Dispose()
        {
            if (!process.HasExited) process.Kill(entireProcessTree: true);
            process.WaitForExit(10_000);
            process.Dispose();
        }
    }
}

/// <summary>A multi-user fact: needs root on Linux with useradd and setpriv; skipped with the reason otherwise.</summary>
public sealed class MultiUserFactAttribute : FactAttribute
{
    public static string? Unavailable { get; } =
        !OperatingSystem.IsLinux() ? "multi-user tests need Linux"
        : !Environment.IsPrivilegedProcess ? "multi-user tests create throwaway users and need root (CI runs as root)"
        : !File.Exists("/usr/sbin/useradd") || !File.Exists("/usr/bin/setpriv") ? "multi-user tests need useradd and setpriv"
        : null;

    public MultiUserFactAttribute()
    {
        if (Unavailable is { } reason) Skip = reason;
    }
}
