using System.CommandLine;
using System.CommandLine.Parsing;
using ClusterSharing.Charts;

namespace ClusterSharing.Harness;

/// <summary>The command line: the coordinator's options, and the hidden commands it starts its child processes with.</summary>
internal static class HarnessCommandLine
{
    public static RootCommand Build()
    {
        var full = new HarnessSettings();
        var quickDefaults = HarnessSettings.QuickDefaults;
        var quick = new Option<bool>("--quick")
        {
            Description = FormattableString.Invariant(
                $"A short run: {quickDefaults.SequentialCalls} calls, {quickDefaults.ThroughputSeconds} s throughput, {quickDefaults.Publications} publications, {quickDefaults.Kills} kills, {quickDefaults.CrowdSize} followers for memory."),
        };
        var followers = NumberOption.Create("--followers", full.Followers, "Followers next to the leader (1..64).", 1, 64);
        var kills = NumberOption.Create("--kills", full.Kills, "Leader kills in the failover scenario (--quick: 3).", 0, 10_000);
        var crowd = NumberOption.Create("--crowd", full.CrowdSize, "Lightweight followers for the leader-memory scenario (--quick: 32).", 1, 10_000);
        var calls = NumberOption.Create("--calls", full.SequentialCalls, "Sequential calls per follower (--quick: 2000).", 1, 10_000_000);
        var seconds = new Option<double>("--seconds") { Description = "Throughput window in seconds (--quick: 1).", DefaultValueFactory = _ => full.ThroughputSeconds, HelpName = "S" };
        seconds.Validators.Add(r =>
        {
            if (r.GetValueOrDefault<double>() is not (> 0 and <= 3600)) r.AddError("--seconds must be more than 0 and at most 3600.");
        });
        var noNode = new Option<bool>("--no-node") { Description = "Skip the Node cluster-client comparison." };
        var only = new Option<string[]>("--only")
        {
            Description = "Run only these parts, comma-separated: cc (ClusterClient scenarios), mem (leader memory), raw (raw socket echo floors), node.",
            HelpName = "PARTS",
            DefaultValueFactory = _ => [.. HarnessSettings.AllParts],
            CustomParser = r => [.. r.Tokens.SelectMany(t => t.Value.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))],
        };
        only.Validators.Add(r =>
        {
            foreach (var part in r.GetValueOrDefault<string[]>() ?? [])
                if (!HarnessSettings.AllParts.Contains(part)) r.AddError($"--only: '{part}' is not one of cc, mem, raw, node.");
        });
        var verbose = new Option<bool>("--verbose") { Description = "Log every kill's recovery per follower and the workers' runtime log." };
        var output = new Option<string?>("--out") { Description = "Also write the table (Markdown) to this file.", HelpName = "FILE" };
        var charts = new ChartOptions("invoke latency histogram and CDF, publish latency CDF, failover per kill");

        var root = new RootCommand(
            "Multi-process benchmark of ClusterClient against raw TCP and Unix-socket echo floors and Node cluster-client 3.7.0: " +
            "sequential invoke latency, throughput, publish fan-out, failover after SIGKILL, cold start, leader memory per follower. " +
            "Prints one Markdown table and draws charts.")
        {
            quick, followers, kills, crowd, calls, seconds, noNode, only, verbose, output,
        };
        charts.AddTo(root);
        root.SetAction(async (result, _) =>
        {
            var start = result.GetValue(quick) ? quickDefaults : full;
            T Pick<T>(Option<T> option, T fallback) => result.GetResult(option) is { Implicit: false } ? result.GetValue(option)! : fallback;
            var settings = start with
            {
                Followers = result.GetValue(followers),
                Kills = Pick(kills, start.Kills),
                CrowdSize = Pick(crowd, start.CrowdSize),
                SequentialCalls = Pick(calls, start.SequentialCalls),
                ThroughputSeconds = Pick(seconds, start.ThroughputSeconds),
                Node = !result.GetValue(noNode),
                Parts = new HashSet<string>(result.GetValue(only) ?? [], StringComparer.Ordinal),
                Verbose = result.GetValue(verbose),
                Output = result.GetValue(output),
                ChartsDirectory = charts.DirectoryFrom(result),
            };
            return await Coordinator.RunAsync(settings);
        });

        var port = new Argument<int>("port") { Description = "The cluster's loopback port." };
        var count = new Argument<int>("count") { Description = "How many followers." };
        var transport = new Argument<string>("transport") { Description = "tcp or uds." };
        transport.AcceptOnlyFromAmong("tcp", "uds");
        var address = new Argument<string>("address") { Description = "A port (tcp) or a socket path (uds)." };
        root.Add(Hidden("worker", "A ClusterClient worker, driven over stdin/stdout.", [port], r => Worker.RunAsync(r.GetValue(port))));
        root.Add(Hidden("crowd", "Many lightweight followers in one process, for the leader-memory scenario.", [port, count],
            r => Crowd.RunAsync(r.GetValue(port), r.GetValue(count))));
        root.Add(Hidden("rawserver", "The raw socket echo server.", [transport, address], r => RawEcho.ServeAsync(r.GetValue(transport)!, r.GetValue(address)!)));
        root.Add(Hidden("rawclient", "A raw socket echo client, driven over stdin/stdout.", [transport, address], r => RawEcho.ClientAsync(r.GetValue(transport)!, r.GetValue(address)!)));
        root.Add(EtcdRow.BuildCommand());
        root.Add(RedisRow.BuildCommand());
        root.Add(ColdStartRow.BuildCommand());
        root.Add(KeysRow.BuildCommand());
        root.Add(KeysRow.BuildWorkerCommand());
        return root;
    }

    private static Command Hidden(string name, string description, Argument[] arguments, Func<ParseResult, Task<int>> action)
    {
        var command = new Command(name, description) { Hidden = true };
        foreach (var argument in arguments) command.Add(argument);
        command.SetAction((result, _) => action(result));
        return command;
    }
}
