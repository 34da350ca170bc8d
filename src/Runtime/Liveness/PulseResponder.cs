using System.Collections.Concurrent;
using System.Net;
using System.Net.Sockets;

namespace ClusterSharing.Liveness;

/// <summary>
/// The leader's side of <see cref="LivenessPulse"/>: on the monitor thread, answers every follower's pulse and notes
/// when each follower connection (by its TCP port) last pulsed.
/// </summary>
internal sealed class PulseResponder : IMonitored, IDisposable
{
    private readonly Socket _socket;
    private readonly Func<long> _epoch;
    private readonly ConcurrentDictionary<int, long> _lastSeen = new();
    private readonly byte[] _buffer = new byte[64];
    // Reused: the monitor thread must not allocate (a GC it triggers would wait for every thread to reach a safepoint).
    private readonly SocketAddress _remote = new(AddressFamily.InterNetwork);

    public PulseResponder(Socket socket, Func<long> epoch)
    {
        _socket = socket;
        _epoch = epoch;
    }

    /// <summary>Stopwatch timestamp of the last pulse from the follower connection on <paramref name="connectionPort"/>, or 0.</summary>
    public long LastSeen(int connectionPort) => _lastSeen.TryGetValue(connectionPort, out long seen) ? seen : 0;

    public void Forget(int connectionPort) => _lastSeen.TryRemove(connectionPort, out _);

    public void OnTick(long timestamp)
    {
        try
        {
            // Bounded: a flood of datagrams cannot keep the monitor thread here.
            for (int i = 0; i < 1024 && _socket.Available > 0; i++)
            {
                int read = _socket.ReceiveFrom(_buffer, SocketFlags.None, _remote);
                if (!LivenessPulse.TryRead(_buffer.AsSpan(0, read), out _, out int connectionPort)) continue;
                _lastSeen[connectionPort] = timestamp;
                LivenessPulse.Write(_buffer, _epoch(), 0);
                _socket.SendTo(_buffer.AsSpan(0, LivenessPulse.Size), SocketFlags.None, _remote);
            }
        }
        catch (Exception ex) when (ex is SocketException or ObjectDisposedException)
        {
            // A follower that went away (ICMP unreachable) or a closing socket: the TCP heartbeats still decide.
        }
    }

    public void Dispose() => _socket.Dispose();
}
