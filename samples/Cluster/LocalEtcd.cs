using System.Diagnostics;
using System.Net;
using System.Net.Sockets;

namespace ClusterSharing.Samples.Cluster;

/// <summary>A single-member etcd from the Debian package etcd-server, on free loopback ports and a temporary data directory.</summary>
internal sealed class LocalEtcd : IAsyncDisposable
{
    private readonly Process _process;
    private readonly string _dataDirectory;

    private LocalEtcd(Process process, string dataDirectory, string clientUrl)
    {
        _process = process;
        _dataDirectory = dataDirectory;
        ClientUrl = clientUrl;
    }

    public string ClientUrl { get; }

    /// <summary>Names the etcd binary to use instead of looking on PATH (for an etcd installed elsewhere).</summary>
    public const string BinaryVariable = "CLUSTER_SAMPLE_ETCD";

    /// <summary>
    /// The etcd binary: the one <see cref="BinaryVariable"/> names, else the first on PATH (or in /usr/bin, where the
    /// etcd-server package installs it); null when there is none.
    /// </summary>
    public static string? FindBinary() => FindBinary("etcd", BinaryVariable);

    /// <summary>
    /// The binary <paramref name="variable"/> names, else the first <paramref name="name"/> on PATH (or in /usr/bin,
    /// where Debian packages install it); null when there is none.
    /// </summary>
    public static string? FindBinary(string name, string variable)
    {
        if (Environment.GetEnvironmentVariable(variable) is { Length: > 0 } chosen) return File.Exists(chosen) ? chosen : null;
        return (Environment.GetEnvironmentVariable("PATH") ?? "").Split(':', StringSplitOptions.RemoveEmptyEntries)
            .Append("/usr/bin").Append("/usr/local/bin")
            .Select(d => Path.Combine(d, name)).FirstOrDefault(File.Exists);
    }

    /// <summary>Starts etcd and waits (bounded by <paramref name="cancellationToken"/>) until it reports healthy.</summary>
    public static async Task<LocalEtcd> StartAsync(string binary, CancellationToken cancellationToken)
    {
        string dataDirectory = Directory.CreateTempSubdirectory("cluster-sample-etcd-").FullName;
        string client = $"http://127.0.0.1:{FreePort()}", peer = $"http://127.0.0.1:{FreePort()}";
        var info = new ProcessStartInfo(binary)
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        foreach (string arg in new[]
                 {
                     "--name", "sample", "--data-dir", dataDirectory,
                     "--listen-client-urls", client, "--advertise-client-urls", client,
                     "--listen-peer-urls", peer, "--initial-advertise-peer-urls", peer,
                     "--initial-cluster", $"sample={peer}", "--initial-cluster-state", "new", "--log-level", "error",
                 })
        {
            info.ArgumentList.Add(arg);
        }
        foreach (string key in info.Environment.Keys.Where(k => k.StartsWith("ETCD", StringComparison.Ordinal)).ToList())
            info.Environment.Remove(key);
        var process = Process.Start(info) ?? throw new InvalidOperationException($"Could not start {binary}.");
        process.OutputDataReceived += (_, _) => { };
        process.ErrorDataReceived += (_, _) => { };
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        var etcd = new LocalEtcd(process, dataDirectory, client);
        try
        {
            using var http = new HttpClient { Timeout = TimeSpan.FromSeconds(2) };
            for (int attempt = 0; attempt < 300; attempt++)
            {
                if (process.HasExited) throw new InvalidOperationException($"etcd exited with code {process.ExitCode} while starting.");
                try
                {
                    string health = await http.GetStringAsync($"{client}/health", cancellationToken);
                    if (health.Contains("\"health\":\"true\"", StringComparison.Ordinal)) return etcd;
                }
                catch (Exception e) when (e is HttpRequestException || (e is TaskCanceledException && !cancellationToken.IsCancellationRequested))
                {
                    // not listening yet
                }
                await Task.Delay(100, cancellationToken);
            }
            throw new TimeoutException($"etcd did not become healthy on {client}.");
        }
        catch
        {
            await etcd.DisposeAsync();
            throw;
        }
    }

    /// <summary>Kills etcd by its PID and deletes its data directory.</summary>
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
        try { Directory.Delete(_dataDirectory, recursive: true); }
        catch (IOException) { }
    }

    /// <summary>A free port on 127.0.0.1 right now.</summary>
    public static int FreePort()
    {
        using var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        socket.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        return ((IPEndPoint)socket.LocalEndPoint!).Port;
    }
}
