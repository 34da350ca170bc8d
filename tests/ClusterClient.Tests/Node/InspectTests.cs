using System.Net;
using System.Threading.Channels;
using ClusterSharing.Protocol;
using ClusterSharing.Transport;

namespace ClusterSharing.Tests.Node;

/// <summary>The inspector: an authenticated Inspect packet answered with the leader's view; anything else refused.</summary>
public sealed class InspectTests
{
    [Fact]
    public async Task Inspector_sees_the_leader_its_followers_their_channels_and_the_subscriptions_per_key()
    {
        await using var cluster = new TestCluster();
        var (_, leader) = cluster.Start();
        await leader.ReadyAsync();
        var (_, first) = cluster.Start();
        var (_, second) = cluster.Start();
        await first.ReadyAsync();
        await second.ReadyAsync();
        first.Client.Subscribe("orders", _ => { });
        second.Client.Subscribe("orders", _ => { });
        Assert.Equal(3, await first.Client.AddAsync(1, 2));

        await using var inspector = await ClusterInspector.ConnectAsync(cluster.Options());
        ClusterStatus status = null!;
        await TestCluster.WaitUntilAsync(() =>
        {
            status = inspector.ReadStatusAsync().GetAwaiter().GetResult();
            return status.Channels.SelectMany(c => c.Subscriptions).Any(s => s.Subscribers == 2);
        }, "both subscriptions in the report");

        Assert.Equal(Environment.ProcessId, status.LeaderProcessId);
        Assert.Equal(cluster.Port, status.Port);
        Assert.Equal(leader.Epoch, status.Epoch);
        Assert.Contains(cluster.Port.ToString(System.Globalization.CultureInfo.InvariantCulture), status.LeaderAddress);
        Assert.Equal(2, status.Followers.Count);
        Assert.All(status.Followers, f =>
        {
            Assert.Equal(Environment.ProcessId, f.ProcessId);
            Assert.Equal([leader.Name], f.Channels);
            Assert.Equal(0, f.InFlight);
        });
        Assert.Contains(status.Followers, f => f.Calls == 1);
        var channel = Assert.Single(status.Channels);
        Assert.Equal(leader.Name, channel.Name);
        Assert.True(channel.Ready);
        var subscription = Assert.Single(channel.Subscriptions);
        Assert.Equal("Subscribe", subscription.Method);
        Assert.Equal("\"orders\"", subscription.Key);
    }

    [Fact]
    public async Task Inspector_with_another_secret_is_refused_and_the_leader_keeps_serving()
    {
        await using var cluster = new TestCluster();
        var (_, leader) = cluster.Start(configure: o => o.UseSecret("the cluster's own passphrase"));
        await leader.ReadyAsync();

        var error = await Assert.ThrowsAnyAsync<ClusterClientException>(() =>
            ClusterInspector.ConnectAsync(cluster.Options(o => o.UseSecret("somebody else's passphrase"))));
        Assert.Contains("authentication failed", error.Message, StringComparison.OrdinalIgnoreCase);

        var (_, follower) = cluster.Start(configure: o => o.UseSecret("the cluster's own passphrase"));
        Assert.Equal(5, await follower.Client.AddAsync(2, 3));
    }

    [Fact]
    public async Task An_inspect_packet_before_authentication_closes_that_connection_only()
    {
        await using var cluster = new TestCluster();
        var (_, leader) = cluster.Start();
        await leader.ReadyAsync();

        var connection = await FrameConnection.ConnectAsync(new IPEndPoint(IPAddress.Loopback, cluster.Port));
        await using var _ = connection;
        var received = Channel.CreateUnbounded<PacketType>();
        var reading = connection.RunAsync(frame =>
        {
            received.Writer.TryWrite(frame.Type);
            return default;
        });
        connection.Send(PacketType.Inspect, 1, new EpochHeader(0));
        // The leader says why and closes; it never sends a report to a peer that did not authenticate.
        Assert.Same(reading, await Task.WhenAny(reading, Task.Delay(TimeSpan.FromSeconds(20))));
        received.Writer.TryComplete();
        var types = new List<PacketType>();
        await foreach (var type in received.Reader.ReadAllAsync()) types.Add(type);
        Assert.DoesNotContain(PacketType.InspectResult, types);

        var (_, follower) = cluster.Start();
        Assert.Equal(5, await follower.Client.AddAsync(2, 3));
    }

    [Fact]
    public async Task Inspecting_a_port_nobody_leads_says_so()
    {
        await using var cluster = new TestCluster();
        var error = await Assert.ThrowsAnyAsync<ClusterClientException>(() =>
            ClusterInspector.ConnectAsync(cluster.Options(o => o.ConnectTimeout = TimeSpan.FromSeconds(2))));
        Assert.Contains(cluster.Port.ToString(System.Globalization.CultureInfo.InvariantCulture), error.Message);
    }

    [Fact]
    public void A_report_round_trips_and_a_malformed_one_is_a_protocol_error()
    {
        var status = new ClusterStatus(42, 7777, 3, DateTimeOffset.FromUnixTimeMilliseconds(1_700_000_000_000), "127.0.0.1:7777",
            [new FollowerStatus("127.0.0.1:50000", 43, 1000, ["calc"], 12, 1, TimeSpan.FromSeconds(5)), new FollowerStatus("127.0.0.1:50001", null, null, [], 0, 0, TimeSpan.Zero)],
            [new ChannelStatus("calc", true, [new SubscriptionStatus("Subscribe", "\"t\"", 2)])]);
        var read = InspectReport.Read(new System.Buffers.ReadOnlySequence<byte>(InspectReport.Write(status)));
        Assert.Equal(status.LeaderProcessId, read.LeaderProcessId);
        Assert.Equal(status.LeaderSince, read.LeaderSince);
        Assert.Equal(status.Followers[0] with { Channels = [] }, read.Followers[0] with { Channels = [] });
        Assert.Equal(["calc"], read.Followers[0].Channels);
        Assert.Null(read.Followers[1].ProcessId);
        Assert.Equal(status.Channels[0].Subscriptions, read.Channels[0].Subscriptions);

        Assert.Throws<ProtocolException>(() => InspectReport.Read(new System.Buffers.ReadOnlySequence<byte>([0x91, 0x01])));
        Assert.Throws<ProtocolException>(() => InspectReport.Read(new System.Buffers.ReadOnlySequence<byte>([0xa1, (byte)'x'])));
        Assert.Throws<ProtocolException>(() => InspectReport.Read(System.Buffers.ReadOnlySequence<byte>.Empty));
    }
}
