using System.Buffers.Binary;
using System.Net;
using System.Net.Sockets;

namespace ClusterSharing.Liveness;

/// <summary>
/// The liveness signal of leader and followers: a 16-byte UDP datagram on 127.0.0.1 (the UDP port with the same number
/// as the election's TCP port) that both sides send and answer from their monitor threads with non-blocking socket
/// calls. Unlike heartbeat frames on the TCP connection, whose reading and writing run on the thread pool, it keeps
/// flowing while CPU-bound work starves the pool, so a busy process is not mistaken for a dead one; a hung or
/// stopped process stops answering it.
/// </summary>
/// <remarks>Layout: <c>"CCP1"</c>, epoch (int64 big-endian), the sender's TCP port of the follower connection (uint16), 2 zero bytes.</remarks>
internal static class LivenessPulse
{
    public const int Size = 16;

    private static ReadOnlySpan<byte> Magic => "CCP1"u8;

    public static void Write(Span<byte> destination, long epoch, int connectionPort)
    {
        Magic.CopyTo(destination);
        BinaryPrimitives.WriteInt64BigEndian(destination.Slice(4), epoch);
        BinaryPrimitives.WriteUInt16BigEndian(destination.Slice(12), (ushort)connectionPort);
        destination[14] = 0;
        destination[15] = 0;
    }

    public static bool TryRead(ReadOnlySpan<byte> source, out long epoch, out int connectionPort)
    {
        epoch = 0;
        connectionPort = 0;
        if (source.Length != Size || !source.StartsWith(Magic)) return false;
        epoch = BinaryPrimitives.ReadInt64BigEndian(source.Slice(4));
        connectionPort = BinaryPrimitives.ReadUInt16BigEndian(source.Slice(12));
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
