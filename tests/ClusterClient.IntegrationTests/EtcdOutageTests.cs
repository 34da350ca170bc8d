using ClusterSharing.EngineTests.Coordination.Etcd;
using Xunit.Abstractions;

namespace ClusterSharing.IntegrationTests;

/// <summary>
/// etcd itself is killed (SIGKILL) and restarted under a running cluster of three "machines". Every call's executing epoch
/// is logged by the real client with a timestamp of the machine-wide monotonic clock, so terms from different processes
/// can be laid on one time line.
/// </summary>
public sealed class EtcdOutageTests(ITestOutputHelper output)
{
    /// <summary>Longer than the lease TTL: the leader must step down before etcd comes back.</summary>
    private static readonly TimeSpan Outage = TimeSpan.FromSeconds(EtcdMachines.TtlSeconds * 2);

    [Fact]
    public async Task When_etcd_dies_and_returns_no_two_terms_ever_serve_at_once_and_calls_succeed_again()
    {
        await using var etcd = await EtcdServer.StartAsync();
        await using var cluster = new HostCluster(EtcdMachines.Arguments(etcd));
        var (leader, followers) = await EtcdMachines.StartThreeAsync(cluster);
        HostProcess[] machines = [leader, .. followers];
        long firstEpoch = Replies.Value(await leader.RequestAsync("status")).GetProperty("epoch").GetInt64();

        // Every machine keeps calling through the outage: [Idempotent] calls, so a call that finds no leader waits for
        // the next one (bounded by the response timeout) and the real client logs the epoch of the term that ran it.
        using var stop = new CancellationTokenSource();
        var callers = machines.Select(m => KeepCallingAsync(m, stop.Token)).ToArray();
        await Task.Delay(TimeSpan.FromSeconds(2));

        await etcd.StopAsync();
        await leader.WaitForEventAsync("leadership-lost", timeout: TimeSpan.FromSeconds(EtcdMachines.TtlSeconds + 30));
        await Task.Delay(Outage);
        await etcd.RestartAsync();

        // Everyone campaigns again: a term with a higher epoch serves the calls of every machine.
        long newEpoch = 0;
        for (int attempt = 0; attempt < 60 && newEpoch <= firstEpoch; attempt++)
        {
            var reply = await machines[attempt % machines.Length].RequestAsync("slow-idem 0", TimeSpan.FromSeconds(60));
            if (reply.GetProperty("ok").GetBoolean()) newEpoch = LastExecutingEpoch(machines);
            else await Task.Delay(500);
        }
        Assert.True(newEpoch > firstEpoch, $"No new term after etcd returned (first epoch {firstEpoch}).\n{cluster.DescribeAll()}");
        foreach (var m in machines)
            Replies.Value(await m.RequestAsync("slow-idem 0", TimeSpan.FromSeconds(60)));
        await stop.CancelAsync();
        int[] failures = await Task.WhenAll(callers);

        var terms = Terms(machines);
        foreach (var t in terms) output.WriteLine($"epoch {t.Epoch} on pid {t.Pid}: {t.Calls} calls from {t.First:0} ms to {t.Last:0} ms");
        output.WriteLine($"failed calls per machine during the outage: {string.Join(", ", failures)}");
        Assert.True(terms.Count >= 2, $"Expected the calls to span at least two terms.\n{cluster.DescribeAll()}");
        Assert.True(terms.Select(t => t.Epoch).Distinct().Count() == terms.Count, $"One epoch was served by two processes.\n{cluster.DescribeAll()}");
        for (int i = 1; i < terms.Count; i++)
        {
            Assert.True(terms[i - 1].Last < terms[i].First,
                $"Terms overlap: epoch {terms[i - 1].Epoch} (pid {terms[i - 1].Pid}) served until {terms[i - 1].Last:0} ms, " +
                $"epoch {terms[i].Epoch} (pid {terms[i].Pid}) from {terms[i].First:0} ms.\n{cluster.DescribeAll()}");
            Assert.True(terms[i - 1].Epoch < terms[i].Epoch, $"Epochs did not grow: {terms[i - 1].Epoch} then {terms[i].Epoch}.");
        }
        // For the log: when the first leader reported losing its term.
        output.WriteLine($"first leader (epoch {firstEpoch}) lost its term at {leader.Events("leadership-lost")[0].GetProperty("ts").GetDouble():0} ms");
    }

    /// <summary>One call at a time until stopped, bounded in count; returns how many failed.</summary>
    internal static async Task<int> KeepCallingAsync(HostProcess machine, CancellationToken stop)
    {
        int failures = 0;
        for (int i = 0; i < 2000 && !stop.IsCancellationRequested; i++)
        {
            var reply = await machine.RequestAsync("slow-idem 0", TimeSpan.FromSeconds(60));
            if (!reply.GetProperty("ok").GetBoolean())
            {
                failures++;
                await Task.Delay(200, CancellationToken.None);
            }
            else
            {
                await Task.Delay(50, CancellationToken.None);
            }
        }
        return failures;
    }

    internal sealed record Term(long Epoch, int Pid, double First, double Last, int Calls);

    /// <summary>
    /// Each (process, epoch) that executed calls, with its first and last call, ordered by its first call. Epoch 0 is a
    /// call the TestHost ran before ClusterClient.Create returned its handle (it cannot read the epoch yet); these
    /// tests make no call that early.
    /// </summary>
    internal static List<Term> Terms(IEnumerable<HostProcess> machines) =>
        machines.SelectMany(m => m.Events("executing"))
            .Select(e => (Epoch: e.GetProperty("epoch").GetInt64(), Pid: e.GetProperty("pid").GetInt32(), Ts: e.GetProperty("ts").GetDouble()))
            .GroupBy(e => (e.Epoch, e.Pid))
            .Select(g => new Term(g.Key.Epoch, g.Key.Pid, g.Min(e => e.Ts), g.Max(e => e.Ts), g.Count()))
            .OrderBy(t => t.First)
            .ToList();

    internal static long LastExecutingEpoch(IEnumerable<HostProcess> machines) =>
        machines.SelectMany(m => m.Events("executing")).Select(e => e.GetProperty("epoch").GetInt64()).DefaultIfEmpty(0).Max();
}
