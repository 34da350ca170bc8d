using System.Diagnostics;
using System.Globalization;
using System.Security.Cryptography;
using ClusterSharing.Samples.Cluster;

// dotnet run --project samples/Cluster [-- --redis]
// Three "machines" (workers bound to 127.0.0.1, 127.0.0.2 and 127.0.0.3) share one leader elected on a local etcd (or,
// with --redis, a local redis-server) and reached over TLS. Each machine invokes the shared client; then the leader is
// killed (SIGKILL) and the new leader, the epochs and the failover time are printed. The same executable is the
// worker: "Cluster worker ADDRESS PORT ENGINE" (ENGINE: an etcd URL, or redis:HOST:PORT).
CultureInfo.DefaultThreadCurrentCulture = CultureInfo.InvariantCulture;
CultureInfo.CurrentCulture = CultureInfo.InvariantCulture;

if (args is ["worker", var address, var portText, var workerEngine])
    return await Worker.RunAsync(address, int.Parse(portText, CultureInfo.InvariantCulture), workerEngine);
bool useRedis = args is ["--redis"];
if (args.Length > 0 && !useRedis)
{
    Console.WriteLine("Usage: dotnet run --project samples/Cluster [-- --redis]\n" +
                      "Starts a local etcd (with --redis: a local redis-server) and three workers on 127.0.0.1, .2 and .3, invokes " +
                      "from each, kills the leader and prints the failover. Needs the etcd binary (Debian/Ubuntu: sudo apt-get " +
                      "install etcd-server), or with --redis the redis-server binary (sudo apt-get install redis-server).");
    return args is ["--help"] or ["-h"] ? 0 : 2;
}

if (useRedis && LocalRedis.FindBinary() is null)
{
    Console.Error.WriteLine("This sample with --redis needs redis-server, which was not found on PATH or in /usr/bin.\n" +
                            "Install it (Debian/Ubuntu): sudo apt-get update && sudo apt-get install -y redis-server\n" +
                            $"or point {LocalRedis.BinaryVariable} at a redis-server binary.");
    return 3;
}
string? etcdBinary = useRedis ? null : LocalEtcd.FindBinary();
if (!useRedis && etcdBinary is null)
{
    string where = Environment.GetEnvironmentVariable(LocalEtcd.BinaryVariable) is { Length: > 0 } chosen
        ? $"at {chosen} ({LocalEtcd.BinaryVariable})"
        : "on PATH or in /usr/bin";
    Console.Error.WriteLine($"This sample needs etcd, which was not found {where}.\n" +
                            "Install it (Debian/Ubuntu): sudo apt-get update && sudo apt-get install -y etcd-server\n" +
                            $"or point {LocalEtcd.BinaryVariable} at an etcd binary.");
    return 3;
}

// The whole run is bounded; Ctrl+C ends it early and still cleans up.
using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(120));
Console.CancelKeyPress += (_, e) => { e.Cancel = true; timeout.Cancel(); };
string[] addresses = ["127.0.0.1", "127.0.0.2", "127.0.0.3"];
var machines = new List<Machine>();
IAsyncDisposable? engine = null;
string engineUrl, engineName = useRedis ? "Redis" : "etcd";
try
{
    if (useRedis)
    {
        var redis = await LocalRedis.StartAsync(LocalRedis.FindBinary()!, timeout.Token);
        engine = redis;
        engineUrl = "redis:" + redis.Endpoint;
        Console.WriteLine($"redis-server listens on {redis.Endpoint} (persistence off)");
    }
    else
    {
        var etcd = await LocalEtcd.StartAsync(etcdBinary!, timeout.Token);
        engine = etcd;
        engineUrl = etcd.ClientUrl;
        Console.WriteLine($"etcd ({etcdBinary}) listens on {etcd.ClientUrl}");
    }

    // The cluster secret authenticates both ends on top of TLS; every machine must have the same one.
    string secret = Convert.ToBase64String(RandomNumberGenerator.GetBytes(32));
    int port = LocalEtcd.FreePort();
    machines.AddRange(addresses.Select(a => Machine.Start(a, port, engineUrl, secret)));
    var ready = await Task.WhenAll(machines.Select(m => m.NextAsync(timeout.Token, "ready")));
    foreach (var (machine, words) in machines.Zip(ready))
        Console.WriteLine($"  machine {machine.Address,-10} pid {machine.Pid,-7} ready as {words[1]}");

    Console.WriteLine($"\nEvery machine invokes the one real client (the leader's), over TLS 1.3 pinned from {engineName}:");
    var before = new List<string[]>();
    foreach (var machine in machines)
    {
        var answer = await machine.InvokeAsync(timeout.Token);
        before.Add(answer);
        Console.WriteLine(answer[0] == "answer"
            ? $"  {machine.Address} -> answered by pid {answer[1]} on {answer[2]} (epoch {answer[3]}) in {answer[4]} ms"
            : $"  {machine.Address} -> {string.Join(' ', answer)}");
    }
    if (before.Any(a => a[0] != "answer"))
    {
        Console.Error.WriteLine("A call failed before the failover.");
        return 1;
    }
    // Who leads now (a term can end and be won again while the machines start, on a very slow machine).
    var leader = machines.Single(m => m.Pid.ToString(CultureInfo.InvariantCulture) == before[^1][1]);
    string oldEpoch = before[^1][3];

    Console.WriteLine($"\nKilling the leader (pid {leader.Pid} on {leader.Address}) with SIGKILL: no resign, its {engineName} lease (3 s) must expire.");
    var survivors = machines.Where(m => m != leader).ToArray();
    var clock = Stopwatch.StartNew();
    leader.Kill();
    await leader.WaitForExitAsync(timeout.Token);
    // The method is [Idempotent]: a call made while there is no leader waits for the next one.
    var answers = await Task.WhenAll(survivors.Select(m => m.InvokeAsync(timeout.Token)));
    var failover = clock.Elapsed;
    foreach (var (machine, answer) in survivors.Zip(answers))
    {
        Console.WriteLine(answer[0] == "answer"
            ? $"  {machine.Address} -> answered by pid {answer[1]} on {answer[2]} (epoch {answer[3]})"
            : $"  {machine.Address} -> {string.Join(' ', answer)}");
    }
    if (answers.Any(a => a[0] != "answer"))
    {
        Console.Error.WriteLine("A call failed after the failover.");
        return 1;
    }
    var newLeader = survivors.Single(m => m.Pid.ToString(CultureInfo.InvariantCulture) == answers[0][1]);
    Console.WriteLine($"\nNew leader: pid {newLeader.Pid} on {newLeader.Address}; epoch {oldEpoch} -> {answers[0][3]} " +
                      (useRedis ? "(from the Redis fencing counter)" : "(the leader key's etcd create revision)") + $"; failover in {failover.TotalMilliseconds:0} ms " +
                      "(kill to every survivor answered; mostly the 3 s lease TTL, which a killed leader cannot shorten).");
    return 0;
}
catch (OperationCanceledException) when (timeout.IsCancellationRequested)
{
    Console.Error.WriteLine("The sample did not finish within 120 s (or was interrupted); stopping everything.");
    return 1;
}
catch (InvalidOperationException e)
{
    Console.Error.WriteLine(e.Message);
    return 1;
}
finally
{
    await Task.WhenAll(machines.Select(m => m.DisposeAsync().AsTask()));
    if (engine is not null) await engine.DisposeAsync();
}
