using System.Net;
using System.Net.Sockets;
using ClusterSharing.Coordination.Local;

namespace ClusterSharing.Tests.Node;

public sealed class ElectionAndInvokeTests
{
    [Fact]
    public void Port_election_gives_the_port_to_one_listener_only()
    {
        int port = TestCluster.FreePort();
        using var first = PortElection.TryListen(port);
        Assert.NotNull(first);
        using var second = PortElection.TryListen(port);
        Assert.Null(second);
    }

    [Fact]
    public async Task Two_nodes_elect_exactly_one_leader_and_agree_on_the_epoch()
    {
        await using var cluster = new TestCluster();
        var (_, a) = cluster.Start();
        var (_, b) = cluster.Start();
        await Task.WhenAll(a.ReadyAsync(), b.ReadyAsync());

        Assert.True(a.IsLeader ^ b.IsLeader);
        Assert.Equal(1, a.Epoch);
        Assert.Equal(1, b.Epoch);
        Assert.Equal(cluster.Port, a.Port);
        Assert.Equal(typeof(ICalculator).FullName, a.Name);
    }

    [Fact]
    public async Task Follower_invokes_the_leaders_single_real_client()
    {
        await using var cluster = new TestCluster();
        var (_, leader) = cluster.Start();
        await leader.ReadyAsync();
        var (_, follower) = cluster.Start();
        await follower.ReadyAsync();

        Assert.True(leader.IsLeader);
        Assert.False(follower.IsLeader);
        Assert.Equal(5, await follower.Client.AddAsync(2, 3));
        Assert.Equal("héllo ✓", await follower.Client.EchoAsync("héllo ✓"));
        Assert.Null(await follower.Client.EchoAsync(null));
        Assert.Equal(await leader.Client.WhoAmIAsync(), await follower.Client.WhoAmIAsync());
    }

    [Fact]
    public async Task Calls_made_before_ready_wait_for_the_leader()
    {
        await using var cluster = new TestCluster();
        var (_, follower) = cluster.Start(configure: o => o.Role = ClusterRole.Follower);
        var pending = follower.Client.AddAsync(20, 22);
        await Task.Delay(100);
        Assert.False(pending.IsCompleted);
        var (_, leader) = cluster.Start(configure: o => o.Role = ClusterRole.Leader);
        Assert.Equal(42, await pending);
        Assert.True(leader.IsLeader);
    }

    [Fact]
    public async Task Oneway_reaches_the_real_client()
    {
        await using var cluster = new TestCluster();
        var real = new Calculator();
        var (_, leader) = cluster.Start(() => real);
        await leader.ReadyAsync();
        var (_, follower) = cluster.Start();
        await follower.ReadyAsync();

        for (int i = 0; i < 10; i++) follower.Client.Record(i);
        await TestCluster.WaitUntilAsync(() => real.Recorded.Count == 10, "ten oneway calls");
        Assert.Equal(Enumerable.Range(0, 10), real.Recorded);
    }

    [Fact]
    public async Task Leader_exception_reaches_the_follower_with_type_message_and_code()
    {
        await using var cluster = new TestCluster();
        var (_, leader) = cluster.Start();
        await leader.ReadyAsync();
        var (_, follower) = cluster.Start();
        await follower.ReadyAsync();

        var error = await Assert.ThrowsAsync<ClusterRemoteException>(() => follower.Client.FailAsync("boom 42"));
        Assert.Equal(typeof(InvalidOperationException).FullName, error.RemoteType);
        Assert.Equal("boom 42", error.RemoteMessage);
        Assert.Equal("E42", error.Code);
        Assert.Contains("boom 42", error.Message);
        Assert.Null(error.RemoteStackTrace); // RemoteErrorDetail.Message by default: no stack trace crosses the wire
    }

    [Fact]
    public async Task Cancelling_a_follower_call_cancels_the_real_call_on_the_leader()
    {
        await using var cluster = new TestCluster();
        var real = new Calculator();
        var (_, leader) = cluster.Start(() => real);
        await leader.ReadyAsync();
        var (_, follower) = cluster.Start();
        await follower.ReadyAsync();

        using var cts = new CancellationTokenSource();
        var call = follower.Client.WaitForCancellationAsync(7, cts.Token);
        await TestCluster.WaitUntilAsync(() => real.Started.ContainsKey(7), "the leader to start the call");
        Assert.False(call.IsCompleted);
        cts.Cancel();
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => call);
        await TestCluster.WaitUntilAsync(() => real.Cancelled.ContainsKey(7), "the leader to cancel the real call");
    }

    [Fact]
    public async Task A_call_past_its_timeout_fails_on_the_follower_and_is_cancelled_on_the_leader()
    {
        await using var cluster = new TestCluster();
        var real = new Calculator();
        var (_, leader) = cluster.Start(() => real);
        await leader.ReadyAsync();
        // 2 s rather than a few hundred ms: the same timeout also bounds the AddAsync below, which a loaded CI
        // machine (seen: load far above the cores) can take longer than 300 ms to answer.
        var (_, follower) = cluster.Start(configure: o => o.ResponseTimeout = TimeSpan.FromSeconds(2));
        await follower.ReadyAsync();

        var error = await Assert.ThrowsAsync<ClusterTimeoutException>(() => follower.Client.WaitForCancellationAsync(9, CancellationToken.None));
        Assert.Equal("WaitForCancellationAsync", error.Method);
        await TestCluster.WaitUntilAsync(() => real.Cancelled.ContainsKey(9), "the leader to cancel the call past its deadline");
        // The connection is still usable afterwards.
        Assert.Equal(3, await follower.Client.AddAsync(1, 2));
    }

    [Fact]
    public async Task Many_concurrent_follower_calls_all_complete()
    {
        await using var cluster = new TestCluster();
        var (_, leader) = cluster.Start();
        await leader.ReadyAsync();
        var (_, follower) = cluster.Start();
        await follower.ReadyAsync();

        var calls = Enumerable.Range(0, 2000).Select(i => follower.Client.AddAsync(i, 1)).ToArray();
        var results = await Task.WhenAll(calls);
        Assert.Equal(Enumerable.Range(1, 2000), results);
    }

    [Fact]
    public async Task Leader_calls_its_real_client_directly()
    {
        await using var cluster = new TestCluster();
        var real = new Calculator();
        var (_, leader) = cluster.Start(() => real);
        await leader.ReadyAsync();
        Assert.Equal(real.Id, await leader.Client.WhoAmIAsync());
        leader.Client.Record(5);
        Assert.Equal([5], real.Recorded);
    }
}
