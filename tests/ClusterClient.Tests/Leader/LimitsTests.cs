using System.Buffers;
using System.Net;
using System.Net.Sockets;
using System.Threading.Channels;
using ClusterSharing.Leader;
using ClusterSharing.Protocol;
using ClusterSharing.Serialization;
using MessagePack;
using ClusterSharing.Transport;

namespace ClusterSharing.Tests.Leader;

/// <summary>
/// The leader's per-follower limits (in-flight calls, subscriptions), its follower count limit and the registration
/// timeout: each is validated, enforced with a reason the peer or the log can read, and released when the load goes.
/// </summary>
public sealed class LimitsTests
{
    private static readonly TimeSpan Wait = TimeSpan.FromSeconds(20);

    [Theory]
    [InlineData(nameof(ClusterClientOptions.MaxFollowers), 0)]
    [InlineData(nameof(ClusterClientOptions.MaxFollowers), 70_000)]
    [InlineData(nameof(ClusterClientOptions.MaxInflightCallsPerFollower), 0)]
    [InlineData(nameof(ClusterClientOptions.MaxInflightCallsPerFollower), 2_000_000)]
    [InlineData(nameof(ClusterClientOptions.MaxSubscriptionsPerFollower), -1)]
    public void Out_of_range_limits_are_rejected_naming_the_option(string option, int value)
    {
        var options = new ClusterClientOptions { Port = 5000 };
        typeof(ClusterClientOptions).GetProperty(option)!.SetValue(options, value);
        var error = Assert.Throws<ArgumentException>(options.Validate);
        Assert.Equal(option, error.ParamName);
        Assert.Contains(option, error.Message);
    }

    [Fact]
    public void A_zero_registration_timeout_is_rejected_and_the_defaults_are_valid()
    {
        var options = new ClusterClientOptions { Port = 5000, RegistrationTimeout = TimeSpan.Zero };
        var error = Assert.Throws<ArgumentException>(options.Validate);
        Assert.Equal(nameof(ClusterClientOptions.RegistrationTimeout), error.ParamName);

        var defaults = new ClusterClientOptions { Port = 5000 };
        defaults.Validate();
        Assert.Equal(1024, defaults.MaxFollowers);
        Assert.Equal(4096, defaults.MaxInflightCallsPerFollower);
        Assert.Equal(4096, defaults.MaxSubscriptionsPerFollower);
        Assert.Equal(TimeSpan.FromSeconds(10), defaults.RegistrationTimeout);
    }

    [Fact]
    public async Task Calls_beyond_MaxInflightCallsPerFollower_get_an_error_reply_and_the_slot_is_given_back()
    {
        await using var cluster = new TestCluster();
        var (_, leader) = cluster.Start(configure: o => o.MaxInflightCallsPerFollower = 2);
        await leader.ReadyAsync();
        await using var raw = await RawFollower.ConnectAndRegisterAsync(cluster, leader.Name);

        // Two calls that run until cancelled fill the follower's slots.
        raw.Connection.Send(PacketType.Invoke, 10, new CallHeader(1, 1, CalculatorContract.WaitForCancellation.Id), [0x91, 0x01]);
        raw.Connection.Send(PacketType.Invoke, 11, new CallHeader(1, 1, CalculatorContract.WaitForCancellation.Id), [0x91, 0x02]);
        raw.Connection.Send(PacketType.Invoke, 12, new CallHeader(1, 1, CalculatorContract.Add.Id), [0x92, 0x01, 0x02]);
        string refused = await raw.ReplyToAsync(12);
        Assert.Contains("MaxInflightCallsPerFollower (2)", refused);
        Assert.StartsWith("error ClusterSharing.ClusterClientException", refused);

        // Cancelling one gives its slot back: the next call runs.
        raw.Connection.Send(PacketType.Cancel, 10, new EpochHeader(1));
        string answer = "";
        for (int attempt = 0; attempt < 200; attempt++)
        {
            raw.Connection.Send(PacketType.Invoke, 100 + attempt, new CallHeader(1, 1, CalculatorContract.Add.Id), [0x92, 0x01, 0x02]);
            answer = await raw.ReplyToAsync(100 + attempt);
            if (answer == "ok") break;
            await Task.Delay(10);
        }
        Assert.Equal("ok", answer);
    }

    [Fact]
    public async Task Subscriptions_beyond_MaxSubscriptionsPerFollower_are_faulted_and_unsubscribing_frees_room()
    {
        Calculator? real = null;
        await using var cluster = new TestCluster();
        var (_, leader) = cluster.Start(() => real = new Calculator(), o => o.MaxSubscriptionsPerFollower = 2);
        await leader.ReadyAsync();
        await using var raw = await RawFollower.ConnectAndRegisterAsync(cluster, leader.Name);

        raw.Subscribe(PacketType.Subscribe, 1, "t1");
        raw.Subscribe(PacketType.Subscribe, 2, "t2");
        raw.Subscribe(PacketType.Subscribe, 1, "t1"); // a re-subscribe of a live subscription is not a new one
        raw.Subscribe(PacketType.Subscribe, 3, "t3");
        string faulted = await raw.SubscriptionFaultAsync(3);
        Assert.Contains("MaxSubscriptionsPerFollower (2)", faulted);
        await TestCluster.WaitUntilAsync(() => real!.ListenerCount("t1") == 1 && real.ListenerCount("t2") == 1, "two real subscriptions");
        Assert.Equal(0, real!.ListenerCount("t3"));

        raw.Subscribe(PacketType.Unsubscribe, 1, "t1");
        raw.Subscribe(PacketType.Subscribe, 4, "t4");
        await TestCluster.WaitUntilAsync(() => real.ListenerCount("t4") == 1, "the subscription admitted after an unsubscribe");
        Assert.Equal(0, real.ListenerCount("t1"));
    }

    [Fact]
    public async Task A_follower_beyond_MaxFollowers_fails_ReadyAsync_naming_the_limit_and_joins_once_a_slot_frees()
    {
        await using var cluster = new TestCluster();
        var (_, leader) = cluster.Start(configure: o => o.MaxFollowers = 1);
        await leader.ReadyAsync();
        var first = await RawFollower.ConnectAndRegisterAsync(cluster, leader.Name);
        try
        {
            var (refusedNode, refused) = cluster.Start(configure: o => o.MaxWaitTime = TimeSpan.FromSeconds(2));
            var error = await Assert.ThrowsAnyAsync<ClusterClientException>(() => refused.ReadyAsync());
            Assert.Contains("MaxFollowers (1)", error.Message);
            Assert.False(refused.IsLeader);
            // A refused node keeps retrying in the background; stop it so it cannot take the slot freed below.
            await refusedNode.DisposeAsync();
        }
        finally
        {
            await first.DisposeAsync();
        }

        var (_, admitted) = cluster.Start();
        await admitted.ReadyAsync();
        Assert.Equal(5, await admitted.Client.AddAsync(2, 3));
    }

    [Fact]
    public async Task Connections_that_never_register_are_closed_after_RegistrationTimeout_but_followers_stay()
    {
        await using var cluster = new TestCluster();
        var (leaderNode, leader) = cluster.Start(configure: o => o.RegistrationTimeout = TimeSpan.FromMilliseconds(300));
        await leader.ReadyAsync();
        var (_, follower) = cluster.Start(configure: o => o.RegistrationTimeout = TimeSpan.FromMilliseconds(300));
        await follower.ReadyAsync();

        // Silent, half a header trickled byte by byte, and a handshake without a registration.
        using var silent = await ConnectSocketAsync(cluster.Port);
        using var slowloris = await ConnectSocketAsync(cluster.Port);
        var handshaker = await FrameConnection.ConnectAsync(new IPEndPoint(IPAddress.Loopback, cluster.Port));
        var handshakerRun = handshaker.RunAsync(_ => default);
        handshaker.Send(PacketType.Heartbeat, 1, new HeartbeatHeader(0, 1));
        var trickle = Task.Run(async () =>
        {
            var header = new byte[FrameHeader.Size];
            header[0] = 2;
            header[2] = (byte)PacketType.Heartbeat;
            for (int i = 0; i < header.Length; i++)
            {
                try
                {
                    await slowloris.SendAsync(header.AsMemory(i, 1));
                }
                catch (SocketException)
                {
                    return i;  // the leader closed it part-way
                }
                await Task.Delay(100);
            }
            return header.Length;
        });

        await AssertClosedByPeerAsync(silent);
        await AssertClosedByPeerAsync(slowloris);
        var closed = await handshakerRun.WaitAsync(Wait);
        Assert.NotEqual(ConnectionCloseReason.LocalClose, closed.Reason);
        await trickle.WaitAsync(Wait);
        await handshaker.DisposeAsync();

        Assert.Equal(9, await follower.Client.AddAsync(4, 5));
        Assert.Equal(1, leaderNode.FollowerCount);
    }

    [Fact]
    public async Task A_connection_flood_past_twice_MaxFollowers_is_closed_at_once_and_the_cluster_keeps_serving()
    {
        await using var cluster = new TestCluster();
        var (_, leader) = cluster.Start(configure: o => { o.MaxFollowers = 2; o.RegistrationTimeout = TimeSpan.FromSeconds(1); });
        await leader.ReadyAsync();

        var flood = new List<Socket>();
        try
        {
            for (int i = 0; i < 20; i++) flood.Add(await ConnectSocketAsync(cluster.Port));
            // At most 2 x MaxFollowers sessions; the rest were closed as they were accepted, the others after the timeout.
            foreach (var socket in flood) await AssertClosedByPeerAsync(socket);
        }
        finally
        {
            foreach (var socket in flood) socket.Dispose();
        }

        var (_, follower) = cluster.Start();
        await follower.ReadyAsync();
        Assert.Equal(3, await follower.Client.AddAsync(1, 2));
    }

    private static async Task<Socket> ConnectSocketAsync(int port)
    {
        var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        await socket.ConnectAsync(IPAddress.Loopback, port);
        return socket;
    }

    /// <summary>Reads until EOF or a reset: the leader closed the connection. Bounded by <see cref="Wait"/>.</summary>
    private static async Task AssertClosedByPeerAsync(Socket socket)
    {
        var buffer = new byte[4096];
        using var timeout = new CancellationTokenSource(Wait);
        for (int reads = 0; reads < 10_000; reads++)
        {
            int read;
            try
            {
                read = await socket.ReceiveAsync(buffer, SocketFlags.None, timeout.Token);
            }
            catch (SocketException)
            {
                return;
            }
            if (read == 0) return;
        }
        Assert.Fail("The leader kept sending to a connection it should have closed.");
    }

    /// <summary>
    /// A hand-driven follower connection registered on channel id 1. It authenticates first with the secret a node of
    /// <paramref name="stateDirectory"/> would use (the per-user secret file there), as a genuine follower does.
    /// </summary>
    internal sealed class RawFollower : IAsyncDisposable
    {
        private readonly Channel<(PacketType Type, long RequestId, string Text)> _frames = Channel.CreateUnbounded<(PacketType, long, string)>();
        private FollowerHandshake? _handshake;

        private RawFollower(FrameConnection connection) => Connection = connection;

        public FrameConnection Connection { get; }

        /// <summary>Connects to a cluster of <see cref="TestCluster"/> (its per-user secret) and registers.</summary>
        public static Task<RawFollower> ConnectAndRegisterAsync(TestCluster cluster, string channel) =>
            ConnectAndRegisterAsync(cluster.Port, channel, global::ClusterSharing.Coordination.Local.StateDirectory.PeerSecret(cluster.Options()));

        /// <summary>Connects, authenticates with <paramref name="secret"/> (none: an open leader) and registers <paramref name="channel"/>.</summary>
        public static async Task<RawFollower> ConnectAndRegisterAsync(int port, string channel, byte[]? secret)
        {
            var raw = new RawFollower(await FrameConnection.ConnectAsync(new IPEndPoint(IPAddress.Loopback, port))) { _handshake = secret is null ? null : new FollowerHandshake(secret, port) };
            _ = raw.Connection.RunAsync(raw.OnFrame).ContinueWith(_ => raw._frames.Writer.TryComplete(), TaskScheduler.Default);
            if (secret is not null)
            {
                raw.Connection.Send(PacketType.Heartbeat, 99, new HeartbeatHeader(0, 1));
                using var timeout = new CancellationTokenSource(Wait);
                while ((await raw._frames.Reader.ReadAsync(timeout.Token)).Type != PacketType.HeartbeatResponse) { }
            }
            uint fingerprint = CalculatorContract.Instance.Fingerprint;
            raw.Connection.Send(PacketType.RegisterChannel, 1, new RegisterChannelHeader(0, channel, fingerprint, Environment.ProcessId));
            Assert.Equal("channel 1", await raw.ReplyToAsync(1));
            return raw;
        }

        private ValueTask OnFrame(Frame frame)
        {
            string text;
            long id = frame.RequestId;
            switch (frame.Type)
            {
                case PacketType.InvokeResult when frame.ReadHeader<ResultHeader>().Status == ResultStatus.Error:
                    text = ReadError(frame);
                    break;
                case PacketType.InvokeResult:
                    text = "ok";
                    break;
                case PacketType.RegisterChannelResult:
                    var registered = frame.ReadHeader<RegisterChannelResultHeader>();
                    text = registered.Ok ? $"channel {registered.ChannelId}" : $"refused {registered.Error}";
                    break;
                case PacketType.SubscribeResult:
                    var result = frame.ReadHeader<SubscribeResultHeader>();
                    id = result.SubscriptionId;
                    text = result.Kind == SubscriptionEventKind.Faulted ? ReadError(frame) : result.Kind.ToString();
                    break;
                case PacketType.AuthChallenge when _handshake is not null:
                    // The real follower half of the handshake: share, then (after the leader's proof) this side's proof.
                    if (_handshake.OnChallenge(frame.ReadHeader<AuthHeader>().Data) is { } answer)
                        Connection.Send(PacketType.AuthResponse, frame.RequestId, new AuthHeader(0, answer));
                    return default;
                case PacketType.Heartbeat:
                    // Stay alive for the leader's eviction check.
                    Connection.Send(PacketType.HeartbeatResponse, frame.RequestId, frame.ReadHeader<HeartbeatHeader>());
                    return default;
                default:
                    text = frame.Type.ToString();
                    break;
            }
            _frames.Writer.TryWrite((frame.Type, id, text));
            return default;
        }

        private static string ReadError(Frame frame)
        {
            var reader = frame.CreateBodyReader();
            var error = RemoteError.Read(ref reader);
            return error is ClusterRemoteException remote ? $"error {remote.RemoteType}: {remote.RemoteMessage}" : $"error {error.GetType().FullName}: {error.Message}";
        }

        public void Subscribe(PacketType type, long subscriptionId, string topic)
        {
            var buffer = new ArrayBufferWriter<byte>();
            var writer = new MessagePackWriter(buffer);
            writer.Write(topic);
            writer.Flush();
            Connection.Send(type, 0, new SubscriptionHeader(1, 1, CalculatorContract.SubscribeTopic.Id, subscriptionId), buffer.WrittenSpan);
        }

        public async Task<string> ReplyToAsync(long requestId)
        {
            using var timeout = new CancellationTokenSource(Wait);
            while (true)
            {
                var frame = await _frames.Reader.ReadAsync(timeout.Token);
                if (frame.RequestId == requestId && frame.Type is PacketType.InvokeResult or PacketType.RegisterChannelResult) return frame.Text;
            }
        }

        public async Task<string> SubscriptionFaultAsync(long subscriptionId)
        {
            using var timeout = new CancellationTokenSource(Wait);
            while (true)
            {
                var frame = await _frames.Reader.ReadAsync(timeout.Token);
                if (frame.Type == PacketType.SubscribeResult && frame.RequestId == subscriptionId && frame.Text.StartsWith("error", StringComparison.Ordinal))
                    return frame.Text;
            }
        }

        public ValueTask DisposeAsync() => Connection.DisposeAsync();
    }
}
