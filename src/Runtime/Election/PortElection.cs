using System.Net;
using System.Net.Sockets;

namespace ClusterSharing.Election;

/// <summary>
/// Leader election by port competition: whoever holds the exclusive listening socket on 127.0.0.1:port leads.
/// The kernel releases the socket when the leader process dies, so the next winner needs no cleanup.
/// </summary>
internal static class PortElection
{
    /// <summary>Tries to become the listener on 127.0.0.1:<paramref name="port"/>.</summary>
    /// <returns>The listening socket, or null when another socket holds the port.</returns>
    /// <exception cref="SocketException">Binding failed for another reason than the port being taken.</exception>
    public static Socket? TryListen(int port, int backlog = 512)
    {
        var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        try
        {
            if (OperatingSystem.IsWindows())
            {
                // On Windows SO_REUSEADDR would let a second socket steal the port; exclusive use forbids it.
                socket.ExclusiveAddressUse = true;
            }
            else
            {
                // On Linux and macOS SO_REUSEADDR never allows two listeners on one address; it only lets a new
                // leader bind while connections of the dead one linger in TIME_WAIT, which failover needs.
                // SO_REUSEPORT (which would allow two listeners) is never set.
                socket.SetSocketOption(SocketOptionLevel.Socket, SocketOptionName.ReuseAddress, true);
            }
            socket.NoDelay = true;
            socket.Bind(new IPEndPoint(IPAddress.Loopback, port));
            // Two sockets with SO_REUSEADDR may both bind while neither listens; only one listen succeeds.
            socket.Listen(backlog);
            return socket;
        }
        catch (SocketException ex) when (ex.SocketErrorCode is SocketError.AddressAlreadyInUse or SocketError.AccessDenied or SocketError.AddressNotAvailable)
        {
            socket.Dispose();
            if (ex.SocketErrorCode == SocketError.AddressNotAvailable) throw;
            return null;
        }
        catch
        {
            socket.Dispose();
            throw;
        }
    }
}
