using System.Globalization;
using System.Net;
using System.Net.Sockets;
using System.Runtime.InteropServices;

namespace ClusterSharing.Transport;

/// <summary>The local user (and process, where known) at the other end of a connection.</summary>
/// <param name="UserId">The peer's user id.</param>
/// <param name="ProcessId">The peer's process id, or 0 when the OS does not say (TCP).</param>
internal readonly record struct PeerIdentity(uint UserId, int ProcessId)
{
    /// <summary>True when the peer runs as the same effective user as this process.</summary>
    public bool IsSameUser => UserId == UnixIdentity.EffectiveUserId;

    /// <summary>"uid 1001 (alice), pid 4242".</summary>
    public override string ToString()
    {
        string name = UserName(UserId) is { } user ? $"uid {UserId} ({user})" : $"uid {UserId}";
        return ProcessId > 0 ? $"{name}, pid {ProcessId}" : name;
    }

    /// <summary>
    /// Who is at the other end of <paramref name="socket"/>: <c>SO_PEERCRED</c> for Unix sockets (uid and pid, from
    /// the kernel), the owner column of <c>/proc/net/tcp</c> for loopback TCP on Linux (the uid of the peer's socket).
    /// Null where the OS does not tell (other systems, remote peers, a peer already gone).
    /// </summary>
    public static PeerIdentity? Of(Socket socket)
    {
        if (!OperatingSystem.IsLinux()) return null;
        try
        {
            if (socket.AddressFamily == AddressFamily.Unix)
            {
                // SOL_SOCKET 1, SO_PEERCRED 17: struct ucred { pid_t pid; uid_t uid; gid_t gid; }
                Span<byte> ucred = stackalloc byte[12];
                if (socket.GetRawSocketOption(1, 17, ucred) < 12) return null;
                return new PeerIdentity(MemoryMarshal.Read<uint>(ucred[4..]), MemoryMarshal.Read<int>(ucred));
            }
            return OfTcp(socket.RemoteEndPoint, socket.LocalEndPoint);
        }
        catch (Exception ex) when (ex is SocketException or ObjectDisposedException)
        {
            // Unknown is an answer; identity only ever adds to a log line or an error message.
        }
        return null;
    }

    /// <summary>The owner of the loopback TCP socket at <paramref name="remote"/> connected to <paramref name="local"/> (Linux), or null.</summary>
    public static PeerIdentity? OfTcp(EndPoint? remote, EndPoint? local)
    {
        if (!OperatingSystem.IsLinux() || remote is not IPEndPoint peer || local is not IPEndPoint self || !IPAddress.IsLoopback(peer.Address)) return null;
        try
        {
            return OwnerOfTcp(peer, self) is { } uid ? new PeerIdentity(uid, 0) : null;
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException or FormatException or OverflowException)
        {
            // Unknown is an answer.
        }
        return null;
    }

    /// <summary>Describes the peer of <paramref name="socket"/> for logs: "uid 1001 (alice)" or "unknown user".</summary>
    public static string Describe(Socket socket) => Of(socket)?.ToString() ?? "unknown user";

    /// <summary>The uid owning the socket whose local address is <paramref name="socketLocal"/> and peer is <paramref name="socketRemote"/>.</summary>
    private static uint? OwnerOfTcp(IPEndPoint socketLocal, IPEndPoint socketRemote)
    {
        string file = socketLocal.AddressFamily == AddressFamily.InterNetworkV6 ? "/proc/net/tcp6" : "/proc/net/tcp";
        string local = Hex(socketLocal), remote = Hex(socketRemote);
        uint? listener = null;
        foreach (var line in File.ReadLines(file))
        {
            var fields = line.Split(' ', StringSplitOptions.RemoveEmptyEntries);
            if (fields.Length < 8 || !fields[1].Equals(local, StringComparison.OrdinalIgnoreCase)) continue;
            uint uid = uint.Parse(fields[7], CultureInfo.InvariantCulture);
            if (fields[2].Equals(remote, StringComparison.OrdinalIgnoreCase)) return uid;
            if (fields[3] == "0A") listener = uid; // the listening socket: a connection still in its backlog is that user's
        }
        return listener;
    }

    /// <summary>An endpoint as /proc/net/tcp prints it: the address as native-endian 32-bit words in hex, then the port.</summary>
    private static string Hex(IPEndPoint endPoint)
    {
        byte[] bytes = endPoint.Address.GetAddressBytes();
        var text = new System.Text.StringBuilder(40);
        for (int i = 0; i < bytes.Length; i += 4)
            text.Append(MemoryMarshal.Read<uint>(bytes.AsSpan(i, 4)).ToString("X8", CultureInfo.InvariantCulture));
        return text.Append(':').Append(endPoint.Port.ToString("X4", CultureInfo.InvariantCulture)).ToString();
    }

    private static string? UserName(uint uid)
    {
        try
        {
            string id = uid.ToString(CultureInfo.InvariantCulture);
            foreach (var line in File.ReadLines("/etc/passwd"))
            {
                var fields = line.Split(':');
                if (fields.Length > 2 && fields[2] == id) return fields[0];
            }
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            // The number alone then.
        }
        return null;
    }
}
