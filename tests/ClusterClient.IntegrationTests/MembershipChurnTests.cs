using System.Diagnostics;
using System.Globalization;
using System.Text.Json;
using ClusterSharing.EngineTests.Coordination.Etcd;
using Xunit.Abstractions;

namespace ClusterSharing.IntegrationTests;

/// <summary>
/// Churn: 50 joins and leaves of real worker processes (graceful closes and SIGKILLs, the leader among them), overlapping,
/// bounded in count and time; afterwards every member that is left has exactly the same view.
/// </summary>
public sealed class MembershipChurnTests(ITestOutputHelper output)
{
    public static TheoryData<string> Scopes => new() { "machine", "etcd" };

    [Theory]
    [MemberData(nameof(Scopes))]
    public async Task Fifty_joins_and_leaves_end_with_identical_views_on_every_member(string scope)
    {
        EtcdServer? etcd = scope == "etcd" ? await EtcdServer.StartAsync() : null;
        await using var etcdLifetime = etcd;
        string[] common = ["--heartbeat-ms", "500", "--max-wait-ms", "60000", "--response-timeout-ms", "30000", "--ready-timeout-ms", "120000"];
        await using var cluster = new HostCluster(etcd is null ? common : [.. EtcdMachines.Arguments(etcd), .. common]);
        int address = 10;
        // On a cluster scope every worker is its own "machine" (its own loopback address).
        HostProcess Start() => etcd is null ? cluster.Start() : cluster.Start("--bind", $"127.0.0.{address++}");

        var stable = new List<HostProcess> { Start() };
        await WaitReadyAsync(stable[0]);
        stable.Add(Start());
        stable.Add(Start());
        await Task.WhenAll(stable.Skip(1).Select(WaitReadyAsync));
        var leader = stable[0];
        bool leaderKilled = false;

        const int joins = 26, wave = 5;
        var random = new Random(1234);
        var watch = Stopwatch.StartNew();
        var churners = new List<HostProcess>();
        int leaves = 0, kills = 0;
        var pending = new List<HostProcess>();
        for (int i = 0; i < joins; i++)
        {
            var joiner = Start();
            churners.Add(joiner);
            pending.Add(joiner);
            if (pending.Count < wave && i < joins - 1) continue;
            // Let the wave get part of the way in (some leave before they joined, some after), then churn it out,
            // except the last three joiners, which stay.
            await Task.Delay(random.Next(500, 2500));
            foreach (var host in pending.Where(h => churners.IndexOf(h) < joins - 3))
            {
                if (leaves % 2 == 0)
                {
                    host.Kill();
                    kills++;
                }
                else
                {
                    await host.StopAsync(TimeSpan.FromSeconds(10));
                }
                leaves++;
            }
            pending.Clear();
            if (i >= joins / 2 && !leaderKilled)
            {
                // Mid-churn, the leader dies too.
                leader.Kill();
                stable.Remove(leader);
                leaves++;
                kills++;
                leaderKilled = true;
            }
            Assert.True(watch.Elapsed < TimeSpan.FromMinutes(8), $"churn took too long ({watch.Elapsed}).\n{cluster.DescribeAll()}");
        }
        Assert.Equal(50, joins + leaves);

        HostProcess[] remaining = [.. stable, .. churners.Skip(joins - 3)];
        await Task.WhenAll(remaining.Select(WaitReadyAsync));
        var ids = new List<string>();
        foreach (var host in remaining) ids.Add(await MembershipRegistryTests.IdOf(host));
        string view = await WaitIdenticalAsync(remaining, ids, cluster);
        output.WriteLine($"{scope}: {joins} joins and {leaves} leaves ({kills} SIGKILLs, the leader among them) in {watch.Elapsed.TotalSeconds:0} s; " +
                         $"then {remaining.Length} members with identical views:\n{view}");
    }

    /// <summary>Waits for "ready" with room for a machine shared with other heavy jobs (starting 26 processes takes a while there).</summary>
    private static Task<JsonElement> WaitReadyAsync(HostProcess host) =>
        host.WaitForEventAsync("ready", timeout: TimeSpan.FromSeconds(150));

    /// <summary>Polls until every host lists exactly <paramref name="ids"/>, one leader, and byte-identical records; returns the view.</summary>
    private static async Task<string> WaitIdenticalAsync(IReadOnlyList<HostProcess> hosts, IReadOnlyCollection<string> ids, HostCluster cluster)
    {
        var watch = Stopwatch.StartNew();
        string[] last = [];
        while (watch.Elapsed < TimeSpan.FromSeconds(90))
        {
            var lists = await Task.WhenAll(hosts.Select(MembershipRegistryTests.ListOf));
            last = [.. lists.Select(l => string.Join("\n", l.Select(m => m.GetRawText())))];
            if (last.Distinct().Count() == 1
                && lists[0].Select(m => m.GetProperty("id").GetString()!).ToHashSet().SetEquals(ids)
                && lists[0].Count(m => m.GetProperty("leader").GetBoolean()) == 1)
                return last[0];
            await Task.Delay(100);
        }
        throw new Xunit.Sdk.XunitException($"The views did not become identical within 90 s:\n{string.Join("\n---\n", last)}\n{cluster.DescribeAll()}");
    }
}
