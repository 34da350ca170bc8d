using System.Buffers;
using System.Net;
using System.Net.Sockets;
using ClusterSharing.Protocol;
using ClusterSharing.Tests.Fixtures;
using ClusterSharing.Transport;
using MessagePack;

namespace ClusterSharing.Tests.Node;

/// <summary>
/// A leader that leaves on purpose (disposed, or deposed) says up to which request it ran: the calls it ran still get
/// their replies, the ones it did not run are retried on the next leader, and nothing is reported lost that was not.
/// </summary>
public sealed class GracefulLeaveTests
{
    private static byte[] Int(int value)
    {
        var buffer = new ArrayBufferWriter<byte>();
        var writer = new MessagePackWriter(buffer);
        writer.Write(value);
        writer.Flush();
        return buffer.WrittenMemory.ToArray();
    }

    private static int Sum(in Frame frame)
    {
        var reader = frame.CreateBodyReader();
        int count = reader.ReadArrayHeader();
        int sum = 0;
        for (int i = 0; i < count; i++) sum += reader.NextMessagePackType == MessagePackType.Integer ? reader.ReadInt32() : 0;
        return sum;
    }

    [Fact]
    public async Task A_goodbye_retries_the_calls_the_leader_did_not_run_and_still_delivers_the_replies_of_those_it_ran()
    {
        // A hand-driven leader (open cluster). The first holds two invokes, says goodbye naming only the first as run,
        // then answers that one (after the goodbye) with sum + 100 and closes. The second leader answers with the sum.
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        int port = ((IPEndPoint)listener.LocalEndpoint).Port;
        var firstLeaderInvokes = new List<(long Id, int Sum)>();
        int secondLeaderInvokes = 0;
        var accepted = new List<FrameConnection>();
        var fake = Task.Run(async () =>
        {
            for (int n = 1; n <= 2; n++)
            {
                var connection = new FrameConnection(await listener.AcceptSocketAsync());
                lock (accepted) accepted.Add(connection);
                int index = n;
                _ = connection.RunAsync(frame =>
                {
                    switch (frame.Type)
                    {
                        case PacketType.Heartbeat when frame.RequestId != 0:
                            connection.Send(PacketType.HeartbeatResponse, frame.RequestId, new HeartbeatHeader(index, 0));
                            break;
                        case PacketType.RegisterChannel:
                            connection.Send(PacketType.RegisterChannelResult, frame.RequestId, RegisterChannelResultHeader.Accepted(index, 1));
                            break;
                        case PacketType.Invoke when index == 1:
                            (long Id, int Sum)[] held;
                            lock (firstLeaderInvokes)
                            {
                                firstLeaderInvokes.Add((frame.RequestId, Sum(frame)));
                                if (firstLeaderInvokes.Count < 2) break;
                                held = [.. firstLeaderInvokes];
                            }
                            connection.Send(PacketType.Goodbye, 0, new GoodbyeHeader(index, "leaving", LastDispatched: held[0].Id));
                            connection.Send(PacketType.InvokeResult, held[0].Id, new ResultHeader(index, ResultStatus.Ok), Int(held[0].Sum + 100));
                            _ = connection.CloseAsync("leaving");
                            break;
                        case PacketType.Invoke:
                            Interlocked.Increment(ref secondLeaderInvokes);
                            connection.Send(PacketType.InvokeResult, frame.RequestId, new ResultHeader(index, ResultStatus.Ok), Int(Sum(frame)));
                            break;
                    }
                    return default;
                });
            }
        });

        await using (var cluster = new AuthTests.TestClusterAt(port))
        {
            var (_, follower) = cluster.Start(o =>
            {
                o.Security = ClusterSecurity.Open;
                o.Role = ClusterRole.Follower;
                o.MaxWaitTime = TimeSpan.FromSeconds(20);
            });
            await follower.ReadyAsync();

            var ran = follower.Client.AddAsync(1, 2);
            var deadline = DateTime.UtcNow.AddSeconds(20);
            while (DateTime.UtcNow < deadline)
            {
                lock (firstLeaderInvokes)
                {
                    if (firstLeaderInvokes.Count == 1) break;
                }
                await Task.Delay(10);
            }
            var notRun = follower.Client.AddAsync(5, 5);

            // The call the leader ran: its reply came after the goodbye and still reached the caller.
            Assert.Equal(103, await ran.WaitAsync(TimeSpan.FromSeconds(30)));
            // The call it did not run: retried on the next leader (not reported lost), and run there once.
            Assert.Equal(10, await notRun.WaitAsync(TimeSpan.FromSeconds(30)));
            Assert.Equal(1, Volatile.Read(ref secondLeaderInvokes));
            lock (firstLeaderInvokes) Assert.Equal(2, firstLeaderInvokes.Count);
        }
        listener.Stop();
        await fake.WaitAsync(TimeSpan.FromSeconds(10));
        lock (accepted)
        {
            foreach (var connection in accepted) connection.Abort("test over");
        }
    }

    [Fact]
    public async Task A_disposed_leader_lets_a_running_call_reply_and_the_follower_then_moves_to_the_next_leader()
    {
        await using var cluster = new TestCluster();
        var real = new Calculator();
        var (leaderNode, leader) = cluster.Start(() => real);
        await leader.ReadyAsync();
        Assert.True(leader.IsLeader);
        var (_, follower) = cluster.Start(configure: o => o.Role = ClusterRole.Follower);
        await follower.ReadyAsync();
        Assert.Equal(real.Id, await follower.Client.WhoAmIAsync());

        // Running on the leader when it is disposed: the leader waits for it, and its reply comes after the goodbye.
        var running = follower.Client.SlowWhoAmIAsync(1500);
        var deadline = DateTime.UtcNow.AddSeconds(20);
        while (real.SlowCallsStarted == 0 && DateTime.UtcNow < deadline) await Task.Delay(10);
        Assert.Equal(1, real.SlowCallsStarted);
        var disposing = leaderNode.DisposeAsync().AsTask();

        Assert.Equal(real.Id, await running.WaitAsync(TimeSpan.FromSeconds(30)));
        await disposing.WaitAsync(TimeSpan.FromSeconds(30));

        // A new leader takes over and the follower's calls run there.
        var successorReal = new Calculator();
        var (_, successor) = cluster.Start(() => successorReal);
        await successor.ReadyAsync();
        Assert.Equal(successorReal.Id, await follower.Client.WhoAmIAsync().WaitAsync(TimeSpan.FromSeconds(30)));
    }
}
