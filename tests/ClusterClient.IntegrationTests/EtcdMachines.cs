using System.Globalization;
using System.Text.Json;
using ClusterSharing.EngineTests.Coordination.Etcd;

namespace ClusterSharing.IntegrationTests;

/// <summary>
/// Workers in a cluster scope on one etcd, each bound to its own loopback address as if it were its own machine
/// (127.0.0.1, 127.0.0.2, ...), sharing the cluster secret. Used by the Etcd*Tests.
/// </summary>
internal static class EtcdMachines
{
    /// <summary>Lease TTL of the tests' clusters: the failover bound for a killed leader.</summary>
    public const int TtlSeconds = 3;

    public const string Secret = "cluster secret shared by every machine";

    /// <summary>Three "machines"; a fourth address, <see cref="LateMachine"/>, is kept for late joiners.</summary>
    public static readonly string[] Addresses = ["127.0.0.1", "127.0.0.2", "127.0.0.3"];

    public const string LateMachine = "127.0.0.4";

    /// <summary>Flags every worker of a cluster on <paramref name="etcd"/> gets.</summary>
    public static string[] Arguments(EtcdServer etcd) =>
    [
        "--etcd", etcd.ClientUrl, "--etcd-ttl", TtlSeconds.ToString(CultureInfo.InvariantCulture), "--cluster", "tests",
        "--secret", Secret, "--max-wait-ms", "30000", "--response-timeout-ms", "30000",
    ];

    /// <summary>Starts one worker per address at once and waits until each is ready.</summary>
    public static async Task<(HostProcess Host, JsonElement Ready)[]> StartAsync(HostCluster cluster, IEnumerable<string> addresses)
    {
        var hosts = addresses.Select(a => cluster.Start("--bind", a)).ToArray();
        var ready = await Task.WhenAll(hosts.Select(HostCluster.WaitReadyAsync)).ConfigureAwait(false);
        return hosts.Zip(ready).ToArray();
    }

    /// <summary>Starts the three machines and splits them into the one leader and the followers.</summary>
    public static async Task<(HostProcess Leader, HostProcess[] Followers)> StartThreeAsync(HostCluster cluster)
    {
        var hosts = (await StartAsync(cluster, Addresses).ConfigureAwait(false)).Select(h => h.Host).ToArray();
        var leader = await CurrentLeaderAsync(cluster, hosts).ConfigureAwait(false);
        return (leader, hosts.Where(h => h != leader).ToArray());
    }

    /// <summary>
    /// The machine whose process answers every machine's calls. The "ready" lines alone cannot tell on a loaded machine: a
    /// leader starved past its lease steps down, as it must, and another is elected, so two "ready" lines can both say
    /// leader (seen at load ~30: epochs 2 then 7). Asks every machine until all are answered by one of them; bounded.
    /// </summary>
    public static async Task<HostProcess> CurrentLeaderAsync(HostCluster cluster, IReadOnlyList<HostProcess> hosts)
    {
        string last = "";
        for (int attempt = 0; attempt < 40; attempt++)
        {
            var replies = await Task.WhenAll(hosts.Select(h => h.RequestAsync("pid"))).ConfigureAwait(false);
            var pids = replies.Select(r => r.GetProperty("ok").GetBoolean() ? r.GetProperty("value").GetInt32() : -1).Distinct().ToArray();
            if (pids.Length == 1 && hosts.FirstOrDefault(h => h.Pid == pids[0]) is { } leader) return leader;
            last = string.Join(", ", replies.Select(r => r.GetRawText()));
            await Task.Delay(500).ConfigureAwait(false);
        }
        Assert.Fail($"The machines did not agree on one leader within 40 rounds; last answers: {last}\n{cluster.DescribeAll()}");
        throw new InvalidOperationException("unreachable");
    }

    /// <summary>True for a "value" event of <paramref name="topic"/> carrying <paramref name="value"/>.</summary>
    public static bool IsValue(JsonElement line, string topic, string value) =>
        HostProcess.IsEvent(line, "value") && Replies.Text(line, "topic") == topic && Replies.Text(line, "value") == value;

    /// <summary>The values of <paramref name="topic"/> <paramref name="host"/> received from line <paramref name="from"/>, in order.</summary>
    public static string[] Values(HostProcess host, string topic, int from = 0) =>
        host.Lines.Skip(from).Where(l => HostProcess.IsEvent(l, "value") && Replies.Text(l, "topic") == topic)
            .Select(l => Replies.Text(l, "value")).ToArray();

    /// <summary>
    /// Raises notices until every listener has heard one: a notice raised before a handler reached the leader is
    /// (correctly) missed, so one raise is not enough. Bounded in count and time.
    /// </summary>
    public static async Task RaiseUntilHeardAsync(HostProcess raiser, IReadOnlyList<HostProcess> listeners, HostCluster cluster)
    {
        var from = listeners.ToDictionary(l => l, l => l.LineCount);
        bool everyoneHeard = false;
        for (int attempt = 0; attempt < 50 && !everyoneHeard; attempt++)
        {
            Replies.Value(await raiser.RequestAsync($"raise notice-{attempt}").ConfigureAwait(false));
            await Task.Delay(200).ConfigureAwait(false);
            everyoneHeard = listeners.All(h => h.Lines.Skip(from[h]).Any(l => HostProcess.IsEvent(l, "notice")));
        }
        Assert.True(everyoneHeard, $"Not every machine heard a notice.\n{cluster.DescribeAll()}");
    }
}
