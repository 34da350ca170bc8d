using System.Net;
using System.Net.Sockets;

namespace ClusterSharing.Coordination;

/// <summary>The listening socket a cluster-scope candidate binds before it campaigns, so the address it publishes is already served.</summary>
internal static class LeaderListener
{
    /// <summary>Binds and listens on <paramref name="endpoint"/> (port 0: any free port).</summary>
    /// <exception cref="SocketException">The address or port cannot be used.</exception>
    public static Socket Open(IPEndPoint endpoint)
    {
        var socket = new Socket(endpoint.AddressFamily, SocketType.Stream, ProtocolType.Tcp);
        try
        {
            socket.Bind(endpoint);
            socket.Listen(512);
            return socket;
        }
        catch
        {
            socket.Dispose();
            throw;
        }
    }
}
