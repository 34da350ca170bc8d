using System.CommandLine;
using System.Globalization;
using System.Text;

namespace ClusterSharing.Harness;

/// <summary>
/// Cold start to ready (<c>Harness coldstart</c>): a follower process's start → its ReadyAsync, for the harness worker
/// as built (JIT), the same worker published ReadyToRun, and a Node cluster-client 3.7.0 worker, interleaved round by
/// round so every variant meets the same load. Each variant has its own leader; a measured follower is killed at once.
/// </summary>
internal static class ColdStartRow
{
    private static readonly TimeSpan StartTimeout = TimeSpan.FromSeconds(90);

    public static Command BuildCommand()
    {
        var rounds = NumberOption.Create("--rounds", 10, "Cold starts measured per variant.", 1, 1000);
        var noNode = new Option<bool>("--no-node") { Description = "Skip the Node cluster-client variant." };
        var command = new Command("coldstart",
            "Cold start to ready of a follower process: the worker as built (JIT), published ReadyToRun, and Node cluster-client 3.7.0.")
        {
            rounds, noNode,
        };
        command.Hidden = true; // docs/benchmarks.md names it
        command.SetAction((r, _) => RunAsync(r.GetValue(rounds), !r.GetValue(noNode)));
        return command;
    }

    private static async Task<int> RunAsync(int rounds, bool withNode)
    {
        var work = Directory.CreateTempSubdirectory("cc-coldstart-");
        var leaders = new List<WorkerProcess>();
        try
        {
            Coordinator.Log($"coldstart: {rounds} rounds; load before: {Coordinator.Load()}");
            var variants = new List<(Implementation Impl, List<double> Ms)>
            {
                (new Implementation("ClusterClient (JIT)", port => WorkerProcess.StartThisProgram("cc-jit", ["worker", Invariant(port)])), []),
            };
            string? r2r = await PublishReadyToRunAsync(work.FullName).ConfigureAwait(false);
            if (r2r is not null)
            {
                var env = new Dictionary<string, string> { [Worker.LogEnvironmentVariable] = "0" };
                variants.Add((new Implementation("ClusterClient (ReadyToRun)", port => WorkerProcess.Start("cc-r2r", r2r, ["worker", Invariant(port)], env)), []));
            }
            if (withNode)
            {
                var (node, reason) = await Coordinator.FindNodeAsync().ConfigureAwait(false);
                if (node is not null) variants.Add((node with { Name = "Node cluster-client 3.7.0" }, []));
                else Coordinator.Log("node: skipped: " + reason);
            }

            var ports = new List<int>();
            foreach (var (impl, _) in variants)
            {
                int port = LoopbackPort.Free();
                var leader = impl.Start(port);
                leaders.Add(leader);
                await leader.WaitReadyAsync(StartTimeout).ConfigureAwait(false);
                if (!leader.StartedAsLeader) throw new InvalidOperationException($"{impl.Name}: the first worker did not lead (is port {port} in use?)");
                ports.Add(port);
            }
            for (int round = 0; round < rounds; round++)
            {
                for (int v = 0; v < variants.Count; v++)
                {
                    var follower = variants[v].Impl.Start(ports[v]);
                    try
                    {
                        await follower.WaitReadyAsync(StartTimeout).ConfigureAwait(false);
                        variants[v].Ms.Add(follower.ColdStartMs);
                    }
                    finally
                    {
                        follower.Kill();
                        await follower.DisposeAsync().ConfigureAwait(false);
                    }
                }
            }

            var table = new StringBuilder();
            double? nodeP50 = variants.FirstOrDefault(v => v.Impl.Name.StartsWith("Node", StringComparison.Ordinal)).Ms is { Count: > 0 } n ? Median(n) : null;
            table.AppendLine(CultureInfo.InvariantCulture, $"Cold start, follower process start → ready, {rounds} rounds (load after: {Coordinator.Load()})");
            table.AppendLine();
            table.AppendLine("| Variant | p50 (ms) | min | max | p50 vs Node |");
            table.AppendLine("|---|---:|---:|---:|---:|");
            foreach (var (impl, ms) in variants)
            {
                string ratio = nodeP50 is { } np ? (Median(ms) / np).ToString("0.00", CultureInfo.InvariantCulture) + "×" : "";
                table.AppendLine(CultureInfo.InvariantCulture, $"| {impl.Name} | {Median(ms):0} | {ms.Min():0} | {ms.Max():0} | {ratio} |");
            }
            Console.WriteLine(table.ToString());
            return 0;
        }
        finally
        {
            foreach (var leader in leaders) await leader.DisposeAsync().ConfigureAwait(false);
            try
            {
                work.Delete(recursive: true);
            }
            catch (IOException)
            {
                // A worker still closing its files: the temp directory is left behind.
            }
        }
    }

    /// <summary>Publishes this harness ReadyToRun (framework-dependent) and returns its apphost, or null when that fails.</summary>
    private static async Task<string?> PublishReadyToRunAsync(string work)
    {
        string project = Path.Combine(Coordinator.RepoRoot(), "bench", "ClusterClient.Harness", "ClusterClient.Harness.csproj");
        string output = Path.Combine(work, "r2r");
        Coordinator.Log("publishing the worker ReadyToRun (dotnet publish -r linux-x64 -p:PublishReadyToRun=true) ...");
        var outcome = await ProcessCommand.RunToEndAsync(ProcessCommand.ForExecutable("dotnet",
            ["publish", project, "-c", "Release", "-r", "linux-x64", "--self-contained", "false", "-p:PublishReadyToRun=true", "-o", output, "--nologo"]),
            TimeSpan.FromMinutes(10)).ConfigureAwait(false);
        string apphost = Path.Combine(output, "ClusterClient.Harness");
        if (outcome.ExitCode == 0 && File.Exists(apphost)) return apphost;
        Coordinator.Log("ReadyToRun publish failed, variant skipped: " + (outcome.Stdout + outcome.Stderr).ReplaceLineEndings(" | "));
        return null;
    }

    private static double Median(List<double> values)
    {
        var sorted = values.Order().ToList();
        return sorted.Count == 0 ? double.NaN : sorted[(sorted.Count - 1) / 2];
    }

    private static string Invariant(int value) => value.ToString(CultureInfo.InvariantCulture);
}
