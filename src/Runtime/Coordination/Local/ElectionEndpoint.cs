using System.Net;
using System.Net.Sockets;
using Microsoft.Extensions.Logging;

namespace ClusterSharing.Coordination.Local;

/// <summary>
/// Where a leader listens and followers connect, for the configured transport: the primary endpoint every process
/// derives from the options (loopback TCP port or socket path), and alternates for when a deposed leader still holds it.
/// </summary>
internal sealed class ElectionEndpoint
{
    private static readonly TimeSpan ProbeTimeout = TimeSpan.FromMilliseconds(500);
    private readonly IPAddress _bindAddress;
    private readonly ILogger _logger;

    private ElectionEndpoint(ClusterClientOptions options, ILogger logger)
    {
        _logger = logger;
        _bindAddress = options.BindAddress;
        Port = options.Port;
        if (options.Transport == ClusterTransport.UnixSocket)
        {
            SocketPath = StateDirectory.SocketPath(options);
            Primary = new UnixDomainSocketEndPoint(SocketPath);
        }
        else
        {
            Primary = new IPEndPoint(ConnectAddress(options.BindAddress), options.Port);
        }
    }

    public static ElectionEndpoint Create(ClusterClientOptions options, ILogger logger) => new(options, logger);

    public int Port { get; }

    /// <summary>The socket path with <see cref="ClusterTransport.UnixSocket"/>, else null.</summary>
    public string? SocketPath { get; }

    public EndPoint Primary { get; }

    private static IPAddress ConnectAddress(IPAddress bind) =>
        bind.Equals(IPAddress.Any) ? IPAddress.Loopback : bind.Equals(IPAddress.IPv6Any) ? IPAddress.IPv6Loopback : bind;

    /// <summary>The endpoint a published lease points to.</summary>
    public EndPoint Resolve(in LeaseState lease) => lease.Kind switch
    {
        LeaseEndpointKind.TcpPort => new IPEndPoint(ConnectAddress(_bindAddress), lease.Value),
        LeaseEndpointKind.UnixPath => new UnixDomainSocketEndPoint(AlternatePath(lease.Epoch)),
        _ => Primary,
    };

    private string AlternatePath(long epoch) => $"{SocketPath}.{epoch}";

    /// <summary>Tries to listen on the primary endpoint; null when a live listener holds it.</summary>
    /// <remarks>A socket file nobody accepts on (left by a killed leader) is removed and bound again.</remarks>
    public async Task<Socket?> TryListenPrimaryAsync(CancellationToken cancellationToken)
    {
        if (SocketPath is null) return PortElection.TryListen(_bindAddress, Port);
        var socket = TryListenUnix(SocketPath);
        if (socket is not null) return socket;
        if (!await IsStaleAsync(Primary, cancellationToken).ConfigureAwait(false)) return null;
        RemoveSocketFile(SocketPath);
        return TryListenUnix(SocketPath);
    }

    /// <summary>Listens somewhere only this epoch's leader uses: any free TCP port, or the socket path plus the epoch.</summary>
    public (Socket Listener, LeaseEndpointKind Kind, int Value) ListenAlternate(long epoch)
    {
        if (SocketPath is null)
        {
            var socket = PortElection.TryListen(_bindAddress, 0) ?? throw new SocketException((int)SocketError.AddressAlreadyInUse);
            return (socket, LeaseEndpointKind.TcpPort, ((IPEndPoint)socket.LocalEndPoint!).Port);
        }
        string path = AlternatePath(epoch);
        // Only the lease holder of this epoch binds this path, so a file already there is a leftover of a killed process.
        RemoveSocketFile(path);
        var unix = TryListenUnix(path) ?? throw new SocketException((int)SocketError.AddressAlreadyInUse);
        return (unix, LeaseEndpointKind.UnixPath, 0);
    }

    /// <summary>
    /// Deletes a leftover socket file, and only that: lstat must show a socket owned by this user (a regular file, a
    /// link or another user's socket at the path is left alone; bind then reports the path as taken).
    /// </summary>
    private void RemoveSocketFile(string path)
    {
        try
        {
            if (!Transport.UnixIdentity.CanReadOwner || !Transport.UnixIdentity.TryLstat(path, out var info)) return;
            if (!info.IsSocket || info.OwnerId != Transport.UnixIdentity.EffectiveUserId)
            {
                ElectionLog.SocketPathOccupied(_logger, path, info.IsSocket ? $"a socket of uid {info.OwnerId}" : $"not a socket (mode {info.PermissionsText}, type 0x{info.Mode & 0xF000:x})");
                return;
            }
            File.Delete(path);
            ElectionLog.StaleSocketRemoved(_logger, path);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            // Bind reports the real problem next.
        }
    }

    private static Socket? TryListenUnix(string path)
    {
        var socket = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
        try
        {
            // bind(2) on an existing path fails (EADDRINUSE) whoever listens there: exclusive like a TCP port.
            socket.Bind(new UnixDomainSocketEndPoint(path));
            if (!OperatingSystem.IsWindows()) File.SetUnixFileMode(path, UnixFileMode.UserRead | UnixFileMode.UserWrite);
            socket.Listen(512);
            return socket;
        }
        catch (SocketException ex) when (ex.SocketErrorCode is SocketError.AddressAlreadyInUse)
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

    /// <summary>True when nothing accepts connections on <paramref name="endPoint"/> (refused, or no socket file).</summary>
    /// <remarks>A hung (stopped) listener still completes connections into its backlog, so it is not stale.</remarks>
    public static async Task<bool> IsStaleAsync(EndPoint endPoint, CancellationToken cancellationToken)
    {
        using var socket = endPoint is UnixDomainSocketEndPoint
            ? new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified)
            : new Socket(endPoint.AddressFamily, SocketType.Stream, ProtocolType.Tcp);
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        timeout.CancelAfter(ProbeTimeout);
        try
        {
            await socket.ConnectAsync(endPoint, timeout.Token).ConfigureAwait(false);
            return false;
        }
        catch (SocketException ex)
        {
            return ex.SocketErrorCode == SocketError.ConnectionRefused
                || (endPoint is UnixDomainSocketEndPoint unix && !File.Exists(unix.ToString()));
        }
        catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
        {
            return false; // slow to answer is not proof of absence
        }
    }
}
