using System.Diagnostics;
using System.Net;
using System.Net.Security;
using System.Net.Sockets;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
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

    private RedisServer(string binary, int port, string? password, bool tls)
    {
        Binary = binary;
        Port = port;
        _password = password;
        _directory = Directory.CreateTempSubdirectory("cc-redis-").FullName;
        if (tls) CertificateAuthority = WriteTlsFiles(_directory);
    }

    /// <summary>With TLS: the CA that signed the server's certificate (for 127.0.0.1); null for plain TCP.</summary>
    public X509Certificate2? CertificateAuthority { get; }

    /// <summary>The redis-server binary started.</summary>
    public string Binary { get; }

    /// <summary>Port on 127.0.0.1.</summary>
    public int Port { get; }

    /// <summary><c>127.0.0.1:port</c>, as UseRedis takes it.</summary>
    public string Endpoint => $"127.0.0.1:{Port}";

    /// <summary>PID of the running server, or null while stopped.</summary>
    public int? ProcessId => _process is { HasExited: false } p ? p.Id : null;

    /// <summary>
    /// Starts a fresh Redis (with <c>requirepass</c> when <paramref name="password"/> is set, TLS only when
    /// <paramref name="tls"/>) and waits until it answers PING.
    /// </summary>
    public static async Task<RedisServer> StartAsync(string? password = null, bool tls = false, CancellationToken cancellationToken = default)
    {
        string binary = await ServerBinaries.EnsureInstalledAsync("redis-server", "redis-server", cancellationToken).ConfigureAwait(false);
        var server = new RedisServer(binary, ServerBinaries.FreePort(), password, tls);
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
        string port = Port.ToString(System.Globalization.CultureInfo.InvariantCulture);
        string[] args =
        [
            "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--dir", _directory, "--logfile", LogFile, "--daemonize", "no",
            .. CertificateAuthority is null
                ? new[] { "--port", port }
                : ["--port", "0", "--tls-port", port, "--tls-cert-file", Path.Combine(_directory, "server.crt"),
                   "--tls-key-file", Path.Combine(_directory, "server.key"), "--tls-ca-cert-file", Path.Combine(_directory, "ca.crt"),
                   "--tls-auth-clients", "no"],
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
            Stream stream = client.GetStream();
            if (CertificateAuthority is not null)
            {
                var tls = new SslStream(stream, leaveInnerStreamOpen: false, (_, _, _, _) => true);
                await tls.AuthenticateAsClientAsync(new SslClientAuthenticationOptions { TargetHost = "127.0.0.1" }, timeout.Token).ConfigureAwait(false);
                stream = tls;
            }
            await stream.WriteAsync("PING\r\n"u8.ToArray(), timeout.Token).ConfigureAwait(false);
            var buffer = new byte[64];
            int read = await stream.ReadAsync(buffer, timeout.Token).ConfigureAwait(false);
            string answer = Encoding.ASCII.GetString(buffer, 0, read);
            return answer.StartsWith("+PONG", StringComparison.Ordinal) || answer.StartsWith("-NOAUTH", StringComparison.Ordinal);
        }
        catch (Exception e) when (e is SocketException or IOException or OperationCanceledException or System.Security.Authentication.AuthenticationException)
        {
            return false;
        }
    }

    /// <summary>Writes a CA and a server certificate for 127.0.0.1 it signed (PEM files in <paramref name="directory"/>); returns the CA.</summary>
    private static X509Certificate2 WriteTlsFiles(string directory)
    {
        using var caKey = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var caRequest = new CertificateRequest("CN=cc-test-redis-ca", caKey, HashAlgorithmName.SHA256);
        caRequest.CertificateExtensions.Add(new X509BasicConstraintsExtension(true, false, 0, true));
        caRequest.CertificateExtensions.Add(new X509KeyUsageExtension(X509KeyUsageFlags.KeyCertSign | X509KeyUsageFlags.CrlSign, true));
        using var ca = caRequest.CreateSelfSigned(DateTimeOffset.UtcNow.AddMinutes(-5), DateTimeOffset.UtcNow.AddDays(1));

        using var serverKey = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var serverRequest = new CertificateRequest("CN=127.0.0.1", serverKey, HashAlgorithmName.SHA256);
        var names = new SubjectAlternativeNameBuilder();
        names.AddIpAddress(IPAddress.Loopback);
        serverRequest.CertificateExtensions.Add(names.Build());
        serverRequest.CertificateExtensions.Add(new X509EnhancedKeyUsageExtension([new Oid("1.3.6.1.5.5.7.3.1")], false));
        using var server = serverRequest.Create(ca, DateTimeOffset.UtcNow.AddMinutes(-1), DateTimeOffset.UtcNow.AddHours(12), RandomNumberGenerator.GetBytes(8));

        File.WriteAllText(Path.Combine(directory, "ca.crt"), ca.ExportCertificatePem());
        File.WriteAllText(Path.Combine(directory, "server.crt"), server.ExportCertificatePem());
        File.WriteAllText(Path.Combine(directory, "server.key"), serverKey.ExportPkcs8PrivateKeyPem());
        return X509CertificateLoader.LoadCertificate(ca.RawData);
    }

    private string ReadLog()
    {
        try { return File.Exists(LogFile) ? File.ReadAllText(LogFile) : "(no log)"; }
        catch (IOException e) { return e.Message; }
    }
}
