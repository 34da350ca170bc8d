using System.Globalization;
using ClusterSharing.Chaos;

// Controller (default): the kill loop. --hostile: hostile input against a live leader. --worker: one cluster member
// (started by the controller; reads commands on stdin, so it ends when the controller does).
try
{
    if (args.Length > 0 && args[0] == "--worker")
        return await Worker.RunAsync(ParseWorker(args));
    var options = ChaosOptions.Parse(args);
    return options.Hostile ? await new HostileRun(options).RunAsync() : await new ChaosRun(options).RunAsync();
}
catch (Exception e) when (e is ArgumentException or FormatException or OverflowException)
{
    Console.Error.WriteLine(e.Message);
    return 2;
}

static WorkerOptions ParseWorker(string[] args)
{
    var o = new WorkerOptions();
    for (int i = 1; i < args.Length; i++)
    {
        string flag = args[i];
        int Number() => int.Parse(args[++i], NumberStyles.Integer, CultureInfo.InvariantCulture);
        switch (flag)
        {
            case "--port": o.Port = Number(); break;
            case "--heartbeat-ms": o.HeartbeatMs = Number(); break;
            case "--response-timeout-ms": o.ResponseTimeoutMs = Number(); break;
            case "--max-wait-ms": o.MaxWaitMs = Number(); break;
            case "--registration-timeout-ms": o.RegistrationTimeoutMs = Number(); break;
            case "--loops": o.Loops = Number(); break;
            case "--pace-ms": o.PaceMs = Number(); break;
            case "--log": o.Log = true; break;
            case "--open": o.Open = true; break;
            default: throw new ArgumentException($"Unknown worker argument '{flag}'.");
        }
    }
    return o;
}
