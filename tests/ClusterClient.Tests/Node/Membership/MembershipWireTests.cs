using System.Net;
using System.Threading.Channels;
using ClusterSharing.Node.Membership;
using ClusterSharing.Protocol;
using ClusterSharing.Transport;
using static ClusterSharing.Tests.Node.Membership.MemberViewTests;

namespace ClusterSharing.Tests.Node.Membership;

/// <summary>Hand-driven connections send membership packets a real member never would: the leader closes only them.</summary>
public sealed class MembershipWireTests
{
    private static async Task<(FrameConnection Connection, Task Closed, Channel<PacketType> Frames)> ConnectRawAsync(int port)
    {
        var connection = await FrameConnection.ConnectAsync(new IPEndPoint(IPAddress.Loopback, port));
        var frames = Channel.CreateUnbounded<PacketType>();
        var closed = connection.RunAsync(frame =>
        {
            frames.Writer.TryWrite(frame.Type);
            return default;
        });
        return (connection, closed, frames);
    }

    [Fact]
    public async Task An_unauthenticated_peer_cannot_join_the_membership()
    {
        await using var cluster = new TestCluster();
        var (_, leader) = cluster.Start();
        await leader.ReadyAsync();
        await leader.Membership.ReadyAsync();
        var (connection, closed, _) = await ConnectRawAsync(cluster.Port);
        await using var _ = connection;

        connection.Send(PacketType.MemberAnnounce, 0, new MemberAnnounceHeader(0), MemberCodec.Encode(Member("intruder")));
        await closed.WaitAsync(TimeSpan.FromSeconds(20));
        await Task.Delay(200);
        Assert.Single(leader.Membership.Members);
        Assert.True(leader.IsReady);
    }

    [Fact]
    public async Task Messages_before_joining_and_messages_claiming_another_sender_close_only_that_connection()
    {
        await using var cluster = new TestCluster();
        // Open: the hand-written connection does not authenticate; this test is about what the leader accepts after that.
        var (_, leader) = cluster.Start(configure: o => o.Security = ClusterSecurity.Open);
        await leader.ReadyAsync();
        await leader.Membership.ReadyAsync();

        var (early, earlyClosed, _) = await ConnectRawAsync(cluster.Port);
        await using (early)
        {
            early.Send(PacketType.MemberMessage, 0, new MemberMessageHeader(0, 1, "x", "news", null), [0xc0]);
            await earlyClosed.WaitAsync(TimeSpan.FromSeconds(20));
        }

        var (spoofer, spooferClosed, frames) = await ConnectRawAsync(cluster.Port);
        await using (spoofer)
        {
            spoofer.Send(PacketType.MemberAnnounce, 0, new MemberAnnounceHeader(0), MemberCodec.Encode(Member("spoofer")));
            Assert.Equal(PacketType.MemberView, await frames.Reader.ReadAsync().AsTask().WaitAsync(TimeSpan.FromSeconds(20)));
            await TestCluster.WaitUntilAsync(() => leader.Membership.Find("spoofer") is not null, "the raw member to join");
            spoofer.Send(PacketType.MemberMessage, 0, new MemberMessageHeader(0, 1, leader.Membership.LocalId, "news", null), [0xc0]);
            await spooferClosed.WaitAsync(TimeSpan.FromSeconds(20));
        }
        await TestCluster.WaitUntilAsync(() => leader.Membership.Find("spoofer") is null, "the spoofer to be removed");
        Assert.Equal(3, await leader.Client.AddAsync(1, 2));
    }
}
