using System.Collections.Concurrent;
using System.Net;
using System.Net.Sockets;
using ClusterSharing.Protocol;

namespace ClusterSharing.Liveness;

/// <summary>
/// The leader's side of <see cref="LivenessPulse"/>: on the monitor thread, answers the pulses of admitted follower
/// connections (by their TCP port) that carry their session's token, and notes when each last pulsed. Anything else
/// (an unknown port, a wrong token, a malformed datagram) is dropped unanswered.
/// </summary>
internal sealed class PulseResponder : IMonitored, IDisposable
{
    private readonly Socket _socket;
    private readonly Func<long> _epoch;
    private readonly ConcurrentDictionary<int, Session> _sessions = new();
    private readonly byte[] _buffer = new byte[64];
    // Reused: the monitor thread must not allocate (a GC it triggers would wait for every thread to reach a safepoint).
    private readonly SocketAddress _remote = new(AddressFamily.InterNetwork);

    public PulseResponder(Socket socket, Func<long> epoch)
    {
        _socket = socket;
        _epoch = epoch;
    }

    private sealed class Session(PulseTokens tokens)
    {
        public PulseTokens Tokens { get; } = tokens;

        public long LastSeen;
    }

    /// <summary>
    /// The follower connection on <paramref name="connectionPort"/> was admitted: its pulses must carry
    /// <see cref="PulseTokens.FromFollower"/>, and are answered with <see cref="PulseTokens.FromLeader"/>.
    /// </summary>
    public void Admit(int connectionPort, PulseTokens tokens) => _sessions[connectionPort] = new Session(tokens);

    /// <summary>Stopwatch timestamp of the last valid pulse from the follower connection on <paramref name="connectionPort"/>, or 0.</summary>
    public long LastSeen(int connectionPort) => _sessions.TryGetValue(connectionPort, out var session) ? Volatile.Read(ref session.LastSeen) : 0;

    public void Forget(int connectionPort) => _sessions.TryRemove(connectionPort, out _);

    public void OnTick(long timestamp)
    {
        try
        {
            // Bounded: a flood of datagrams cannot keep the monitor thread here.
            for (int i = 0; i < 1024 && _socket.Available > 0; i++)
            {
                int read = _socket.ReceiveFrom(_buffer, SocketFlags.None, _remote);
                if (!LivenessPulse.TryRead(_buffer.AsSpan(0, read), out _, out int connectionPort, out long token)) continue;
                if (!_sessions.TryGetValue(connectionPort, out var session) || session.Tokens.FromFollower != token) continue;
                Volatile.Write(ref session.LastSeen, timestamp);
                LivenessPulse.Write(_buffer, _epoch(), connectionPort, session.Tokens.FromLeader);
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
