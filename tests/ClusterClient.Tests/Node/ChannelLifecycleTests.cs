namespace ClusterSharing.Tests.Node;

/// <summary>Channels over their life: disposal, factory failure and retry, an unhosted channel, two channels on one node, single mode.</summary>
public sealed class ChannelLifecycleTests
{
    [Fact]
    public async Task Disposing_twice_is_fine_and_calls_after_disposal_fail_clearly()
    {
        await using var cluster = new TestCluster();
        var (_, leader) = cluster.Start();
        await leader.ReadyAsync();
        var (_, follower) = cluster.Start();
        await follower.ReadyAsync();

        await follower.DisposeAsync();
        await follower.DisposeAsync();
        await Assert.ThrowsAsync<ObjectDisposedException>(() => follower.Client.AddAsync(1, 1));
        await Assert.ThrowsAsync<ObjectDisposedException>(() => follower.ReadyAsync());
        await leader.DisposeAsync();
        await leader.DisposeAsync();
    }

    [Fact]
    public async Task Factory_failure_reaches_every_ReadyAsync_with_its_message_and_is_not_sticky()
    {
        await using var cluster = new TestCluster();
        bool failing = true;
        Func<ICalculator> factory = () => Volatile.Read(ref failing) ? throw new InvalidOperationException("database down (17)") : new Calculator();
        var (_, leader) = cluster.Start(factory, o => o.Role = ClusterRole.Leader);
        var (_, follower) = cluster.Start(factory, o => o.Role = ClusterRole.Follower);

        var atLeader = await Assert.ThrowsAsync<ClusterFactoryException>(() => leader.ReadyAsync());
        var atFollower = await Assert.ThrowsAsync<ClusterFactoryException>(() => follower.ReadyAsync());
        Assert.Contains("database down (17)", atLeader.Message);
        Assert.Contains("database down (17)", atFollower.Message);
        Assert.Equal(atLeader.Message, atFollower.Message);
        // A call fails with the same error rather than waiting out its timeout.
        var callError = await Assert.ThrowsAsync<ClusterFactoryException>(() => follower.Client.AddAsync(1, 2));
        Assert.Contains("database down (17)", callError.Message);

        Volatile.Write(ref failing, false);
        for (int attempt = 0; ; attempt++)
        {
            try
            {
                await follower.ReadyAsync();
                break;
            }
            catch (ClusterClientException) when (attempt < 20)
            {
                // A failure reported before the factory recovered; the next outcome is the recovered one.
            }
        }
        await leader.ReadyAsync();
        Assert.Equal(3, await follower.Client.AddAsync(1, 2));
    }

    [Fact]
    public async Task A_channel_the_leader_does_not_host_fails_after_max_wait_time_with_a_clear_error()
    {
        await using var cluster = new TestCluster();
        var (_, leader) = cluster.Start();
        await leader.ReadyAsync();
        var (_, follower) = cluster.Start(configure: o =>
        {
            o.Name = "orders";
            // Long enough that even a busy CI machine connects and is refused within it; the refusal, not the
            // connection, must be what runs out the wait.
            o.MaxWaitTime = TimeSpan.FromSeconds(4);
        });
        var error = await Assert.ThrowsAsync<ClusterClientException>(() => follower.ReadyAsync());
        Assert.Contains("does not host channel 'orders'", error.Message);
        Assert.Contains("same clients", error.Message);
    }

    [Fact]
    public async Task Two_channels_share_one_node_and_one_connection()
    {
        await using var cluster = new TestCluster();
        var (leaderNode, leader) = cluster.Start();
        var leaderOrders = cluster.OpenAnother(leaderNode, configure: o => o.Name = "orders");
        var (followerNode, follower) = cluster.Start();
        var followerOrders = cluster.OpenAnother(followerNode, configure: o => o.Name = "orders");
        await Task.WhenAll(leader.ReadyAsync(), leaderOrders.ReadyAsync(), follower.ReadyAsync(), followerOrders.ReadyAsync());

        Assert.NotEqual(await follower.Client.WhoAmIAsync(), await followerOrders.Client.WhoAmIAsync());
        Assert.Equal(await leaderOrders.Client.WhoAmIAsync(), await followerOrders.Client.WhoAmIAsync());
        // The count is updated by the leader's session after it answered; wait for it rather than race it.
        await TestCluster.WaitUntilAsync(() => leaderNode.FollowerCount == 1, "the leader to count one follower connection");
        Assert.Equal(1, leaderNode.FollowerCount);
    }

    [Fact]
    public async Task Single_mode_shares_one_real_client_by_reference_count()
    {
        int created = 0;
        var real = new Calculator();
        Func<ICalculator> factory = () => { Interlocked.Increment(ref created); return real; };
        int port = TestCluster.FreePort();
        var first = await ClusterClient.Create(factory, o => { o.Port = port; o.SingleMode = true; }).ReadyAsync();
        var second = await ClusterClient.Create(factory, o => { o.Port = port; o.SingleMode = true; }).ReadyAsync();

        Assert.True(first.IsLeader);
        Assert.True(second.IsLeader);
        Assert.Equal(real.Id, await second.Client.WhoAmIAsync());
        Assert.Equal(1, created);
        // No socket: the port stays free.
        using (var probe = ClusterSharing.Coordination.Local.PortElection.TryListen(port)) Assert.NotNull(probe);

        await first.DisposeAsync();
        Assert.False(real.Disposed);
        await second.DisposeAsync();
        Assert.True(real.Disposed);
    }
}
