using System.Diagnostics;
using System.Net.Sockets;
using System.Text;

namespace ClusterSharing.EngineTests.Coordination.Redis;

/// <summary>
/// A <c>redis-server</c> (Debian package <c>redis-server</c>) on a free loopback port with persistence off
/// (<c>--save "" --appendonly no</c>) in a temporary directory, stopped by PID. A restart comes back empty, as a Redis
/// without persistence does.
/// </summary>
public sealed class RedisServer : IAsyncDisposable
{
    private readonly string _directory;
    private readonly string? _password;
    private Process? _process;

    private RedisServer(string binary, int port, string? password)
    {
        Binary = binary;
        Port = port;
        _password = password;
        _directory = Directory.CreateTempSubdirectory("cc-redis-").FullName;
    }

    /// <summary>The redis-server binary started.</summary>
    public string Binary { get; }

    /// <summary>Port on 127.0.0.1.</summary>
    public int Port { get; }

    /// <summary><c>127.0.0.1:port</c>, as UseRedis takes it.</summary>
    public string Endpoint => $"127.0.0.1:{Port}";

    /// <summary>PID of the running server, or null while stopped.</summary>
    public int? ProcessId => _process is { HasExited: false } p ? p.Id : null;

    /// <summary>Starts a fresh Redis (with <c>requirepass</c> when <paramref name="password"/> is set) and waits until it answers PING.</summary>
    public static async Task<RedisServer> StartAsync(string? password = null, CancellationToken cancellationToken = default)
    {
        string binary = await ServerBinaries.EnsureInstalledAsync("redis-server", "redis-server", cancellationToken).ConfigureAwait(false);
        var server = new RedisServer(binary, ServerBinaries.FreePort(), password);
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

    /// <summary>Starts Redis again on the same port (after <see cref="StopAsync"/>); it has no keys.</summary>
    public Task RestartAsync(CancellationToken cancellationToken = default)
    {
        if (ProcessId is not null) throw new InvalidOperationException("Redis is still running; stop it first.");
        return StartProcessAsync(cancellationToken);
    }

    /// <summary>Kills Redis by PID (SIGKILL) and waits for it to exit.</summary>
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

    /// <summary>Stops Redis and deletes its directory.</summary>
    public async ValueTask DisposeAsync()
    {
        await StopAsync().ConfigureAwait(false);
        try { Directory.Delete(_directory, recursive: true); }
        catch (IOException) { /* a leftover temp directory is harmless */ }
    }

    private string LogFile => Path.Combine(_directory, "redis.log");

    private async Task StartProcessAsync(CancellationToken cancellationToken)
    {
        var info = new ProcessStartInfo(Binary) { UseShellExecute = false, RedirectStandardOutput = true, RedirectStandardError = true };
        string[] args =
        [
            "--port", Port.ToString(System.Globalization.CultureInfo.InvariantCulture), "--bind", "127.0.0.1",
            "--save", "", "--appendonly", "no", "--dir", _directory, "--logfile", LogFile, "--daemonize", "no",
        ];
        foreach (var arg in args) info.ArgumentList.Add(arg);
        if (_password is not null)
        {
            info.ArgumentList.Add("--requirepass");
            info.ArgumentList.Add(_password);
        }
        var process = Process.Start(info) ?? throw new InvalidOperationException($"Could not start {Binary}.");
        _process = process;
        var deadline = Stopwatch.StartNew();
        while (deadline.Elapsed < TimeSpan.FromSeconds(30))
        {
            cancellationToken.ThrowIfCancellationRequested();
            if (process.HasExited)
                throw new InvalidOperationException($"redis-server exited with code {process.ExitCode} while starting:\n{ReadLog()}");
            if (await AnswersAsync(cancellationToken).ConfigureAwait(false)) return;
            await Task.Delay(50, cancellationToken).ConfigureAwait(false);
        }
        throw new TimeoutException($"redis-server did not answer on {Endpoint} within 30 s:\n{ReadLog()}");
    }

    /// <summary>PING answered (+PONG, or -NOAUTH with a password: the server is up either way).</summary>
    private async Task<bool> AnswersAsync(CancellationToken cancellationToken)
    {
        try
        {
            using var client = new TcpClient();
            using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
            timeout.CancelAfter(TimeSpan.FromSeconds(2));
            await client.ConnectAsync("127.0.0.1", Port, timeout.Token).ConfigureAwait(false);
            var stream = client.GetStream();
            await stream.WriteAsync("PING\r\n"u8.ToArray(), timeout.Token).ConfigureAwait(false);
            var buffer = new byte[64];
            int read = await stream.ReadAsync(buffer, timeout.Token).ConfigureAwait(false);
            string answer = Encoding.ASCII.GetString(buffer, 0, read);
            return answer.StartsWith("+PONG", StringComparison.Ordinal) || answer.StartsWith("-NOAUTH", StringComparison.Ordinal);
        }
        catch (Exception e) when (e is SocketException or IOException or OperationCanceledException)
        {
            return false;
        }
    }

    private string ReadLog()
    {
        try { return File.Exists(LogFile) ? File.ReadAllText(LogFile) : "(no log)"; }
        catch (IOException e) { return e.Message; }
    }
}
