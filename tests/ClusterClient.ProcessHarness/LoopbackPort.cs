using System.Net;
using System.Net.Sockets;

namespace ClusterSharing.ProcessHarness;

/// <summary>Loopback ports for workers to compete for.</summary>
public static class LoopbackPort
{
    /// <summary>A port nobody listens on right now (bind port 0 on 127.0.0.1, read it, release it).</summary>
    public static int Free()
    {
        var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        int port = ((IPEndPoint)listener.LocalEndpoint).Port;
        listener.Stop();
        return port;
    }
}
