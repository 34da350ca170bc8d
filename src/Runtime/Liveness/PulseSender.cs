using System.Net;
using System.Net.Sockets;

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
    /// Reads the leader's answers and, when <paramref name="send"/>, pulses once; true when an answer arrived (a sign
    /// of life). Never throws: without a responder, TCP heartbeats alone decide.
    /// </summary>
    public bool Exchange(long epoch, bool send)
    {
        bool answered = false;
        try
        {
            for (int i = 0; i < 64 && _socket.Available > 0; i++)
            {
                int read = _socket.Receive(_buffer);
                if (LivenessPulse.TryRead(_buffer.AsSpan(0, read), out _, out _)) answered = true;
            }
            if (send)
            {
                LivenessPulse.Write(_buffer, epoch, _connectionPort);
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
