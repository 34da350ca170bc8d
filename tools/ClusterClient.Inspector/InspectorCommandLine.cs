using System.CommandLine;

namespace ClusterSharing.Inspector;

/// <summary>The command line: <c>cluster-client status</c> and its options.</summary>
internal static class InspectorCommandLine
{
    public static RootCommand Build()
    {
        var port = new Option<int>("--port")
        {
            Description = $"The port the cluster's processes share (default: {ClusterClientOptions.PortEnvironmentVariable} or {ClusterClientOptions.DefaultPort}).",
            DefaultValueFactory = _ => new ClusterClientOptions().Port,
        };
        port.Validators.Add(result =>
        {
            int value = result.GetValueOrDefault<int>();
            if (value is < 1 or > 65535) result.AddError($"--port must be between 1 and 65535 (was {value}).");
        });
        var socket = new Option<string?>("--socket") { Description = "The cluster uses a Unix socket at this path (Transport UnixSocket).", HelpName = "PATH" };
        var stateDirectory = new Option<string?>("--state-dir") { Description = "The state directory the members use (lease file, per-user secret); default: theirs.", HelpName = "DIR" };
        var etcd = new Option<string?>("--etcd") { Description = "Cluster scope: the etcd endpoints the members use (comma-separated).", HelpName = "URLS" };
        var cluster = new Option<string?>("--cluster") { Description = "Cluster scope: the cluster name on etcd (default: default).", HelpName = "NAME" };
        var sample = new Option<int>("--sample-ms")
        {
            Description = "Read the leader twice this far apart to compute calls per second; 0 reads once (no rates).",
            DefaultValueFactory = _ => 1000,
        };
        sample.Validators.Add(result =>
        {
            int value = result.GetValueOrDefault<int>();
            if (value is < 0 or > 60_000) result.AddError($"--sample-ms must be between 0 and 60000 (was {value}).");
        });
        var timeout = new Option<int>("--timeout-ms")
        {
            Description = "How long to wait for the leader to answer (connect and each read).",
            DefaultValueFactory = _ => 5000,
        };
        timeout.Validators.Add(result =>
        {
            int value = result.GetValueOrDefault<int>();
            if (value is < 1 or > 600_000) result.AddError($"--timeout-ms must be between 1 and 600000 (was {value}).");
        });
        var json = new Option<bool>("--json") { Description = "Print one JSON object instead of tables." };

        var status = new Command("status",
            "Prints who leads the port, the epoch and when the leader took over, its followers (pid, uid, address, calls/s, in-flight), " +
            "its channels and its subscriptions per key. Needs the same secret as a member: the per-user secret file by default, or " +
            $"{ClusterClientOptions.SecretEnvironmentVariable}. Exit code 0 when the leader answered, 1 otherwise.")
        {
            port, socket, stateDirectory, etcd, cluster, sample, timeout, json,
        };
        status.SetAction(async (result, cancellationToken) =>
        {
            var options = new ClusterClientOptions
            {
                Port = result.GetValue(port),
                StateDirectory = result.GetValue(stateDirectory),
                ConnectTimeout = TimeSpan.FromMilliseconds(result.GetValue(timeout)),
                ResponseTimeout = TimeSpan.FromMilliseconds(result.GetValue(timeout)),
                SingleMode = false,
            };
            if (result.GetValue(socket) is { } path)
            {
                options.Transport = ClusterTransport.UnixSocket;
                options.SocketPath = path;
            }
            if (result.GetValue(etcd) is { } endpoints)
                options.UseEtcd(endpoints, e => e.ClusterName = result.GetValue(cluster) ?? e.ClusterName);
            return await StatusCommand.RunAsync(options, TimeSpan.FromMilliseconds(result.GetValue(sample)), result.GetValue(json), cancellationToken);
        });

        return new RootCommand("cluster-client: inspect a running ClusterClient cluster.") { status };
    }
}
