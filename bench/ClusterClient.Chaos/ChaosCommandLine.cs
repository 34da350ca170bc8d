using System.CommandLine;
using ClusterSharing.Charts;

namespace ClusterSharing.Chaos;

/// <summary>The command line: the controller's options, and the hidden <c>worker</c> command it starts its workers with.</summary>
internal static class ChaosCommandLine
{
    public static RootCommand Build()
    {
        var defaults = new ChaosOptions();
        var workerDefaults = new WorkerOptions();
        var port = NumberOption.Create("--port", 0, "Loopback port the workers compete for (0: a free one).", 0, 65535);
        var heartbeat = NumberOption.Create("--heartbeat-ms", defaults.HeartbeatMs, "Heartbeat interval of every worker.", minimum: 1);
        var responseTimeout = NumberOption.Create("--response-timeout-ms", defaults.ResponseTimeoutMs, "Per-call timeout of every worker.", minimum: 1);
        var loops = NumberOption.Create("--loops", defaults.Loops, "Back-to-back invoke loops per worker.", minimum: 0);
        var pace = NumberOption.Create("--pace-ms", defaults.PaceMs, "Pause between two calls of one loop.", minimum: 0);
        var log = new Option<bool>("--log") { Description = "Write the workers' runtime log (Information and above) to stderr." };

        var kills = NumberOption.Create("--kills", defaults.Kills, "Leader kills (rounds) to run.", minimum: 0);
        var followers = NumberOption.Create("--followers", defaults.Followers, "Followers next to the leader.", minimum: 1);
        var seed = NumberOption.Create("--seed", defaults.Seed, "Seed of the random choices (who publishes, delays, hostile frames).", minimum: 0);
        var json = new Option<string?>("--json") { Description = "Also write the JSON report to this file.", HelpName = "PATH" };
        var hostile = new Option<bool>("--hostile") { Description = "Instead of killing leaders: hostile input (random, mutated, oversized frames, a flood of silent connections) against a live leader." };
        var frames = NumberOption.Create("--frames", defaults.Frames, "With --hostile: random and mutated frames to send.", minimum: 0);
        var flood = NumberOption.Create("--flood", defaults.Flood, "With --hostile: silent connections to open at once.", minimum: 0);
        var charts = new Option<string>("--charts")
        {
            Description = "Folder for the PNG charts (failover per kill, failover CDF).",
            HelpName = "DIR",
            DefaultValueFactory = _ => ChartFolder.DefaultDirectory(),
        };
        var noCharts = new Option<bool>("--no-charts") { Description = "Draw no charts." };

        var root = new RootCommand(
            "Chaos run for ClusterClient: 1 leader and N followers under invoke and subscribe load; the leader is SIGKILLed again and again " +
            "(a replacement worker starts after each kill). Prints a line per kill and a JSON report (hung calls, untyped failures, lost values, " +
            "failover times); exit code 0 when the run passed.")
        {
            kills, followers, port, heartbeat, responseTimeout, loops, pace, seed, log, json, hostile, frames, flood, charts, noCharts,
        };
        root.SetAction(async (result, _) =>
        {
            var options = new ChaosOptions
            {
                Kills = result.GetValue(kills),
                Followers = result.GetValue(followers),
                Port = result.GetValue(port) is var p and > 0 ? p : LoopbackPort.Free(),
                HeartbeatMs = result.GetValue(heartbeat),
                ResponseTimeoutMs = result.GetValue(responseTimeout),
                Loops = result.GetValue(loops),
                PaceMs = result.GetValue(pace),
                Seed = result.GetValue(seed),
                Log = result.GetValue(log),
                JsonPath = result.GetValue(json),
                Frames = result.GetValue(frames),
                Flood = result.GetValue(flood),
                ChartsDirectory = result.GetValue(noCharts) ? null : result.GetValue(charts),
            };
            return result.GetValue(hostile) ? await new HostileRun(options).RunAsync() : await new ChaosRun(options).RunAsync();
        });

        var maxWait = NumberOption.Create("--max-wait-ms", workerDefaults.MaxWaitMs, "How long a follower waits for a leader.", minimum: 1);
        var registrationTimeout = NumberOption.Create("--registration-timeout-ms", workerDefaults.RegistrationTimeoutMs, "Registration timeout.", minimum: 1);
        var worker = new Command("worker", "One cluster member, started by the controller: reads commands on stdin, reports JSON lines on stdout.")
        {
            port, heartbeat, responseTimeout, maxWait, registrationTimeout, loops, pace, log,
        };
        worker.Hidden = true;
        worker.SetAction(async (result, _) => await Worker.RunAsync(new WorkerOptions
        {
            Port = result.GetValue(port),
            HeartbeatMs = result.GetValue(heartbeat),
            ResponseTimeoutMs = result.GetValue(responseTimeout),
            MaxWaitMs = result.GetValue(maxWait),
            RegistrationTimeoutMs = result.GetValue(registrationTimeout),
            Loops = result.GetValue(loops),
            PaceMs = result.GetValue(pace),
            Log = result.GetValue(log),
        }));
        root.Add(worker);
        return root;
    }
}
