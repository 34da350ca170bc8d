using System.Diagnostics;
using System.Net.Sockets;
using System.Text;

namespace ClusterSharing.Samples.Cluster;

/// <summary>
/// A redis-server from the Debian package redis-server, on a free loopback port with persistence off and a temporary
/// working directory, stopped by PID.
/// </summary>
internal sealed class LocalRedis : IAsyncDisposable
{
    private readonly Process _process;
    private readonly string _directory;

    private LocalRedis(Process process, string directory, int port)
    {
        _process = process;
        _directory = directory;
        Endpoint = $"127.0.0.1:{port}";
    }

    /// <summary><c>127.0.0.1:port</c>, as <c>UseRedis</c> takes it.</summary>
    public string Endpoint { get; }

    /// <summary>Names the redis-server binary to use instead of looking on PATH.</summary>
    public const string BinaryVariable = "CLUSTER_SAMPLE_REDIS";

    /// <summary>The redis-server binary: the one <see cref="BinaryVariable"/> names, else the first on PATH or in /usr/bin; null when there is none.</summary>
    public static string? FindBinary() => LocalEtcd.FindBinary("redis-server", BinaryVariable);

    /// <summary>Starts redis-server and waits (bounded by <paramref name="cancellationToken"/>) until it answers PING.</summary>
    public static async Task<LocalRedis> StartAsync(string binary, CancellationToken cancellationToken)
    {
        string directory = Directory.CreateTempSubdirectory("cluster-sample-redis-").FullName;
        int port = LocalEtcd.FreePort();
        var info = new ProcessStartInfo(binary) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (string arg in new[] { "--port", port.ToString(System.Globalization.CultureInfo.InvariantCulture), "--bind", "127.0.0.1",
                                       "--save", "", "--appendonly", "no", "--dir", directory, "--loglevel", "warning" })
        {
            info.ArgumentList.Add(arg);
        }
        var process = Process.Start(info) ?? throw new InvalidOperationException($"Could not start {binary}.");
        process.OutputDataReceived += (_, _) => { };
        process.ErrorDataReceived += (_, _) => { };
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        var redis = new LocalRedis(process, directory, port);
        try
        {
            for (int attempt = 0; attempt < 300; attempt++)
            {
                if (process.HasExited) throw new InvalidOperationException($"redis-server exited with code {process.ExitCode} while starting.");
                if (await PingsAsync(port, cancellationToken)) return redis;
                await Task.Delay(100, cancellationToken);
            }
            throw new TimeoutException($"redis-server did not answer PING on 127.0.0.1:{port}.");
        }
        catch
        {
            await redis.DisposeAsync();
            throw;
        }
    }

    private static async Task<bool> PingsAsync(int port, CancellationToken cancellationToken)
    {
        try
        {
            using var client = new TcpClient();
            using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
            timeout.CancelAfter(TimeSpan.FromSeconds(2));
            await client.ConnectAsync("127.0.0.1", port, timeout.Token);
            var stream = client.GetStream();
            await stream.WriteAsync("PING\r\n"u8.ToArray(), timeout.Token);
            var buffer = new byte[16];
            int read = await stream.ReadAsync(buffer, timeout.Token);
            return Encoding.ASCII.GetString(buffer, 0, read).StartsWith("+PONG", StringComparison.Ordinal);
        }
        catch (Exception e) when (e is SocketException or IOException || (e is OperationCanceledException && !cancellationToken.IsCancellationRequested))
        {
            return false; // not listening yet
        }
    }

    /// <summary>Kills redis-server by its PID and deletes its directory.</summary>
    public async ValueTask DisposeAsync()
    {
        try
        {
            if (!_process.HasExited) _process.Kill();
            using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(10));
            await _process.WaitForExitAsync(timeout.Token);
        }
        catch (Exception e) when (e is InvalidOperationException or OperationCanceledException)
        {
            // already gone, or stuck: nothing more a sample can do
        }
        _process.Dispose();
        try { Directory.Delete(_directory, recursive: true); }
        catch (IOException) { }
    }
}
