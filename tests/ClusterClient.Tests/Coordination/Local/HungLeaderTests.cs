using ClusterSharing.Coordination.Local;
using Microsoft.Extensions.Logging.Abstractions;

namespace ClusterSharing.Tests.Coordination.Local;

/// <summary>
/// The leader lease: compare-and-swap takeover, renewal that fails once deposed, release; and a leader node that is
/// deposed (its lease taken over) steps down, disposes its real client and rejoins. The SIGSTOP proof with real
/// processes is in the integration tests (HungLeaderTests).
/// </summary>
public sealed class HungLeaderTests
{
    [Fact]
    public void The_lease_is_taken_by_compare_and_swap_renewed_by_its_holder_and_lost_to_a_takeover()
    {
        string directory = Directory.CreateTempSubdirectory("cc-lease-").FullName;
        try
        {
            using var a = LeaderLease.TryOpen(directory, 4242, NullLogger.Instance)!;
            using var b = LeaderLease.TryOpen(directory, 4242, NullLogger.Instance)!; // as another process would map it
            Assert.NotNull(a);
            Assert.NotNull(b);

            var empty = b.Read();
            Assert.True(empty.IsEmpty);
            Assert.True(a.TryAcquire(empty.Word, out long wordA));
            Assert.False(b.TryAcquire(empty.Word, out _)); // same observation, second CAS loses
            Assert.Equal(LeaseEndpointKind.None, b.Read().Kind); // taken, not yet published
            a.Publish(wordA, holder: 11, LeaseEndpointKind.TcpPort, 5555);

            var seen = b.Read();
            Assert.Equal(1, seen.Epoch);
            Assert.Equal(11, seen.Holder);
            Assert.Equal(Environment.ProcessId, seen.Pid);
            Assert.Equal((LeaseEndpointKind.TcpPort, 5555), (seen.Kind, seen.Value));
            Assert.True(seen.IsLive(TimeSpan.FromSeconds(30)));

            Assert.True(a.TryRenew(ref wordA));
            var current = b.Read();
            Assert.True(b.TryAcquire(current.Word, out long wordB)); // a takeover (as if a was stale)
            Assert.Equal(2, LeaderLease.EpochOf(wordB));
            long before = wordA;
            Assert.False(a.TryRenew(ref wordA)); // the deposed holder learns it on its next renewal
            Assert.Equal(before, wordA);

            b.Release(wordB);
            var released = a.Read();
            Assert.False(released.IsLive(TimeSpan.FromDays(1)));
            Assert.Equal(2, released.Epoch); // the epoch survives the release; the next holder gets 3
            Assert.True(a.TryAcquire(released.Word, out long wordA2));
            Assert.Equal(3, LeaderLease.EpochOf(wordA2));
        }
        finally
        {
            Directory.Delete(directory, recursive: true);
        }
    }

    [Fact]
    public void A_file_that_is_not_a_lease_is_not_used()
    {
        string directory = Directory.CreateTempSubdirectory("cc-lease-").FullName;
        try
        {
            File.WriteAllBytes(Path.Combine(directory, "cc-4243.lease"), Enumerable.Repeat((byte)0x5a, 64).ToArray());
            Assert.Null(LeaderLease.TryOpen(directory, 4243, NullLogger.Instance));
        }
        finally
        {
            Directory.Delete(directory, recursive: true);
        }
    }

    [Fact]
    public async Task A_deposed_leader_steps_down_disposes_its_real_client_and_the_cluster_elects_again()
    {
        await using var cluster = new TestCluster();
        var calculators = new List<Calculator>();
        Func<ICalculator> factory = () =>
        {
            var c = new Calculator();
            lock (calculators) calculators.Add(c);
            return c;
        };
        var (leaderNode, leader) = cluster.Start(factory, o => o.HeartbeatInterval = TimeSpan.FromMilliseconds(200));
        await leader.ReadyAsync();
        var (_, follower) = cluster.Start(factory, o => o.HeartbeatInterval = TimeSpan.FromMilliseconds(200));
        await follower.ReadyAsync();
        Assert.True(leader.IsLeader);
        var firstTerm = leader.LeadershipLost;
        var changes = new List<LeaderChangedEventArgs>();
        leader.LeaderChanged += (_, e) => { lock (changes) changes.Add(e); };

        // Another process takes the lease over (as after the leader was stopped for longer than the lease lasts) and
        // announces the primary endpoint, then vanishes without ever listening.
        using (var lease = LeaderLease.TryOpen(cluster.StateDirectory, cluster.Port, NullLogger.Instance)!)
        {
            // The leader renews concurrently, so a compare-and-swap may lose to it; a few attempts always suffice.
            long stolen = 0;
            for (int attempt = 0; attempt < 1000 && stolen == 0; attempt++)
            {
                var state = lease.Read();
                Assert.Equal(1, state.Epoch);
                if (!lease.TryAcquire(state.Word, out stolen)) stolen = 0;
            }
            Assert.NotEqual(0, stolen);
            lease.Publish(stolen, holder: 77, LeaseEndpointKind.Primary, 0);
        }

        await TestCluster.WaitUntilAsync(() => firstTerm.IsCancellationRequested, "the deposed leader's LeadershipLost to fire");
        await TestCluster.WaitUntilAsync(() => calculators[0].Disposed, "the deposed leader's real client to be disposed");
        // Raised after the real client is disposed and the server closed: waited for, not assumed.
        await TestCluster.WaitUntilAsync(() => { lock (changes) return changes.Exists(e => !e.IsLeader && e.Epoch >= 2); }, "LeaderChanged to report the step-down");

        // The thief never listens: the cluster takes the lease back (endpoint refused) and elects one leader, epoch 3.
        await TestCluster.WaitUntilAsync(() => leader.IsLeader ^ follower.IsLeader && leader.Epoch == 3 && follower.Epoch == 3, "one new leader at epoch 3");
        var newLeader = leader.IsLeader ? leader : follower;
        int id = await newLeader.Client.WhoAmIAsync();
        Assert.Equal(id, await (leader.IsLeader ? follower : leader).Client.WhoAmIAsync());
        Assert.NotEqual(calculators[0].Id, id);
        if (leader.IsLeader) Assert.False(leader.LeadershipLost.IsCancellationRequested); // a fresh token for the new term
        Assert.True(firstTerm.IsCancellationRequested);
        Assert.Equal(leader.IsLeader, leaderNode.IsLeader);
    }

    [Fact]
    public async Task The_fencing_check_fails_at_once_when_the_lease_moved_on_even_before_the_monitor_notices()
    {
        await using var cluster = new TestCluster();
        var (leaderNode, leader) = cluster.Start(configure: o => o.HeartbeatInterval = TimeSpan.FromMilliseconds(200));
        await leader.ReadyAsync();
        Assert.Equal(1, leaderNode.ConfirmedEpoch());

        using var lease = LeaderLease.TryOpen(cluster.StateDirectory, cluster.Port, NullLogger.Instance)!;
        long stolen = 0;
        for (int attempt = 0; attempt < 1000 && stolen == 0; attempt++)
        {
            if (!lease.TryAcquire(lease.Read().Word, out stolen)) stolen = 0;
        }
        Assert.NotEqual(0, stolen);
        // The very next dispatch is refused: the check reads the lease word, it does not wait for the next renewal.
        Assert.Equal(0, leaderNode.ConfirmedEpoch());
        Assert.Null(((ClusterSharing.Node.NodeChannel<ICalculator>)leaderNode.FindChannel(leader.Name)!).LocalTarget);
        await TestCluster.WaitUntilAsync(() => leader.LeadershipLost.IsCancellationRequested, "the deposed leader to step down");
    }
}
