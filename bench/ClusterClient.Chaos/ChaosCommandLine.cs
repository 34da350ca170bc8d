using System.CommandLine;
using ClusterSharing.Charts;

namespace ClusterSharing.Chaos;

/// <summary>The command line: the controller's options, and the hidden <c>worker</c> command it starts its workers with.</summary>
internal static class ChaosCommandLine
{
    public static RootCommand Build()
    {
        var defaults = new ChaosOptions();
        var workers = defaults.Workers;
        var port = NumberOption.Create("--port", 0, "Loopback port the workers compete for (0: a free one).", 0, 65535);
        var heartbeat = NumberOption.Create("--heartbeat-ms", workers.HeartbeatMs, "Heartbeat interval of every worker.", minimum: 1);
        var responseTimeout = NumberOption.Create("--response-timeout-ms", workers.ResponseTimeoutMs, "Per-call timeout of every worker.", minimum: 1);
        var loops = NumberOption.Create("--loops", workers.Loops, "Back-to-back invoke loops per worker.", minimum: 0);
        var pace = NumberOption.Create("--pace-ms", workers.PaceMs, "Pause between two calls of one loop.", minimum: 0);
        var orderPace = NumberOption.Create("--order-pace-ms", workers.OrderPaceMs, "Pause between two publications of each worker's ordered stream (0: none).", minimum: 0);
        var open = new Option<bool>("--open") { Description = "No authentication (ClusterSecurity.Open), so hostile frames reach the decoders behind the handshake." };
        var log = new Option<bool>("--log") { Description = "Write the workers' runtime log (Information and above) to stderr." };

        var kills = NumberOption.Create("--kills", defaults.Kills, "Leader kills (rounds) to run.", minimum: 0);
        var followers = NumberOption.Create("--followers", defaults.Followers, "Followers next to the leader.", minimum: 1);
        var seed = NumberOption.Create("--seed", defaults.Seed, "Seed of the random choices (who publishes, delays, hostile frames).", minimum: 0);
        var json = new Option<string?>("--json") { Description = "Also write the JSON report to this file.", HelpName = "PATH" };
        var hostile = new Option<bool>("--hostile") { Description = "Instead of killing leaders: hostile input (random, mutated, oversized frames, a flood of silent connections) against a live leader." };
        var frames = NumberOption.Create("--frames", defaults.Frames, "With --hostile: random and mutated frames to send.", minimum: 0);
        var flood = NumberOption.Create("--flood", defaults.Flood, "With --hostile: silent connections to open at once.", minimum: 0);
        var maxWait = NumberOption.Create("--max-wait-ms", workers.MaxWaitMs, "How long a follower waits for a leader.", minimum: 1);
        var registrationTimeout = NumberOption.Create("--registration-timeout-ms", workers.RegistrationTimeoutMs, "Registration timeout of every worker.", minimum: 1);
        var charts = new ChartOptions("failover per kill, failover CDF");

        var root = new RootCommand(
            "Chaos run for ClusterClient: 1 leader and N followers under invoke and subscribe load; the leader is SIGKILLed again and again " +
            "(a replacement worker starts after each kill). Prints a line per kill and a JSON report (hung calls, untyped failures, lost values, " +
            "failover times); exit code 0 when the run passed.")
        {
            kills, followers, port, heartbeat, responseTimeout, maxWait, registrationTimeout, loops, pace, orderPace, seed, log, json, hostile, frames, flood,
        };
        charts.AddTo(root);
        root.SetAction(async (result, _) =>
        {
            var workers = ReadWorkerOptions(result);
            if (workers.Port == 0) workers.Port = LoopbackPort.Free();
            var options = new ChaosOptions
            {
                Kills = result.GetValue(kills),
                Followers = result.GetValue(followers),
                Seed = result.GetValue(seed),
                JsonPath = result.GetValue(json),
                Frames = result.GetValue(frames),
                Flood = result.GetValue(flood),
                ChartsDirectory = charts.DirectoryFrom(result),
                Workers = workers,
            };
            return result.GetValue(hostile) ? await new HostileRun(options).RunAsync() : await new ChaosRun(options).RunAsync();
        });

        var worker = new Command("worker", "One cluster member, started by the controller: reads commands on stdin, reports JSON lines on stdout.")
        {
            port, heartbeat, responseTimeout, maxWait, registrationTimeout, loops, pace, orderPace, log, open,
        };
        worker.Hidden = true;
        worker.SetAction(async (result, _) => await Worker.RunAsync(ReadWorkerOptions(result)));
        root.Add(worker);
        return root;

        WorkerOptions ReadWorkerOptions(ParseResult result) => new()
        {
            Port = result.GetValue(port),
            HeartbeatMs = result.GetValue(heartbeat),
            ResponseTimeoutMs = result.GetValue(responseTimeout),
            MaxWaitMs = result.GetValue(maxWait),
            RegistrationTimeoutMs = result.GetValue(registrationTimeout),
            Loops = result.GetValue(loops),
            PaceMs = result.GetValue(pace),
            OrderPaceMs = result.GetValue(orderPace),
            Log = result.GetValue(log),
            Open = result.GetValue(open),
        };
    }
}
