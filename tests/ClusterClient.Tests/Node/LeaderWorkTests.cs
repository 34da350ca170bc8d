using ClusterSharing.Tests.Fixtures;

namespace ClusterSharing.Tests.Node;

/// <summary><c>WhenLeader</c>: work that runs only while this process leads, one run at a time.</summary>
public sealed class LeaderWorkTests
{
    /// <summary>Records runs of one work: how many started, how many are running, whether two ever overlapped.</summary>
    private sealed class WorkProbe
    {
        private int _running;
        public int Started;
        public int Cancelled;
        public int Returned;
        public bool Overlapped;
        public Func<CancellationToken, Task>? Body;

        public async Task RunAsync(CancellationToken token)
        {
            Interlocked.Increment(ref Started);
            if (Interlocked.Increment(ref _running) > 1) Overlapped = true;
            try
            {
                if (Body is not null) await Body(token);
                else await Task.Delay(Timeout.Infinite, token);
            }
            catch (OperationCanceledException) when (token.IsCancellationRequested)
            {
                Interlocked.Increment(ref Cancelled);
                throw;
            }
            finally
            {
                Interlocked.Decrement(ref _running);
                Interlocked.Increment(ref Returned);
            }
        }
    }

    [Fact]
    public async Task Work_runs_on_the_leader_only_and_starts_on_the_next_leader_after_the_first_closes()
    {
        await using var cluster = new TestCluster();
        var (leaderNode, leader) = cluster.Start();
        await leader.ReadyAsync();
        var (_, follower) = cluster.Start();
        await follower.ReadyAsync();
        var onLeader = new WorkProbe();
        var onFollower = new WorkProbe();
        leader.WhenLeader(onLeader.RunAsync);
        follower.WhenLeader(onFollower.RunAsync);
        await TestCluster.WaitUntilAsync(() => Volatile.Read(ref onLeader.Started) == 1, "the leader's work to start");
        await Task.Delay(200);
        Assert.Equal(0, Volatile.Read(ref onFollower.Started));

        await leaderNode.DisposeAsync();
        // The node's disposal returned after the work observed its token.
        Assert.Equal(1, Volatile.Read(ref onLeader.Cancelled));
        Assert.Equal(1, Volatile.Read(ref onLeader.Returned));
        await TestCluster.WaitUntilAsync(() => Volatile.Read(ref onFollower.Started) == 1, "the new leader's work to start");
        Assert.True(follower.IsLeader);
        Assert.Equal(1, Volatile.Read(ref onLeader.Started));
    }

    [Fact]
    public async Task Work_starts_at_once_when_registered_on_a_leader_and_disposing_the_registration_cancels_and_awaits_it()
    {
        await using var cluster = new TestCluster();
        var (_, leader) = cluster.Start(configure: o => o.SingleMode = true);
        await leader.ReadyAsync();
        var probe = new WorkProbe();
        var registration = leader.WhenLeader(probe.RunAsync, new LeaderWorkOptions { Name = "probe" });
        Assert.Equal("probe", registration.Name);
        await TestCluster.WaitUntilAsync(() => Volatile.Read(ref probe.Started) == 1, "the work to start");

        await registration.DisposeAsync();
        Assert.Equal(1, probe.Cancelled);
        Assert.Equal(1, probe.Returned);
        await Task.Delay(200);
        Assert.Equal(1, Volatile.Read(ref probe.Started));
        Assert.True(leader.IsLeader);
    }

    [Fact]
    public async Task Several_handles_of_one_node_share_its_leadership_and_disposing_a_handle_stops_its_work_only()
    {
        await using var cluster = new TestCluster();
        var (node, first) = cluster.Start(configure: o => o.SingleMode = true);
        var second = cluster.OpenAnother(node, configure: o => o.SingleMode = true);
        await first.ReadyAsync();
        var a = new WorkProbe();
        var b = new WorkProbe();
        first.WhenLeader(a.RunAsync);
        second.WhenLeader(b.RunAsync);
        await TestCluster.WaitUntilAsync(() => Volatile.Read(ref a.Started) == 1 && Volatile.Read(ref b.Started) == 1, "both works to start");

        await second.DisposeAsync();
        Assert.Equal(1, b.Returned);
        Assert.Equal(0, Volatile.Read(ref a.Returned));
        Assert.Throws<ObjectDisposedException>(() => second.WhenLeader(_ => Task.CompletedTask));
    }

    [Fact]
    public async Task Work_that_throws_is_not_restarted_in_the_same_term_unless_RestartOnFailure_is_set()
    {
        await using var cluster = new TestCluster();
        var (_, leader) = cluster.Start(configure: o => o.SingleMode = true);
        await leader.ReadyAsync();
        var once = new WorkProbe { Body = _ => throw new InvalidOperationException("boom") };
        var again = new WorkProbe { Body = _ => Task.FromException(new InvalidOperationException("boom")) };
        leader.WhenLeader(once.RunAsync);
        leader.WhenLeader(again.RunAsync, new LeaderWorkOptions { RestartOnFailure = true, RestartDelay = TimeSpan.FromMilliseconds(20) });

        await TestCluster.WaitUntilAsync(() => Volatile.Read(ref again.Started) >= 3, "the failing work to be restarted twice");
        Assert.Equal(1, Volatile.Read(ref once.Started));
        Assert.False(again.Overlapped);
    }

    [Fact]
    public async Task Work_that_returns_ends_for_the_term()
    {
        await using var cluster = new TestCluster();
        var (_, leader) = cluster.Start(configure: o => o.SingleMode = true);
        await leader.ReadyAsync();
        var probe = new WorkProbe { Body = _ => Task.CompletedTask };
        leader.WhenLeader(probe.RunAsync, new LeaderWorkOptions { RestartOnFailure = true, RestartDelay = TimeSpan.FromMilliseconds(10) });
        await TestCluster.WaitUntilAsync(() => Volatile.Read(ref probe.Returned) == 1, "the work to return");
        await Task.Delay(200);
        Assert.Equal(1, Volatile.Read(ref probe.Started));
    }

    [Fact]
    public async Task Work_that_ignores_its_token_delays_disposal_by_the_grace_period_only()
    {
        await using var cluster = new TestCluster();
        var (_, leader) = cluster.Start(configure: o => o.SingleMode = true);
        await leader.ReadyAsync();
        using var release = new CancellationTokenSource();
        var probe = new WorkProbe { Body = _ => Task.Delay(Timeout.Infinite, release.Token) };
        var registration = leader.WhenLeader(probe.RunAsync, new LeaderWorkOptions { GracePeriod = TimeSpan.FromMilliseconds(300) });
        await TestCluster.WaitUntilAsync(() => Volatile.Read(ref probe.Started) == 1, "the work to start");

        var disposing = registration.DisposeAsync().AsTask();
        Assert.Same(disposing, await Task.WhenAny(disposing, Task.Delay(TimeSpan.FromSeconds(20))));
        Assert.Equal(0, Volatile.Read(ref probe.Returned));
        release.Cancel();
        await TestCluster.WaitUntilAsync(() => Volatile.Read(ref probe.Returned) == 1, "the work to return once released");
    }

    [Fact]
    public async Task Invalid_options_are_refused_by_name()
    {
        await using var cluster = new TestCluster();
        var (_, leader) = cluster.Start(configure: o => o.SingleMode = true);
        var ex = Assert.Throws<ArgumentOutOfRangeException>(() => leader.WhenLeader(_ => Task.CompletedTask, new LeaderWorkOptions { GracePeriod = TimeSpan.Zero }));
        Assert.Contains("GracePeriod", ex.Message, StringComparison.Ordinal);
        Assert.Throws<ArgumentNullException>(() => leader.WhenLeader(null!));
    }
}
