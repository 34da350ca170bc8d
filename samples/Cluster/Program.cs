using System.Diagnostics;
using System.Globalization;
using System.Security.Cryptography;
using ClusterSharing.Samples.Cluster;

// dotnet run --project samples/Cluster [-- --redis]
// Three "machines" (workers bound to 127.0.0.1, 127.0.0.2 and 127.0.0.3) share one leader elected on a local etcd (or,
// with --redis, a local Redis) and reached over TLS. Each machine invokes the shared client; then the leader is killed
// (SIGKILL) and the new leader, the epochs and the failover time are printed. The same executable is the worker:
// "Cluster worker ADDRESS PORT ENGINE ENGINE_ADDRESS".
CultureInfo.DefaultThreadCurrentCulture = CultureInfo.InvariantCulture;
CultureInfo.CurrentCulture = CultureInfo.InvariantCulture;

if (args is ["worker", var address, var portText, var engineName, var workerEngineAddress])
    return await Worker.RunAsync(address, int.Parse(portText, CultureInfo.InvariantCulture), engineName, workerEngineAddress);
bool onRedis = args is ["--redis"];
if (args.Length > 0 && !onRedis)
{
    Console.WriteLine("Usage: dotnet run --project samples/Cluster [-- --redis]\n" +
                      "Starts a local etcd (or with --redis a local Redis) and three workers on 127.0.0.1, .2 and .3, invokes " +
                      "from each, kills the leader and prints the failover. Needs the etcd binary (Debian/Ubuntu: sudo apt-get " +
                      "install etcd-server) or, with --redis, redis-server (sudo apt-get install redis-server).");
    return args is ["--help"] or ["-h"] ? 0 : 2;
}

string engine = onRedis ? "redis" : "etcd";
string? binary = onRedis ? LocalRedis.FindBinary() : LocalEtcd.FindBinary();
if (binary is null)
{
    string variable = onRedis ? LocalRedis.BinaryVariable : LocalEtcd.BinaryVariable;
    string where = Environment.GetEnvironmentVariable(variable) is { Length: > 0 } chosen
        ? $"at {chosen} ({variable})"
        : "on PATH or in /usr/bin";
    string package = onRedis ? "redis-server" : "etcd-server";
    Console.Error.WriteLine($"This sample needs {(onRedis ? "redis-server" : "etcd")}, which was not found {where}.\n" +
                            $"Install it (Debian/Ubuntu): sudo apt-get update && sudo apt-get install -y {package}\n" +
                            $"or point {variable} at the binary.");
    return 3;
}

// The whole run is bounded; Ctrl+C ends it early and still cleans up.
using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(120));
Console.CancelKeyPress += (_, e) => { e.Cancel = true; timeout.Cancel(); };
string[] addresses = ["127.0.0.1", "127.0.0.2", "127.0.0.3"];
var machines = new List<Machine>();
IAsyncDisposable? server = null;
try
{
    string engineAddress;
    if (onRedis)
    {
        var redis = await LocalRedis.StartAsync(binary, timeout.Token);
        server = redis;
        engineAddress = redis.Endpoint;
        Console.WriteLine($"Redis ({binary}) listens on {engineAddress}");
    }
    else
    {
        var etcd = await LocalEtcd.StartAsync(binary, timeout.Token);
        server = etcd;
        engineAddress = etcd.ClientUrl;
        Console.WriteLine($"etcd ({binary}) listens on {engineAddress}");
    }

    // The cluster secret authenticates both ends on top of TLS; every machine must have the same one.
    string secret = Convert.ToBase64String(RandomNumberGenerator.GetBytes(32));
    int port = LocalEtcd.FreePort();
    machines.AddRange(addresses.Select(a => Machine.Start(a, port, engine, engineAddress, secret)));
    var ready = await Task.WhenAll(machines.Select(m => m.NextAsync(timeout.Token, "ready")));
    foreach (var (machine, words) in machines.Zip(ready))
        Console.WriteLine($"  machine {machine.Address,-10} pid {machine.Pid,-7} ready as {words[1]}");

    Console.WriteLine($"\nEvery machine invokes the one real client (the leader's), over TLS 1.3 pinned from {(onRedis ? "Redis" : "etcd")}:");
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

    Console.WriteLine($"\nKilling the leader (pid {leader.Pid} on {leader.Address}) with SIGKILL: no resign, its {(onRedis ? "Redis key" : "etcd lease")} (3 s) must expire.");
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
                      $"({(onRedis ? "the Redis fencing counter" : "the leader key's etcd create revision")}); failover in {failover.TotalMilliseconds:0} ms " +
                      "(kill to every survivor answered; mostly the 3 s TTL, which a killed leader cannot shorten).");
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
    if (server is not null) await server.DisposeAsync();
}
