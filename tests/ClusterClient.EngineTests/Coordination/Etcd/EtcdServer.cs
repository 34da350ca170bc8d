using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using System.Text;
using System.Text.Json;

namespace ClusterSharing.EngineTests.Coordination.Etcd;

/// <summary>
/// A single-member etcd (the <c>etcd</c> binary of the Debian package <c>etcd-server</c>) on free loopback ports with a
/// temporary data directory, stopped by PID. Tests can stop, kill and restart it on the same ports and data.
/// </summary>
/// <remarks>
/// When the binary is missing and the tests run as root, the package is installed with apt-get; otherwise starting
/// fails with the command to run. A missing etcd never skips a test silently.
/// </remarks>
public sealed class EtcdServer : IAsyncDisposable
{
    private readonly string _dataDirectory;
    private readonly StringBuilder _output = new();
    private Process? _process;

    private EtcdServer(string binary, int clientPort, int peerPort)
    {
        Binary = binary;
        ClientPort = clientPort;
        PeerPort = peerPort;
        _dataDirectory = Directory.CreateTempSubdirectory("cc-etcd-").FullName;
    }

    /// <summary>The etcd binary started.</summary>
    public string Binary { get; }

    /// <summary>Client port on 127.0.0.1.</summary>
    public int ClientPort { get; }

    /// <summary>Peer port on 127.0.0.1.</summary>
    public int PeerPort { get; }

    /// <summary>The client URL (<c>http://127.0.0.1:port</c>).</summary>
    public string ClientUrl => $"http://127.0.0.1:{ClientPort}";

    /// <summary>PID of the running etcd, or null while stopped.</summary>
    public int? ProcessId => _process is { HasExited: false } p ? p.Id : null;

    /// <summary>Starts a fresh etcd and waits until it answers its health check.</summary>
    public static async Task<EtcdServer> StartAsync(CancellationToken cancellationToken = default)
    {
        string binary = await ServerBinaries.EnsureInstalledAsync("etcd", "etcd-server", cancellationToken).ConfigureAwait(false);
        var server = new EtcdServer(binary, ServerBinaries.FreePort(), ServerBinaries.FreePort());
        try
        {
            await server.StartProcessAsync(cancellationToken).ConfigureAwait(false);
            return server;
        }
        catch
        {
            await server.DisposeAsync().ConfigureAwait(false);
            throw;
        }
    }

    /// <summary>
    /// Rewrites the value of <paramref name="key"/> in place (its lease kept), as someone with write access to the key
    /// prefix could; answers the value it had.
    /// </summary>
    public async Task<string> RewriteAsync(string key, Func<string, string> rewrite)
    {
        // Through etcd's JSON gateway (keys and values in base64), so every project that links this file can use it.
        using var http = new HttpClient { BaseAddress = new Uri(ClientUrl), Timeout = TimeSpan.FromSeconds(10) };
        string name = Convert.ToBase64String(Encoding.UTF8.GetBytes(key));
        using var range = await http.PostAsync(new Uri("/v3/kv/range", UriKind.Relative),
            new StringContent(JsonSerializer.Serialize(new Dictionary<string, string> { ["key"] = name }))).ConfigureAwait(false);
        range.EnsureSuccessStatusCode();
        using var found = JsonDocument.Parse(await range.Content.ReadAsStringAsync().ConfigureAwait(false));
        if (!found.RootElement.TryGetProperty("kvs", out var kvs) || kvs.GetArrayLength() == 0)
            throw new InvalidOperationException($"etcd has no key {key}.");
        string value = Encoding.UTF8.GetString(Convert.FromBase64String(kvs[0].GetProperty("value").GetString()!));
        var put = new Dictionary<string, object>
        {
            ["key"] = name, ["value"] = Convert.ToBase64String(Encoding.UTF8.GetBytes(rewrite(value))), ["ignore_lease"] = true,
        };
        using var written = await http.PostAsync(new Uri("/v3/kv/put", UriKind.Relative), new StringContent(JsonSerializer.Serialize(put))).ConfigureAwait(false);
        written.EnsureSuccessStatusCode();
        return value;
    }

    /// <summary>Starts etcd again on the same ports and data directory (after <see cref="StopAsync"/>).</summary>
    public Task RestartAsync(CancellationToken cancellationToken = default)
    {
        if (ProcessId is not null) throw new InvalidOperationException("etcd is still running; stop it first.");
        return StartProcessAsync(cancellationToken);
    }

    /// <summary>Kills etcd by PID (SIGKILL) and waits for it to exit. Its data stays for <see cref="RestartAsync"/>.</summary>
    public async Task StopAsync()
    {
        if (_process is not { } process) return;
        _process = null;
        try
        {
            if (!process.HasExited) process.Kill();
            using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(10));
            await process.WaitForExitAsync(timeout.Token).ConfigureAwait(false);
        }
        finally
        {
            process.Dispose();
        }
    }

    /// <summary>Stops etcd and deletes its data directory.</summary>
    public async ValueTask DisposeAsync()
    {
        await StopAsync().ConfigureAwait(false);
        try { Directory.Delete(_dataDirectory, recursive: true); }
        catch (IOException) { /* a leftover temp directory is harmless */ }
    }

    private async Task StartProcessAsync(CancellationToken cancellationToken)
    {
        string peer = $"http://127.0.0.1:{PeerPort}";
        var info = new ProcessStartInfo(Binary)
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        foreach (var arg in new[]
                 {
                     "--name", "cc-test", "--data-dir", _dataDirectory,
                     "--listen-client-urls", ClientUrl, "--advertise-client-urls", ClientUrl,
                     "--listen-peer-urls", peer, "--initial-advertise-peer-urls", peer,
                     "--initial-cluster", $"cc-test={peer}", "--initial-cluster-state", "new",
                     "--log-level", "warn",
                 })
        {
            info.ArgumentList.Add(arg);
        }
        // Settings from the environment (ETCD_*) would override the flags above.
        foreach (var key in info.Environment.Keys.Where(k => k.StartsWith("ETCD", StringComparison.Ordinal)).ToList())
            info.Environment.Remove(key);

        var process = Process.Start(info) ?? throw new InvalidOperationException($"Could not start {Binary}.");
        process.OutputDataReceived += (_, e) => Capture(e.Data);
        process.ErrorDataReceived += (_, e) => Capture(e.Data);
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        _process = process;

        using var http = new HttpClient { Timeout = TimeSpan.FromSeconds(2) };
        var deadline = Stopwatch.StartNew();
        while (deadline.Elapsed < TimeSpan.FromSeconds(30))
        {
            cancellationToken.ThrowIfCancellationRequested();
            if (process.HasExited)
                throw new InvalidOperationException($"etcd exited with code {process.ExitCode} while starting:\n{Output}");
            try
            {
                string health = await http.GetStringAsync($"{ClientUrl}/health", cancellationToken).ConfigureAwait(false);
                if (health.Contains("\"health\":\"true\"", StringComparison.Ordinal)) return;
            }
            catch (Exception e) when (e is HttpRequestException or TaskCanceledException)
            {
                // not listening yet
            }
            await Task.Delay(50, cancellationToken).ConfigureAwait(false);
        }
        throw new TimeoutException($"etcd did not become healthy on {ClientUrl} within 30 s:\n{Output}");
    }

    private string Output
    {
        get { lock (_output) return _output.ToString(); }
    }

    private void Capture(string? line)
    {
        if (line is null) return;
        lock (_output)
        {
            if (_output.Length < 64 * 1024) _output.AppendLine(line);
        }
    }
}
