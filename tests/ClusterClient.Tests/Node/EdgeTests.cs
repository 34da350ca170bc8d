using System.Net;
using System.Net.Sockets;
using System.Text;

namespace ClusterSharing.Tests.Node;

public sealed class EdgeTests
{
    [Theory]
    [InlineData(0, "Port")]
    [InlineData(70000, "Port")]
    public void Create_rejects_a_bad_port_at_once(int port, string name)
    {
        var error = Assert.Throws<ArgumentException>(() => ClusterClient.Create<ICalculator>(() => new Calculator(), o => o.Port = port));
        Assert.Equal(name, error.ParamName);
        Assert.Contains(port.ToString(System.Globalization.CultureInfo.InvariantCulture), error.Message);
    }

    [Fact]
    public void Create_rejects_non_positive_timeouts_naming_the_option()
    {
        var error = Assert.Throws<ArgumentException>(() => ClusterClient.Create<ICalculator>(() => new Calculator(), o => o.MaxWaitTime = TimeSpan.Zero));
        Assert.Equal("MaxWaitTime", error.ParamName);
        error = Assert.Throws<ArgumentException>(() => ClusterClient.Create<ICalculator>(() => new Calculator(), o => o.HeartbeatInterval = TimeSpan.FromSeconds(-1)));
        Assert.Equal("HeartbeatInterval", error.ParamName);
        Assert.Throws<ArgumentNullException>(() => ClusterClient.Create<ICalculator>(null!));
    }

    [Fact]
    public async Task Create_elects_through_the_public_entry_point()
    {
        int port = TestCluster.FreePort();
        await using var client = await ClusterClient.Create<ICalculator>(() => new Calculator(), o =>
        {
            o.Port = port;
            o.SingleMode = false;
        }).ReadyAsync();
        Assert.True(client.IsLeader);
        Assert.Equal(7, await client.Client.AddAsync(3, 4));
    }

    [Fact]
    public async Task A_silent_foreign_listener_gives_a_clear_error_naming_the_port()
    {
        using var foreign = new TcpListener(IPAddress.Loopback, 0);
        foreign.Start();
        int port = ((IPEndPoint)foreign.LocalEndpoint).Port;
        using var accepted = new CancellationTokenSource();
        var accepting = AcceptForeverAsync(foreign, null, accepted.Token);

        await using var cluster = new TestClusterOnPort(port);
        var (_, client) = cluster.Start(configure: o =>
        {
            o.MaxWaitTime = TimeSpan.FromMilliseconds(1500);
            o.ConnectTimeout = TimeSpan.FromMilliseconds(400);
        });
        var error = await Assert.ThrowsAsync<ClusterClientException>(() => client.ReadyAsync());
        Assert.Contains(port.ToString(System.Globalization.CultureInfo.InvariantCulture), error.Message);
        Assert.Contains("does not speak the ClusterClient protocol", error.Message);
        accepted.Cancel();
        await accepting;
    }

    [Fact]
    public async Task A_foreign_listener_writing_garbage_gives_a_clear_error()
    {
        using var foreign = new TcpListener(IPAddress.Loopback, 0);
        foreign.Start();
        int port = ((IPEndPoint)foreign.LocalEndpoint).Port;
        using var accepted = new CancellationTokenSource();
        var accepting = AcceptForeverAsync(foreign, Encoding.ASCII.GetBytes("HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n"), accepted.Token);

        await using var cluster = new TestClusterOnPort(port);
        var (_, client) = cluster.Start(configure: o => o.MaxWaitTime = TimeSpan.FromMilliseconds(1500));
        var error = await Assert.ThrowsAsync<ClusterClientException>(() => client.ReadyAsync());
        Assert.Contains(port.ToString(System.Globalization.CultureInfo.InvariantCulture), error.Message);
        Assert.Contains("version", error.Message);
        accepted.Cancel();
        await accepting;
    }

    private static async Task AcceptForeverAsync(TcpListener listener, byte[]? reply, CancellationToken cancellationToken)
    {
        var sockets = new List<Socket>();
        try
        {
            while (true)
            {
                var socket = await listener.AcceptSocketAsync(cancellationToken);
                sockets.Add(socket);
                if (reply is not null) await socket.SendAsync(reply, cancellationToken);
            }
        }
        catch (OperationCanceledException)
        {
        }
        finally
        {
            foreach (var socket in sockets) socket.Dispose();
        }
    }

    [Fact]
    public async Task Role_follower_without_a_leader_fails_after_max_wait_time()
    {
        await using var cluster = new TestCluster();
        var (_, client) = cluster.Start(configure: o =>
        {
            o.Role = ClusterRole.Follower;
            // Long enough that even a busy CI machine connects and is refused within it; the refusal, not the
            // connection, must be what runs out the wait.
            o.MaxWaitTime = TimeSpan.FromSeconds(4);
        });
        var error = await Assert.ThrowsAsync<ClusterClientException>(() => client.ReadyAsync());
        Assert.Contains("Role is Follower", error.Message);
        Assert.Contains("connection refused", error.Message);
        Assert.False(client.IsLeader);
    }

    [Fact]
    public async Task Role_leader_fails_when_another_process_holds_the_port()
    {
        await using var cluster = new TestCluster();
        var (_, first) = cluster.Start();
        await first.ReadyAsync();
        var (_, second) = cluster.Start(configure: o =>
        {
            o.Role = ClusterRole.Leader;
            // Long enough that even a busy CI machine connects and is refused within it; the refusal, not the
            // connection, must be what runs out the wait.
            o.MaxWaitTime = TimeSpan.FromSeconds(4);
        });
        var error = await Assert.ThrowsAsync<ClusterClientException>(() => second.ReadyAsync());
        Assert.Contains("Role is Leader", error.Message);
    }

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

        var atLeader = await Assert.ThrowsAsync<ClusterClientException>(() => leader.ReadyAsync());
        var atFollower = await Assert.ThrowsAsync<ClusterClientException>(() => follower.ReadyAsync());
        Assert.Contains("database down (17)", atLeader.Message);
        Assert.Contains("database down (17)", atFollower.Message);
        Assert.Equal(atLeader.Message, atFollower.Message);
        // A call fails with the same error rather than waiting out its timeout.
        var callError = await Assert.ThrowsAsync<ClusterClientException>(() => follower.Client.AddAsync(1, 2));
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

    /// <summary>A <see cref="TestCluster"/> on a port somebody else holds.</summary>
    private sealed class TestClusterOnPort(int port) : IAsyncDisposable
    {
        private readonly List<ClusterSharing.Node.ClusterNode> _nodes = new();

        public (ClusterSharing.Node.ClusterNode, ClusterClient<ICalculator>) Start(Action<ClusterClientOptions>? configure = null)
        {
            var options = new ClusterClientOptions { Port = port, SingleMode = false, HeartbeatInterval = TimeSpan.FromMilliseconds(200) };
            configure?.Invoke(options);
            var node = new ClusterSharing.Node.ClusterNode(options);
            _nodes.Add(node);
            return (node, ClusterClient<ICalculator>.Open(node, CalculatorContract.Instance, () => new Calculator(), options, ownsNodeReference: false));
        }

        public async ValueTask DisposeAsync()
        {
            foreach (var node in _nodes) await node.DisposeAsync();
        }
    }
}
