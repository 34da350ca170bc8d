using System.CommandLine;
using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Security;
using System.Net.Sockets;
using System.Security.Authentication;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using ClusterSharing.EngineTests.Coordination.Etcd;

namespace ClusterSharing.Harness;

/// <summary>
/// The cluster-scope row (<c>Harness etcd</c>): a leader elected on a local etcd and reached over TLS by workers on other
/// loopback addresses ("machines"). Measures a cross-machine invoke against a raw TLS 1.3 echo between the same two
/// addresses in the same run, and failover after a graceful resign and after SIGKILL.
/// </summary>
internal static class EtcdRow
{
    private const int TtlSeconds = 3;

    /// <summary>The cluster engine a row runs on: its command name, how to start a local server, how a worker uses it.</summary>
    internal sealed record Engine(string Name, string Description, Func<Task<(IAsyncDisposable Server, string Address)>> StartAsync,
        Action<ClusterClientOptions, string, TimeSpan> Use);

    private static readonly Engine Etcd = new("etcd",
        "Cluster scope on a local etcd (Debian package etcd-server): cross-machine invoke p50 vs a raw TLS echo, and " +
        "failover with graceful resign and with kill -9, workers on 127.0.0.1/.2/.3.",
        async () => { var etcd = await EtcdServer.StartAsync().ConfigureAwait(false); return (etcd, etcd.ClientUrl); },
        (o, address, ttl) => o.UseEtcd(address, e => { e.ClusterName = "harness"; e.LeaseTtl = ttl; }));
    private static readonly string[] Machines = ["127.0.0.1", "127.0.0.2", "127.0.0.3"];
    private static readonly TimeSpan StartTimeout = TimeSpan.FromSeconds(90);

    public static Command BuildCommand() => BuildCommand(Etcd);

    internal static Command BuildCommand(Engine engine)
    {
        var calls = NumberOption.Create("--calls", 5000, "Sequential calls measured for each latency.", 10, 10_000_000);
        var rounds = NumberOption.Create("--rounds", 3, "Failovers of each kind (graceful resign, SIGKILL).", 1, 100);
        var command = new Command(engine.Name, engine.Description)
        {
            calls, rounds,
        };
        // Not listed in the harness's own help (its usage stays "ClusterClient.Harness [options]"); docs/cluster.md names it.
        command.Hidden = true;
        command.SetAction((r, _) => RunAsync(engine, r.GetValue(calls), r.GetValue(rounds)));

        var address = new Argument<string>("address");
        var port = new Argument<int>("port");
        var etcd = new Argument<string>("etcd");
        var secret = new Argument<string>("secret");
        var fingerprint = new Argument<string>("fingerprint");
        command.Add(Hidden("worker", [address, port, etcd, secret],
            r => WorkerAsync(engine, r.GetValue(address)!, r.GetValue(port), r.GetValue(etcd)!, r.GetValue(secret)!)));
        command.Add(Hidden("tls-server", [address], r => TlsServerAsync(r.GetValue(address)!)));
        command.Add(Hidden("tls-client", [address, port, fingerprint],
            r => TlsClientAsync(r.GetValue(address)!, r.GetValue(port), r.GetValue(fingerprint)!)));
        return command;
    }

    private static Command Hidden(string name, Argument[] arguments, Func<ParseResult, Task<int>> action)
    {
        var command = new Command(name) { Hidden = true };
        foreach (var argument in arguments) command.Add(argument);
        command.SetAction((r, _) => action(r));
        return command;
    }

    private static async Task<int> RunAsync(Engine engine, int calls, int rounds)
    {
        int warmup = Math.Min(calls, 500);
        var (engineServer, store) = await engine.StartAsync().ConfigureAwait(false);
        await using var _ = engineServer;
        string secret = Convert.ToBase64String(RandomNumberGenerator.GetBytes(32));
        int port = LoopbackPort.Free();
        var workers = new Dictionary<string, WorkerProcess>();
        try
        {
            foreach (string machine in Machines)
            {
                // One at a time, so the first machine leads and the second is a follower on another address.
                workers[machine] = await StartWorkerAsync(engine, machine, port, store, secret).ConfigureAwait(false);
            }
            var leader = await LeaderAsync(workers).ConfigureAwait(false);
            var caller = workers.First(w => w.Value != leader.Value);
            var invoke = Latency(await caller.Value.CommandAsync($"seq {calls} {warmup}", TimeSpan.FromMinutes(10)).ConfigureAwait(false));

            await using var server = WorkerProcess.StartThisProgram("tls echo server", [engine.Name, "tls-server", leader.Key]);
            await server.WaitReadyAsync(StartTimeout).ConfigureAwait(false);
            string[] endpoint = (await server.CommandAsync("endpoint").ConfigureAwait(false)).Split(' ');
            await using var client = WorkerProcess.StartThisProgram("tls echo client", [engine.Name, "tls-client", endpoint[0], endpoint[1], endpoint[2]]);
            await client.WaitReadyAsync(StartTimeout).ConfigureAwait(false);
            var echo = Latency(await client.CommandAsync($"seq {calls} {warmup}", TimeSpan.FromMinutes(10)).ConfigureAwait(false));

            var resign = new List<double>();
            var kill = new List<double>();
            var resignStages = new List<Dictionary<string, double>>();
            for (int round = 0; round < rounds; round++)
            {
                var (resignMs, stages) = await FailoverAsync(engine, workers, graceful: true, port, store, secret).ConfigureAwait(false);
                resign.Add(resignMs);
                resignStages.Add(stages);
                kill.Add((await FailoverAsync(engine, workers, graceful: false, port, store, secret).ConfigureAwait(false)).Ms);
            }

            Console.WriteLine($"| cluster scope on {engine.Name} (lease TTL {TtlSeconds} s), {Environment.ProcessorCount} cores, load average {LoadAverage()} | p50 | p99 |");
            Console.WriteLine("|---|---|---|");
            Console.WriteLine($"| invoke, follower on {caller.Key} -> leader on {leader.Key} (TLS 1.3 + secret), {calls} sequential | {invoke.P50:0} µs | {invoke.P99:0} µs |");
            Console.WriteLine($"| raw TLS 1.3 echo {Machines[1]} -> {leader.Key}, 8 bytes, same run | {echo.P50:0} µs | {echo.P99:0} µs |");
            Console.WriteLine($"| invoke / raw TLS echo | {invoke.P50 / echo.P50:0.0}x | {invoke.P99 / echo.P99:0.0}x |");
            Console.WriteLine($"| failover, graceful resign: close to every survivor answered by the new term ({rounds} round(s): {Join(resign)}) | {Median(resign):0} ms | max {resign.Max():0} ms |");
            Console.WriteLine($"| failover, kill -9: kill to every survivor answered by the new term ({rounds} round(s): {Join(kill)}) | {Median(kill):0} ms | max {kill.Max():0} ms |");
            if (resignStages.Any(r => r.Count > 0))
            {
                // The stages are the etcd engine's and the node's log events (FailoverStages); another engine shows the node's only.
                Console.WriteLine();
                Console.WriteLine("| graceful resign, stage (event id) | ms after close, median | per round |");
                Console.WriteLine("|---|---|---|");
                foreach (var (_, id, stage) in FailoverStages.Stages)
                {
                    var times = resignStages.Where(r => r.ContainsKey(stage)).Select(r => r[stage]).ToList();
                    if (times.Count > 0) Console.WriteLine($"| {stage} ({id}) | {Median(times):0.0} | {Join(times, "0.0")} |");
                }
                Console.WriteLine($"| every survivor answered in the new term | {Median(resign):0.0} | {Join(resign, "0.0")} |");
            }
            return 0;
        }
        finally
        {
            await Task.WhenAll(workers.Values.Select(w => w.DisposeAsync().AsTask())).ConfigureAwait(false);
        }
    }

    private static async Task<WorkerProcess> StartWorkerAsync(Engine engine, string address, int port, string store, string secret)
    {
        var worker = WorkerProcess.StartThisProgram($"{engine.Name} worker {address}",
            [engine.Name, "worker", address, port.ToString(CultureInfo.InvariantCulture), store, secret]);
        await worker.WaitReadyAsync(StartTimeout).ConfigureAwait(false);
        return worker;
    }

    private static async Task<KeyValuePair<string, WorkerProcess>> LeaderAsync(Dictionary<string, WorkerProcess> workers)
    {
        foreach (var worker in workers)
            if (await worker.Value.CommandAsync("role").ConfigureAwait(false) == "1") return worker;
        throw new InvalidOperationException("No worker leads.");
    }

    /// <summary>
    /// Ends the leader (resign or SIGKILL), waits until every survivor is answered in a newer term, starts a replacement.
    /// Answers the failover time and when each stage (<see cref="FailoverStages"/>) was first reached, in ms after the end.
    /// </summary>
    private static async Task<(double Ms, Dictionary<string, double> Stages)> FailoverAsync(
        Engine engine, Dictionary<string, WorkerProcess> workers, bool graceful, int port, string store, string secret)
    {
        var (address, leader) = await LeaderAsync(workers).ConfigureAwait(false);
        long epoch = long.Parse(await leader.CommandAsync("epoch").ConfigureAwait(false), CultureInfo.InvariantCulture);
        var survivors = workers.Where(w => w.Key != address).Select(w => w.Value).ToArray();
        foreach (var worker in workers.Values) await worker.CommandAsync("stages").ConfigureAwait(false); // forget earlier events
        long start = MonotonicClock.Nanoseconds();
        Task closing = Task.CompletedTask;
        if (graceful) closing = leader.CommandAsync("close");
        else leader.Kill();
        var answered = await Task.WhenAll(survivors.Select(s => s.CommandAsync($"next-term {epoch}", TimeSpan.FromSeconds(90)))).ConfigureAwait(false);
        double ms = (answered.Max(a => long.Parse(a, CultureInfo.InvariantCulture)) - start) / 1e6;
        await closing.ConfigureAwait(false);
        var reached = new List<string>();
        foreach (var survivor in survivors) reached.Add(await survivor.CommandAsync("stages").ConfigureAwait(false));
        var stages = FailoverStages.Place(graceful ? await leader.CommandAsync("stages").ConfigureAwait(false) : "", [.. reached], start);
        await leader.DisposeAsync().ConfigureAwait(false);
        workers[address] = await StartWorkerAsync(engine, address, port, store, secret).ConfigureAwait(false);
        return (ms, stages);
    }

    private static async Task<int> WorkerAsync(Engine engine, string address, int port, string store, string secret)
    {
        var stages = new FailoverStages();
        var handle = ClusterClient.Create<IEchoClient>(() => new EchoClient(), o =>
        {
            o.Logger = stages;
            engine.Use(o, store, TimeSpan.FromSeconds(TtlSeconds));
            o.UseSecret(secret);
            o.BindAddress = IPAddress.Parse(address);
            o.Port = port;
            o.MaxWaitTime = TimeSpan.FromSeconds(60);
            o.ResponseTimeout = TimeSpan.FromSeconds(10);
        });
        await handle.ReadyAsync().ConfigureAwait(false);
        StdoutLines.WriteLine(LineHost.Invariant($"ready {MonotonicClock.Nanoseconds()} {(handle.IsLeader ? 1 : 0)} {Environment.ProcessId}"));
        await LineHost.RunAsync(async c => c[0] switch
        {
            "role" => handle.IsLeader ? "1" : "0",
            "epoch" => handle.Epoch.ToString(CultureInfo.InvariantCulture),
            "seq" => await SequentialAsync(i => new ValueTask(handle.Client.EchoAsync(i)), Int(c[1]), Int(c[2])).ConfigureAwait(false),
            "next-term" => await NextTermAsync(handle, long.Parse(c[1], CultureInfo.InvariantCulture)).ConfigureAwait(false),
            "close" => await CloseAsync(handle).ConfigureAwait(false),
            "stages" => stages.Drain(),
            _ => throw new ArgumentException($"unknown command '{c[0]}'"),
        }).ConfigureAwait(false);
        await handle.DisposeAsync().ConfigureAwait(false);
        return 0;
    }

    /// <summary>Calls until one succeeds in a term newer than <paramref name="epoch"/>; answers the monotonic time (ns) of that success.</summary>
    private static async Task<string> NextTermAsync(ClusterClient<IEchoClient> handle, long epoch)
    {
        var limit = Stopwatch.StartNew();
        while (limit.Elapsed < TimeSpan.FromSeconds(60))
        {
            try
            {
                await handle.Client.EchoAsync(1).ConfigureAwait(false);
                if (handle.Epoch > epoch) return MonotonicClock.Nanoseconds().ToString(CultureInfo.InvariantCulture);
            }
            catch (ClusterClientException)
            {
                // the call met the dying leader; the next one waits for the new term
            }
            await Task.Delay(1).ConfigureAwait(false);
        }
        throw new TimeoutException($"No call was answered in a term newer than {epoch} within 60 s.");
    }

    private static async Task<string> CloseAsync(ClusterClient<IEchoClient> handle)
    {
        await handle.DisposeAsync().ConfigureAwait(false);
        return "closed";
    }

    private static async Task<int> TlsServerAsync(string address)
    {
        using var certificate = SelfSigned();
        using var listener = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        listener.Bind(new IPEndPoint(IPAddress.Parse(address), 0));
        listener.Listen(16);
        var options = new SslServerAuthenticationOptions { ServerCertificate = certificate, EnabledSslProtocols = SslProtocols.Tls13 };
        _ = Task.Run(async () =>
        {
            // A few clients at most; the process ends when the coordinator closes its stdin.
            for (int accepted = 0; accepted < 64; accepted++)
            {
                var socket = await listener.AcceptAsync().ConfigureAwait(false);
                socket.NoDelay = true;
                _ = Task.Run(async () =>
                {
                    await using var tls = new SslStream(new NetworkStream(socket, ownsSocket: true));
                    await tls.AuthenticateAsServerAsync(options).ConfigureAwait(false);
                    var buffer = new byte[8];
                    while (await ReadExactlyOrEndAsync(tls, buffer).ConfigureAwait(false))
                    {
                        await tls.WriteAsync(buffer).ConfigureAwait(false);
                        await tls.FlushAsync().ConfigureAwait(false);
                    }
                });
            }
        });
        StdoutLines.WriteLine(LineHost.Invariant($"ready {MonotonicClock.Nanoseconds()} 0 {Environment.ProcessId}"));
        int boundPort = ((IPEndPoint)listener.LocalEndPoint!).Port;
        await LineHost.RunAsync(c => Task.FromResult(c[0] == "endpoint"
            ? LineHost.Invariant($"{address} {boundPort} {certificate.GetCertHashString(HashAlgorithmName.SHA256)}")
            : throw new ArgumentException($"unknown command '{c[0]}'"))).ConfigureAwait(false);
        return 0;
    }

    private static async Task<int> TlsClientAsync(string address, int port, string fingerprint)
    {
        using var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
        socket.Bind(new IPEndPoint(IPAddress.Parse(Machines[1]), 0)); // the follower's "machine"
        await socket.ConnectAsync(IPAddress.Parse(address), port).ConfigureAwait(false);
        await using var tls = new SslStream(new NetworkStream(socket, ownsSocket: false));
        await tls.AuthenticateAsClientAsync(new SslClientAuthenticationOptions
        {
            TargetHost = address,
            EnabledSslProtocols = SslProtocols.Tls13,
            // Pinned, as ClusterClient's followers pin the leader's certificate from etcd.
            RemoteCertificateValidationCallback = (_, cert, _, _) =>
                cert is not null && string.Equals(cert.GetCertHashString(HashAlgorithmName.SHA256), fingerprint, StringComparison.OrdinalIgnoreCase),
        }).ConfigureAwait(false);
        var message = new byte[8];
        var reply = new byte[8];
        StdoutLines.WriteLine(LineHost.Invariant($"ready {MonotonicClock.Nanoseconds()} 0 {Environment.ProcessId}"));
        await LineHost.RunAsync(async c => c[0] == "seq"
            ? await SequentialAsync(async i =>
            {
                BitConverter.TryWriteBytes(message, i);
                await tls.WriteAsync(message).ConfigureAwait(false);
                await tls.FlushAsync().ConfigureAwait(false);
                if (!await ReadExactlyOrEndAsync(tls, reply).ConfigureAwait(false)) throw new IOException("The echo server closed the connection.");
            }, Int(c[1]), Int(c[2])).ConfigureAwait(false)
            : throw new ArgumentException($"unknown command '{c[0]}'")).ConfigureAwait(false);
        return 0;
    }

    /// <summary>Times <paramref name="count"/> sequential calls after <paramref name="warmup"/>; answers "p50 p99" in µs.</summary>
    private static async Task<string> SequentialAsync(Func<long, ValueTask> call, int count, int warmup)
    {
        for (int i = 0; i < warmup; i++) await call(i).ConfigureAwait(false);
        var samples = new double[count];
        for (int i = 0; i < count; i++)
        {
            long start = Stopwatch.GetTimestamp();
            await call(i).ConfigureAwait(false);
            samples[i] = Stopwatch.GetElapsedTime(start).TotalMicroseconds;
        }
        Array.Sort(samples);
        return LineHost.Invariant($"{samples[count / 2]:0.0} {samples[Math.Min(count - 1, count * 99 / 100)]:0.0}");
    }

    private static async Task<bool> ReadExactlyOrEndAsync(Stream stream, byte[] buffer)
    {
        int read = await stream.ReadAtLeastAsync(buffer, buffer.Length, throwOnEndOfStream: false).ConfigureAwait(false);
        return read == buffer.Length;
    }

    private static X509Certificate2 SelfSigned()
    {
        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var request = new CertificateRequest("CN=harness-tls-echo", key, HashAlgorithmName.SHA256);
        using var certificate = request.CreateSelfSigned(DateTimeOffset.UtcNow.AddMinutes(-5), DateTimeOffset.UtcNow.AddDays(1));
        // Through PKCS#12 so the private key is usable by SslStream on Linux.
        return X509CertificateLoader.LoadPkcs12(certificate.Export(X509ContentType.Pkcs12), null);
    }

    private static (double P50, double P99) Latency(string reply)
    {
        string[] parts = reply.Trim().Split(' ');
        return (double.Parse(parts[0], CultureInfo.InvariantCulture), double.Parse(parts[1], CultureInfo.InvariantCulture));
    }

    private static double Median(List<double> values)
    {
        var sorted = values.Order().ToArray();
        return sorted[sorted.Length / 2];
    }

    private static string Join(List<double> values, string format = "0") => string.Join(", ", values.Select(v => v.ToString(format, CultureInfo.InvariantCulture)));

    private static string LoadAverage()
    {
        try { return File.ReadAllText("/proc/loadavg").Split(' ')[0]; }
        catch (IOException) { return "?"; }
    }

    private static int Int(string text) => int.Parse(text, CultureInfo.InvariantCulture);
}
