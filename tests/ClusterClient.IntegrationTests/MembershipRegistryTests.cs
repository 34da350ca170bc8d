using System.Diagnostics;
using System.Globalization;
using System.Text.Json;
using ClusterSharing.EngineTests.Coordination.Etcd;
using ClusterSharing.EngineTests.Coordination.Redis;
using Xunit.Abstractions;

namespace ClusterSharing.IntegrationTests;

/// <summary>
/// Members registered in the engine (etcd lease-bound keys, Redis entries with a time to live): worker processes on
/// 127.0.0.x see each other even while nobody leads, a SIGKILLed member disappears everywhere within the lease TTL, and
/// once a leader is elected the views it relays agree with the registry.
/// </summary>
public sealed class MembershipRegistryTests(ITestOutputHelper output)
{
    private const int TtlMs = 3000;

    public static TheoryData<string> Engines => new() { "etcd", "redis" };

    private static async Task<(IAsyncDisposable Server, string[] Arguments)> StartEngineAsync(string engine)
    {
        string[] common = ["--cluster", "tests", "--secret", EtcdMachines.Secret, "--max-wait-ms", "30000", "--response-timeout-ms", "30000", "--ready-timeout-ms", "120000"];
        if (engine == "etcd")
        {
            var etcd = await EtcdServer.StartAsync();
            return (etcd, ["--etcd", etcd.ClientUrl, "--etcd-ttl", (TtlMs / 1000).ToString(CultureInfo.InvariantCulture), .. common]);
        }
        var redis = await RedisServer.StartAsync();
        return (redis, ["--redis", redis.Endpoint, "--redis-ttl-ms", TtlMs.ToString(CultureInfo.InvariantCulture), .. common]);
    }

    internal static async Task<JsonElement[]> ListOf(HostProcess host) => [.. Replies.Value(await host.RequestAsync("member-list")).EnumerateArray()];

    internal static async Task<string> IdOf(HostProcess host) => Replies.Value(await host.RequestAsync("member-id")).GetString()!;

    /// <summary>Polls until every host lists exactly <paramref name="expected"/>, with <paramref name="leader"/> marked leader (null: nobody).</summary>
    internal static async Task WaitViewsAsync(IReadOnlyList<HostProcess> hosts, IReadOnlyCollection<string> expected, string? leader, HostCluster cluster, int timeoutMs = 30_000)
    {
        var watch = Stopwatch.StartNew();
        string last = "";
        while (watch.ElapsedMilliseconds < timeoutMs)
        {
            var lists = await Task.WhenAll(hosts.Select(ListOf));
            if (lists.All(l => l.Select(m => m.GetProperty("id").GetString()!).ToHashSet().SetEquals(expected)
                               && l.Where(m => m.GetProperty("leader").GetBoolean()).Select(m => m.GetProperty("id").GetString()).SequenceEqual(leader is null ? [] : [leader])))
                return;
            last = string.Join("\n", lists.Select(l => string.Join(",", l.Select(m => m.GetRawText()))));
            await Task.Delay(50);
        }
        throw new Xunit.Sdk.XunitException($"The views did not become {expected.Count} members with leader {leader ?? "none"} within {timeoutMs} ms. Last lists:\n{last}\n{cluster.DescribeAll()}");
    }

    [Theory]
    [MemberData(nameof(Engines))]
    public async Task Members_see_each_other_without_a_leader_a_killed_one_goes_within_the_ttl_and_a_leader_then_relays_the_same_view(string engine)
    {
        var (server, arguments) = await StartEngineAsync(engine);
        await using var _ = server;
        await using var cluster = new HostCluster(arguments);
        // Three "machines" that may not lead: nobody is elected, yet the registry shows them to each other.
        var hosts = EtcdMachines.Addresses.Select(a => cluster.Start("--bind", a, "--ineligible", "--masters", "2")).ToList();
        var ids = new Dictionary<HostProcess, string>();
        foreach (var host in hosts) ids[host] = await IdOf(host);
        await WaitViewsAsync(hosts, ids.Values, leader: null, cluster);
        // Nobody eligible: nobody is a master either.
        Assert.All(await ListOf(hosts[0]), m => Assert.False(m.GetProperty("master").GetBoolean()));

        // SIGKILL: no goodbye; its lease (or entry) expires and every other member drops it.
        var victim = hosts[2];
        var others = hosts.Where(h => h != victim).ToList();
        var marks = others.ToDictionary(h => h, h => h.LineCount);
        var killed = Stopwatch.StartNew();
        victim.Kill();
        await Task.WhenAll(others.Select(h => h.WaitForEventAsync("member-removed", l => Replies.Text(l, "member") == ids[victim], from: marks[h], timeout: TimeSpan.FromSeconds(30))));
        double removedMs = killed.Elapsed.TotalMilliseconds;
        output.WriteLine($"{engine}: without a leader, a SIGKILLed member was removed on both other members {removedMs:0} ms after the kill (TTL {TtlMs} ms)");
        // etcd counts TTLs in whole seconds and checks expiry every 500 ms; Redis entries live 3/4 TTL after the last refresh.
        Assert.True(removedMs < TtlMs + 1500 + 2000, $"Removal took {removedMs:0} ms.\n{cluster.DescribeAll()}");
        ids.Remove(victim);

        // An eligible member on a fourth machine leads; the views it relays agree with the registry, and it is a master.
        var leader = cluster.Start("--bind", EtcdMachines.LateMachine, "--masters", "2");
        await HostCluster.WaitReadyAsync(leader);
        ids[leader] = await IdOf(leader);
        HostProcess[] all = [.. others, leader];
        await WaitViewsAsync(all, ids.Values, ids[leader], cluster);
        var masters = (await ListOf(others[0])).Where(m => m.GetProperty("master").GetBoolean()).Select(m => m.GetProperty("id").GetString()!).ToArray();
        Assert.Equal(new[] { ids[leader] }, masters);
    }
}
