using System.Net;
using System.Net.Sockets;
using ClusterSharing.Coordination.Local;
using ClusterSharing.Leader;
using ClusterSharing.Protocol;
using ClusterSharing.Transport;

namespace ClusterSharing.Tests.Liveness;

/// <summary>Peers that stay connected but fall silent are declared dead after three heartbeat intervals.</summary>
public sealed class HeartbeatTests
{
    [Fact]
    public async Task A_leader_that_falls_silent_is_lost_and_in_flight_calls_fail_typed()
    {
        int port = TestCluster.FreePort();
        using var listener = PortElection.TryListen(port)!;
        // A leader that answers the handshake, the registration and heartbeats until the first invoke arrives, then
        // never sends anything again: it falls silent mid-call (before that, a busy machine must not see it as silent).
        // It serves every connection the follower opens: on a loaded machine the follower may give up on a slow first
        // handshake (or miss heartbeats) and reconnect before its call is sent.
        var silent = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var connections = new System.Collections.Concurrent.ConcurrentBag<FrameConnection>();
        using var stop = new CancellationTokenSource();
        var fake = Task.Run(async () =>
        {
            for (int accepted = 0; accepted < 50 && !stop.IsCancellationRequested; accepted++)
            {
                Socket socket;
                try { socket = await listener.AcceptAsync(stop.Token); }
                catch (OperationCanceledException) { return; }
                var connection = new FrameConnection(socket);
                connections.Add(connection);
                _ = connection.RunAsync(frame =>
                {
                    if (silent.Task.IsCompleted)
                        return default;
                    if (frame.Type == PacketType.Heartbeat && frame.RequestId != 0)
                        connection.Send(PacketType.HeartbeatResponse, frame.RequestId, new HeartbeatHeader(5, 0));
                    else if (frame.Type == PacketType.Heartbeat)
                        connection.Send(PacketType.Heartbeat, 0, new HeartbeatHeader(5, 0));
                    else if (frame.Type == PacketType.RegisterChannel)
                        connection.Send(PacketType.RegisterChannelResult, frame.RequestId, new RegisterChannelResultHeader(5, 1, true, null));
                    else if (frame.Type == PacketType.Invoke)
                        silent.TrySetResult();
                    return default;
                });
            }
        });

        var options = new ClusterClientOptions
        {
            Port = port,
            SingleMode = false,
            Role = ClusterRole.Follower,
            HeartbeatInterval = TimeSpan.FromMilliseconds(200),
            ResponseTimeout = TimeSpan.FromSeconds(30),
            ConnectTimeout = TimeSpan.FromSeconds(20),
            // The fake leader does not authenticate; this test is about silence.
            Security = ClusterSecurity.Open,
        };
        await using var node = new ClusterSharing.Node.ClusterNode(options);
        var client = ClusterClient<ICalculator>.Open(node, CalculatorContract.Instance, () => new Calculator(), options, ownsNodeReference: false);
        await client.ReadyAsync();
        Assert.Equal(5, client.Epoch);

        var lost = await Assert.ThrowsAsync<LeaderLostException>(() => client.Client.SlowWhoAmIAsync(1));
        Assert.True(lost.RequestSent);
        Assert.Contains("3 heartbeat intervals", lost.InnerException!.Message);
        Assert.True(silent.Task.IsCompleted);
        stop.Cancel();
        await fake.WaitAsync(TimeSpan.FromSeconds(30));
        foreach (var connection in connections) await connection.DisposeAsync();
    }

    [Fact]
    public async Task The_leader_evicts_a_follower_that_falls_silent()
    {
        await using var cluster = new TestCluster();
        // Open: the hand-written follower below does not authenticate; this test is about silence.
        var (leaderNode, leader) = cluster.Start(configure: o => { o.HeartbeatInterval = TimeSpan.FromMilliseconds(200); o.Security = ClusterSecurity.Open; });
        await leader.ReadyAsync();

        // A follower that registers and then never sends again (not even heartbeats).
        await using var silent = await FrameConnection.ConnectAsync(new IPEndPoint(IPAddress.Loopback, cluster.Port));
        var registered = new TaskCompletionSource<bool>(TaskCreationOptions.RunContinuationsAsynchronously);
        var run = silent.RunAsync(frame =>
        {
            if (frame.Type == PacketType.RegisterChannelResult) registered.TrySetResult(frame.ReadHeader<RegisterChannelResultHeader>().Ok);
            return default;
        });
        silent.Send(PacketType.RegisterChannel, 1, new RegisterChannelHeader(0, leader.Name, CalculatorContract.Instance.Fingerprint, 1));
        Assert.True(await registered.Task.WaitAsync(TimeSpan.FromSeconds(20)));
        Assert.Equal(1, leaderNode.FollowerCount);

        var closed = await run.WaitAsync(TimeSpan.FromSeconds(20));
        Assert.NotEqual(ConnectionCloseReason.LocalClose, closed.Reason);
        await TestCluster.WaitUntilAsync(() => leaderNode.FollowerCount == 0, "the leader to drop the silent follower");
        Assert.True(leader.IsLeader);
    }
}
