using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using ClusterSharing.Liveness;

namespace ClusterSharing.Tests.Liveness;

/// <summary>The UDP pulse between a follower connection's sender and the leader's responder, on loopback.</summary>
public sealed class PulseTests
{
    [Fact]
    public async Task The_responder_notes_a_followers_pulse_and_its_answer_reaches_the_sender()
    {
        using var socket = LivenessPulse.TryBindResponder(0);
        Assert.NotNull(socket);
        int port = ((IPEndPoint)socket!.LocalEndPoint!).Port;
        using var responder = new PulseResponder(socket, () => 5);
        const int connectionPort = 40_123;
        using var sender = PulseSender.TryCreate(new IPEndPoint(IPAddress.Loopback, port), new IPEndPoint(IPAddress.Loopback, connectionPort));
        Assert.NotNull(sender);

        sender!.Exchange(epoch: 5, send: true);
        bool answered = false;
        var deadline = Stopwatch.StartNew();
        while (!answered && deadline.Elapsed < TimeSpan.FromSeconds(20))
        {
            await Task.Delay(10);
            responder.OnTick(Stopwatch.GetTimestamp());
            answered = sender.Exchange(epoch: 5, send: false);
        }

        Assert.True(answered, "the responder's answer did not reach the sender");
        Assert.NotEqual(0, responder.LastSeen(connectionPort));
        responder.Forget(connectionPort);
        Assert.Equal(0, responder.LastSeen(connectionPort));
    }

    [Fact]
    public void A_unix_socket_connection_has_no_pulse()
    {
        Assert.Null(PulseSender.TryCreate(new UnixDomainSocketEndPoint("/tmp/none.sock"), null));
    }
}
