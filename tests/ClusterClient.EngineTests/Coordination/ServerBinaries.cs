using System.Diagnostics;
using System.Net;
using System.Net.Sockets;

namespace ClusterSharing.EngineTests.Coordination;

/// <summary>
/// Finds (and, as root, installs with apt-get) the server binaries the engine tests start, and hands out free loopback
/// ports. A missing server never skips a test silently: starting fails with the command to run.
/// </summary>
public static class ServerBinaries
{
    private static readonly SemaphoreSlim InstallLock = new(1, 1);

    /// <summary>The path of <paramref name="binary"/>, installing the Debian package <paramref name="package"/> first when it is missing.</summary>
    public static async Task<string> EnsureInstalledAsync(string binary, string package, CancellationToken cancellationToken)
    {
        if (Find(binary) is { } found) return found;
        await InstallLock.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            if (Find(binary) is { } again) return again;
            if (Environment.UserName != "root")
            {
                throw new InvalidOperationException(
                    $"The engine tests need {binary} from the Debian package {package}: run `sudo apt-get update && sudo apt-get install -y {package}`.");
            }
            foreach (var args in new[] { "update -qq", $"install -y -qq {package}" })
            {
                using var apt = Process.Start(new ProcessStartInfo("apt-get", args) { UseShellExecute = false })
                    ?? throw new InvalidOperationException($"Could not start apt-get to install {package}.");
                using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
                timeout.CancelAfter(TimeSpan.FromMinutes(5));
                await apt.WaitForExitAsync(timeout.Token).ConfigureAwait(false);
                if (apt.ExitCode != 0)
                    throw new InvalidOperationException($"`apt-get {args}` failed with exit code {apt.ExitCode}; install {package} by hand.");
            }
            return Find(binary) ?? throw new InvalidOperationException($"{package} was installed but no {binary} binary is on PATH or in /usr/bin.");
        }
        finally
        {
            InstallLock.Release();
        }
    }

    /// <summary>A port free on 127.0.0.1 right now.</summary>
    public static int FreePort()
    {
        using var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        socket.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        return ((IPEndPoint)socket.LocalEndPoint!).Port;
    }

    private static string? Find(string binary)
    {
        var directories = (Environment.GetEnvironmentVariable("PATH") ?? "").Split(':', StringSplitOptions.RemoveEmptyEntries)
            .Append("/usr/bin").Append("/usr/local/bin");
        return directories.Select(d => Path.Combine(d, binary)).FirstOrDefault(File.Exists);
    }
}
