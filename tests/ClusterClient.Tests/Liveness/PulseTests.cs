using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using ClusterSharing.Liveness;
using ClusterSharing.Protocol;

namespace ClusterSharing.Tests.Liveness;

/// <summary>The UDP pulse between a follower connection's sender and the leader's responder, on loopback.</summary>
public sealed class PulseTests
{
    private static readonly PulseTokens Tokens = new(0x5EC2E7_70CE, 0x1EAD_E770CE);
    private const int ConnectionPort = 40_123;

    private static (Socket Socket, int Port) BindResponder()
    {
        var socket = LivenessPulse.TryBindResponder(0);
        Assert.NotNull(socket);
        return (socket!, ((IPEndPoint)socket!.LocalEndPoint!).Port);
    }

    private static async Task<bool> ExchangeAsync(PulseResponder responder, PulseSender sender, PulseTokens tokens)
    {
        sender.Exchange(epoch: 5, tokens, send: true);
        var deadline = Stopwatch.StartNew();
        while (deadline.Elapsed < TimeSpan.FromSeconds(3))
        {
            await Task.Delay(10);
            responder.OnTick(Stopwatch.GetTimestamp());
            if (sender.Exchange(epoch: 5, tokens, send: false)) return true;
        }
        return false;
    }

    [Fact]
    public async Task The_responder_notes_an_admitted_followers_pulse_and_its_answer_reaches_the_sender()
    {
        var (socket, port) = BindResponder();
        using var responder = new PulseResponder(socket, () => 5);
        responder.Admit(ConnectionPort, Tokens);
        using var sender = PulseSender.TryCreate(new IPEndPoint(IPAddress.Loopback, port), new IPEndPoint(IPAddress.Loopback, ConnectionPort));
        Assert.NotNull(sender);

        Assert.True(await ExchangeAsync(responder, sender!, Tokens), "the responder's answer did not reach the sender");
        Assert.NotEqual(0, responder.LastSeen(ConnectionPort));
        responder.Forget(ConnectionPort);
        Assert.Equal(0, responder.LastSeen(ConnectionPort));
    }

    [Fact]
    public async Task Pulses_without_the_sessions_token_or_from_a_connection_never_admitted_are_ignored()
    {
        var (socket, port) = BindResponder();
        using var responder = new PulseResponder(socket, () => 5);
        responder.Admit(ConnectionPort, Tokens);
        using var spoofer = PulseSender.TryCreate(new IPEndPoint(IPAddress.Loopback, port), new IPEndPoint(IPAddress.Loopback, ConnectionPort));
        using var stranger = PulseSender.TryCreate(new IPEndPoint(IPAddress.Loopback, port), new IPEndPoint(IPAddress.Loopback, ConnectionPort + 1));

        Assert.False(await ExchangeAsync(responder, spoofer!, Tokens with { FromFollower = Tokens.FromFollower + 1 }), "a pulse with a guessed token was answered");
        Assert.False(await ExchangeAsync(responder, stranger!, default), "a pulse for a connection that was never admitted was answered");
        Assert.Equal(0, responder.LastSeen(ConnectionPort));
        Assert.Equal(0, responder.LastSeen(ConnectionPort + 1));
    }

    [Fact]
    public async Task A_squatter_that_echoes_pulses_or_answers_without_the_leaders_token_is_no_sign_of_life()
    {
        // The squatter holds the UDP port and answers every pulse: an exact echo, and one with a guessed token.
        var (socket, port) = BindResponder();
        using var squatter = socket;
        using var sender = PulseSender.TryCreate(new IPEndPoint(IPAddress.Loopback, port), new IPEndPoint(IPAddress.Loopback, ConnectionPort));
        var buffer = new byte[64];
        var remote = new IPEndPoint(IPAddress.Any, 0);
        bool answered = false;
        var deadline = Stopwatch.StartNew();
        sender!.Exchange(5, Tokens, send: true);
        while (deadline.Elapsed < TimeSpan.FromSeconds(2) && !answered)
        {
            await Task.Delay(10);
            while (squatter.Available > 0)
            {
                EndPoint from = remote;
                int read = squatter.ReceiveFrom(buffer, ref from);
                Assert.True(LivenessPulse.TryRead(buffer.AsSpan(0, read), out _, out int connectionPort, out _));
                squatter.SendTo(buffer.AsSpan(0, read), from);
                LivenessPulse.Write(buffer, 99, connectionPort, token: 12345);
                squatter.SendTo(buffer.AsSpan(0, LivenessPulse.Size), from);
            }
            answered = sender.Exchange(5, Tokens, send: true);
        }
        Assert.False(answered, "an answer without the session's token counted as a sign of life");
    }

    [Fact]
    public void A_unix_socket_connection_has_no_pulse()
    {
        Assert.Null(PulseSender.TryCreate(new UnixDomainSocketEndPoint("/tmp/none.sock"), null));
    }
}
