using System.Buffers.Binary;
using System.Net;
using System.Net.Sockets;

namespace ClusterSharing.Liveness;

/// <summary>
/// The liveness signal of leader and followers: a 24-byte UDP datagram on 127.0.0.1 (the UDP port with the same number
/// as the election's TCP port) that both sides send and answer from their monitor threads with non-blocking socket
/// calls. Unlike heartbeat frames on the TCP connection, whose reading and writing run on the thread pool, it keeps
/// flowing while CPU-bound work starves the pool, so a busy process is not mistaken for a dead one; a hung or
/// stopped process stops answering it.
/// </summary>
/// <remarks>
/// Layout: <c>"CCP2"</c>, the follower connection's TCP port (uint16 big-endian), 2 zero bytes, epoch (int64), the
/// sender's pulse token of the session (int64; derived from the authenticated handshake, one per direction, 0 for an
/// open cluster). Both sides ignore a datagram without the other side's token, so whoever holds the UDP port, spoofs
/// datagrams to it or echoes a follower's pulse back cannot make a stopped leader or a dead follower look alive.
/// </remarks>
internal static class LivenessPulse
{
    public const int Size = 24;

    private static ReadOnlySpan<byte> Magic => "CCP2"u8;

    public static void Write(Span<byte> destination, long epoch, int connectionPort, long token)
    {
        Magic.CopyTo(destination);
        BinaryPrimitives.WriteUInt16BigEndian(destination.Slice(4), (ushort)connectionPort);
        destination[6] = 0;
        destination[7] = 0;
        BinaryPrimitives.WriteInt64BigEndian(destination.Slice(8), epoch);
        BinaryPrimitives.WriteInt64BigEndian(destination.Slice(16), token);
    }

    public static bool TryRead(ReadOnlySpan<byte> source, out long epoch, out int connectionPort, out long token)
    {
        epoch = 0;
        connectionPort = 0;
        token = 0;
        if (source.Length != Size || !source.StartsWith(Magic)) return false;
        connectionPort = BinaryPrimitives.ReadUInt16BigEndian(source.Slice(4));
        epoch = BinaryPrimitives.ReadInt64BigEndian(source.Slice(8));
        token = BinaryPrimitives.ReadInt64BigEndian(source.Slice(16));
        return true;
    }

    /// <summary>The leader's pulse socket, or null when the UDP port is taken (liveness then rests on TCP heartbeats alone).</summary>
    public static Socket? TryBindResponder(int port)
    {
        var socket = new Socket(AddressFamily.InterNetwork, SocketType.Dgram, ProtocolType.Udp) { Blocking = false };
        try
        {
            socket.Bind(new IPEndPoint(IPAddress.Loopback, port));
            return socket;
        }
        catch (SocketException)
        {
            socket.Dispose();
            return null;
        }
    }

    /// <summary>A follower's pulse socket, connected to the leader's.</summary>
    public static Socket? TryConnectSender(int port)
    {
        var socket = new Socket(AddressFamily.InterNetwork, SocketType.Dgram, ProtocolType.Udp) { Blocking = false };
        try
        {
            socket.Connect(new IPEndPoint(IPAddress.Loopback, port));
            return socket;
        }
        catch (SocketException)
        {
            socket.Dispose();
            return null;
        }
    }
}
