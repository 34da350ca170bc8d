using System.Net;
using System.Net.Sockets;

namespace ClusterSharing.ProcessHarness;

/// <summary>Loopback ports for workers to compete for.</summary>
public static class LoopbackPort
{
    // Below Linux's default ephemeral range (32768-60999): a port picked here cannot be taken meanwhile as the local port of
    // some outgoing connection (test classes run side by side, and their processes connect all the time).
    private const int First = 20000, Last = 32000;
    private static readonly HashSet<int> Handed = new();

    /// <summary>
    /// A port nobody listens on right now, TCP and UDP, on 127.0.0.1 (the workers' pulses use the UDP port of the same
    /// number): picked at random below the ephemeral range, never the same twice in this process. Bounded attempts.
    /// </summary>
    public static int Free()
    {
        for (int attempt = 0; attempt < 200; attempt++)
        {
            int port = Random.Shared.Next(First, Last);
            lock (Handed)
            {
                if (Handed.Contains(port)) continue;
                if (!CanBind(port)) continue;
                Handed.Add(port);
                return port;
            }
        }
        // Fall back to the kernel's choice.
        var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        int chosen = ((IPEndPoint)listener.LocalEndpoint).Port;
        listener.Stop();
        return chosen;
    }

    private static bool CanBind(int port)
    {
        try
        {
            using var tcp = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
            tcp.Bind(new IPEndPoint(IPAddress.Loopback, port));
            using var udp = new Socket(AddressFamily.InterNetwork, SocketType.Dgram, ProtocolType.Udp);
            udp.Bind(new IPEndPoint(IPAddress.Loopback, port));
            return true;
        }
        catch (SocketException)
        {
            return false;
        }
    }
}
