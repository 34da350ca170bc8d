using System.Net;
using System.Net.Sockets;
using ClusterSharing.Protocol;

namespace ClusterSharing.Liveness;

/// <summary>
/// A follower connection's side of <see cref="LivenessPulse"/>: on the monitor thread, sends the connection's pulse to
/// the leader's <see cref="PulseResponder"/> and reads its answers.
/// </summary>
internal sealed class PulseSender : IDisposable
{
    private readonly Socket _socket;
    private readonly int _connectionPort;
    private readonly byte[] _buffer = new byte[64];

    private PulseSender(Socket socket, int connectionPort)
    {
        _socket = socket;
        _connectionPort = connectionPort;
    }

    /// <summary>A sender for the TCP connection from <paramref name="local"/> to <paramref name="leader"/>; null for a Unix socket or when UDP fails.</summary>
    public static PulseSender? TryCreate(EndPoint? leader, EndPoint? local) =>
        leader is IPEndPoint remote && local is IPEndPoint own && LivenessPulse.TryConnectSender(remote.Port) is { } socket
            ? new PulseSender(socket, own.Port)
            : null;

    /// <summary>
    /// Reads the leader's answers and, when <paramref name="send"/>, pulses once; true when an answer for this
    /// connection carrying the leader's token of the session (<paramref name="tokens"/>) arrived (a sign of life); an
    /// echo of this side's own pulse is not one. Never throws: without a responder, TCP heartbeats alone decide.
    /// </summary>
    public bool Exchange(long epoch, PulseTokens tokens, bool send)
    {
        bool answered = false;
        try
        {
            for (int i = 0; i < 64 && _socket.Available > 0; i++)
            {
                int read = _socket.Receive(_buffer);
                // Whoever else holds the leader's UDP port (a squatter, or a stopped leader's successor) does not know the token.
                if (LivenessPulse.TryRead(_buffer.AsSpan(0, read), out _, out int port, out long answer) && port == _connectionPort && answer == tokens.FromLeader)
                    answered = true;
            }
            if (send)
            {
                LivenessPulse.Write(_buffer, epoch, _connectionPort, tokens.FromFollower);
                _socket.Send(_buffer.AsSpan(0, LivenessPulse.Size));
            }
        }
        catch (Exception ex) when (ex is SocketException or ObjectDisposedException)
        {
            // No pulse responder on the leader (UDP port taken, or the leader is gone): TCP heartbeats still decide.
        }
        return answered;
    }

    public void Dispose() => _socket.Dispose();
}
