using System.Net;
using System.Net.Sockets;

namespace ClusterSharing.Coordination.Local;

/// <summary>
/// Leader election by port competition: whoever holds the exclusive listening socket on 127.0.0.1:port leads.
/// The kernel releases the socket when the leader process dies, so the next winner needs no cleanup.
/// </summary>
internal static class PortElection
{
    /// <summary>Tries to become the listener on 127.0.0.1:<paramref name="port"/>.</summary>
    /// <returns>The listening socket, or null when another socket holds the port.</returns>
    /// <exception cref="SocketException">Binding failed for another reason than the port being taken.</exception>
    public static Socket? TryListen(int port, int backlog = 512) => TryListen(IPAddress.Loopback, port, backlog);

    /// <summary>Tries to become the listener on <paramref name="address"/>:<paramref name="port"/> (port 0: any free port).</summary>
    /// <returns>The listening socket, or null when another socket holds the port.</returns>
    /// <exception cref="SocketException">Binding failed for another reason than the port being taken.</exception>
    public static Socket? TryListen(IPAddress address, int port, int backlog = 512)
    {
        var socket = new Socket(address.AddressFamily, SocketType.Stream, ProtocolType.Tcp);
        try
        {
            if (OperatingSystem.IsWindows())
            {
                // On Windows SO_REUSEADDR would let a second socket steal the port; exclusive use forbids it.
                socket.ExclusiveAddressUse = true;
            }
            else
            {
                // Plain SO_REUSEADDR never allows two listeners on one address on Linux or macOS; it only lets a new
                // leader bind while connections of the dead one linger in TIME_WAIT, which failover needs. It is set
                // raw because .NET's SocketOptionName.ReuseAddress also sets SO_REUSEPORT on Unix, which WOULD let
                // two processes listen on the port at once and break the election.
                SetRawReuseAddress(socket);
            }
            socket.NoDelay = true;
            socket.Bind(new IPEndPoint(address, port));
            // Two sockets with SO_REUSEADDR may both bind while neither listens; only one listen succeeds.
            socket.Listen(backlog);
            return socket;
        }
        catch (SocketException ex) when (ex.SocketErrorCode is SocketError.AddressAlreadyInUse or SocketError.AccessDenied)
        {
            socket.Dispose();
            return null;
        }
        catch
        {
            socket.Dispose();
            throw;
        }
    }

    private static void SetRawReuseAddress(Socket socket)
    {
        // SOL_SOCKET / SO_REUSEADDR: 1 / 2 on Linux, 0xffff / 4 on macOS and the BSDs.
        (int level, int name) = OperatingSystem.IsLinux() ? (1, 2) : (0xffff, 4);
        Span<byte> on = stackalloc byte[4];
        BitConverter.TryWriteBytes(on, 1);
        socket.SetRawSocketOption(level, name, on);
    }
}
