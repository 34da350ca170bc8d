using System.Net;
using System.Net.Sockets;
using System.Threading.Channels;
using ClusterSharing.Leader;
using ClusterSharing.Protocol;
using ClusterSharing.Serialization;
using ClusterSharing.Transport;

namespace ClusterSharing.Tests.Leader;

/// <summary>A hand-driven follower connection sends what a real follower never would; the leader answers or drops only it.</summary>
public sealed class MalformedInputTests
{
    private static async Task<(FrameConnection Connection, Channel<(PacketType Type, long RequestId, string Text)> Frames)> ConnectRawAsync(int port)
    {
        var connection = await FrameConnection.ConnectAsync(new IPEndPoint(IPAddress.Loopback, port));
        var frames = Channel.CreateUnbounded<(PacketType, long, string)>();
        _ = connection.RunAsync(frame =>
        {
            string text = frame.Type switch
            {
                PacketType.InvokeResult when frame.ReadHeader<ResultHeader>().Status == ResultStatus.Error => ReadError(frame),
                PacketType.InvokeResult => "ok",
                PacketType.RegisterChannelResult => frame.ReadHeader<RegisterChannelResultHeader>() is var h && h.Ok ? $"channel {h.ChannelId}" : $"refused {h.Error}",
                _ => frame.Type.ToString(),
            };
            frames.Writer.TryWrite((frame.Type, frame.RequestId, text));
            return default;
        }).ContinueWith(_ => frames.Writer.TryComplete(), TaskScheduler.Default);
        return (connection, frames);
    }

    private static string ReadError(Frame frame)
    {
        var reader = frame.CreateBodyReader();
        var error = RemoteError.Read(ref reader);
        return error is ClusterRemoteException remote ? $"error {remote.RemoteType}: {remote.RemoteMessage}" : $"error {error.GetType().FullName}: {error.Message}";
    }

    private static async Task<string> ReplyToAsync(Channel<(PacketType Type, long RequestId, string Text)> frames, long requestId)
    {
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(20));
        while (true)
        {
            var frame = await frames.Reader.ReadAsync(timeout.Token);
            if (frame.RequestId == requestId && frame.Type is PacketType.InvokeResult or PacketType.RegisterChannelResult) return frame.Text;
        }
    }

    [Fact]
    public async Task Unknown_channels_methods_and_undecodable_arguments_get_error_replies_not_a_crash()
    {
        await using var cluster = new TestCluster();
        // Open: the hand-written connection below does not authenticate; this test is about what the leader decodes.
        var (_, leader) = cluster.Start(configure: o => o.Security = ClusterSecurity.Open);
        await leader.ReadyAsync();
        var (connection, frames) = await ConnectRawAsync(cluster.Port);
        await using var _ = connection;

        uint fingerprint = CalculatorContract.Instance.Fingerprint;
        connection.Send(PacketType.RegisterChannel, 1, new RegisterChannelHeader(0, leader.Name, fingerprint, 1));
        Assert.Equal("channel 1", await ReplyToAsync(frames, 1));

        connection.Send(PacketType.Invoke, 2, new CallHeader(1, 99, CalculatorContract.Add.Id), [0x92, 0x01, 0x02]);
        Assert.Contains("channel id 99 is not registered", await ReplyToAsync(frames, 2));

        connection.Send(PacketType.Invoke, 3, new CallHeader(1, 1, 0xdeadbeef), [0x90]);
        Assert.Contains("no method with id 0xdeadbeef", await ReplyToAsync(frames, 3));

        // A string where the argument array should be.
        connection.Send(PacketType.Invoke, 4, new CallHeader(1, 1, CalculatorContract.Add.Id), [0xa1, (byte)'x']);
        Assert.Contains("could not decode the arguments of 'AddAsync'", await ReplyToAsync(frames, 4));

        connection.Send(PacketType.Invoke, 5, new CallHeader(1, 1, CalculatorContract.Add.Id), [0x92, 0x01, 0x02]);
        Assert.Equal("ok", await ReplyToAsync(frames, 5));

        // A member called with the packet of another kind (here a oneway sent as an invoke) is refused, not run.
        connection.Send(PacketType.Invoke, 7, new CallHeader(1, 1, CalculatorContract.Record.Id), [0x91, 0x01]);
        Assert.Contains("is a Oneway member and cannot be called with a Invoke packet", await ReplyToAsync(frames, 7));

        connection.Send(PacketType.RegisterChannel, 6, new RegisterChannelHeader(0, leader.Name, fingerprint ^ 1, 1));
        Assert.Contains("different contract", await ReplyToAsync(frames, 6));
    }

    [Fact]
    public async Task A_protocol_violation_closes_only_that_connection()
    {
        await using var cluster = new TestCluster();
        var (_, leader) = cluster.Start();
        await leader.ReadyAsync();
        var (_, follower) = cluster.Start();
        await follower.ReadyAsync();

        using var raw = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        await raw.ConnectAsync(IPAddress.Loopback, cluster.Port);
        var garbage = new byte[64];
        garbage[0] = 2;                      // our version...
        garbage[2] = 200;                    // ...but no such packet type
        await raw.SendAsync(garbage);
        var buffer = new byte[256];
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(20));
        int read;
        do
        {
            read = await raw.ReceiveAsync(buffer, SocketFlags.None, timeout.Token);
        }
        while (read > 0);                    // the leader closes the connection (EOF)

        // A bad frame header claiming a huge body is refused before anything is allocated for it.
        using var liar = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        await liar.ConnectAsync(IPAddress.Loopback, cluster.Port);
        var header = new byte[FrameHeader.Size];
        header[0] = 2;
        header[2] = (byte)PacketType.Heartbeat;
        System.Buffers.Binary.BinaryPrimitives.WriteInt32BigEndian(header.AsSpan(16), 8);
        System.Buffers.Binary.BinaryPrimitives.WriteInt32BigEndian(header.AsSpan(20), int.MaxValue - 100);
        await liar.SendAsync(header);
        do
        {
            read = await liar.ReceiveAsync(buffer, SocketFlags.None, timeout.Token);
        }
        while (read > 0);

        Assert.Equal(9, await follower.Client.AddAsync(4, 5));
        Assert.True(leader.IsLeader);
    }
}
