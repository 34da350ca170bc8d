using System.Buffers;
using System.Net;
using System.Net.Sockets;
using ClusterSharing.Protocol;
using ClusterSharing.Transport;
using MessagePack;

namespace ClusterSharing.Tests.Node;

/// <summary>Fencing seen from a follower: a call a deposed leader refused unrun runs on the next leader, once.</summary>
public sealed class FencedRetryTests
{
    private static byte[] NotRunError()
    {
        var buffer = new ArrayBufferWriter<byte>();
        var writer = new MessagePackWriter(buffer);
        RemoteError.Write(ref writer, RemoteError.NotRunType, "The call was not run: the leader's term ended.", null, RemoteError.NotRunCode);
        writer.Flush();
        return buffer.WrittenMemory.ToArray();
    }

    [Fact]
    public async Task A_call_a_deposed_leader_refused_unrun_is_retried_on_the_next_leader_and_runs_once()
    {
        // A hand-driven leader (open cluster): on the first connection it refuses the invoke as a deposed leader does
        // (NotRun, goodbye, close); on the second it runs it.
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        int port = ((IPEndPoint)listener.LocalEndpoint).Port;
        byte[] refusal = NotRunError();
        int invokes = 0, connections = 0;
        var accepted = new List<FrameConnection>();
        var fake = Task.Run(async () =>
        {
            for (int n = 1; n <= 2; n++)
            {
                var connection = new FrameConnection(await listener.AcceptSocketAsync());
                lock (accepted) accepted.Add(connection);
                int index = Interlocked.Increment(ref connections);
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
                            Interlocked.Increment(ref invokes);
                            connection.Send(PacketType.InvokeResult, frame.RequestId, new ResultHeader(index, ResultStatus.Error), refusal);
                            connection.Send(PacketType.Goodbye, 0, new GoodbyeHeader(index, "deposed"));
                            _ = connection.CloseAsync("deposed");
                            break;
                        case PacketType.Invoke:
                            Interlocked.Increment(ref invokes);
                            connection.Send(PacketType.InvokeResult, frame.RequestId, new ResultHeader(index, ResultStatus.Ok), [0x03]);
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

            // The fast path (a ready follower, a plain call): the caller sees the second leader's result, not an error.
            Assert.Equal(3, await follower.Client.AddAsync(1, 2).WaitAsync(TimeSpan.FromSeconds(30)));
            Assert.Equal(2, Volatile.Read(ref connections));
            Assert.Equal(2, Volatile.Read(ref invokes));
        }
        listener.Stop();
        await fake.WaitAsync(TimeSpan.FromSeconds(10));
        lock (accepted)
        {
            foreach (var connection in accepted) connection.Abort("test over");
        }
    }
}
