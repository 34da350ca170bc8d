using System.Net.Sockets;
using ClusterSharing.Coordination;
using ClusterSharing.Follower;
using ClusterSharing.Liveness;
using ClusterSharing.Transport;
using Microsoft.Extensions.Logging.Abstractions;

namespace ClusterSharing;

/// <summary>
/// Reads the leader's view of a cluster (who leads, its followers, channels and subscriptions) without joining it:
/// finds the leader the way a follower does (same election engine, same port or socket, same secret), authenticates
/// with the same handshake, then asks with an Inspect packet. It never campaigns and registers no channel.
/// Used by the <c>cluster-client status</c> tool.
/// </summary>
public sealed class ClusterInspector : IAsyncDisposable
{
    private readonly ClusterClientOptions _options;
    private readonly LivenessMonitor _monitor;
    private readonly ILeaderElection _election;
    private readonly LeaderConnection _connection;

    private ClusterInspector(ClusterClientOptions options, LivenessMonitor monitor, ILeaderElection election, LeaderConnection connection)
    {
        _options = options;
        _monitor = monitor;
        _election = election;
        _connection = connection;
    }

    /// <summary>
    /// Finds the leader of <see cref="ClusterClientOptions.Port"/> (or its socket, or its etcd scope) and authenticates
    /// to it. Waits at most <see cref="ClusterClientOptions.ConnectTimeout"/> for a leader that is starting.
    /// </summary>
    /// <param name="options">The options a member of that cluster uses (port, transport, state directory, secret).</param>
    /// <param name="cancellationToken">Stops the attempt.</param>
    /// <exception cref="ArgumentException">An option is invalid.</exception>
    /// <exception cref="ClusterClientException">No leader, nothing answering, a process that is not a ClusterClient leader,
    /// or authentication failed (another secret); the message says which.</exception>
    public static async Task<ClusterInspector> ConnectAsync(ClusterClientOptions options, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(options);
        options.Validate();
        if (options.SingleMode)
            throw new ClusterClientException($"SingleMode is set (ClusterClientOptions or {ClusterClientOptions.SingleModeEnvironmentVariable}): a single-mode process has no leader to inspect; unset it.");
        var logger = options.Logger ?? NullLogger.Instance;
        var monitor = new LivenessMonitor($"ClusterClient inspector :{options.Port}");
        ILeaderElection? election = null;
        try
        {
            election = LeaderElections.For(options)(options, monitor, logger);
            byte[]? secret = LeaderElections.PeerSecret(options);
            var leader = await FindLeaderAsync(election, options, cancellationToken).ConfigureAwait(false);
            var endpoint = leader.CertificateFingerprint is { } pinned ? new TlsEndPoint(leader.Endpoint, pinned) : leader.Endpoint;
            LeaderConnection connection;
            try
            {
                connection = await LeaderConnection.ConnectAsync(endpoint, options, secret, 0, monitor, static _ => { }, logger, cancellationToken).ConfigureAwait(false);
            }
            catch (SocketException ex)
            {
                throw new ClusterClientException($"No ClusterClient leader answers on {EndPointText.Describe(leader.Endpoint)} ({ex.SocketErrorCode}); is a process of this cluster running?", ex);
            }
            return new ClusterInspector(options, monitor, election, connection);
        }
        catch
        {
            if (election is not null) await election.DisposeAsync().ConfigureAwait(false);
            monitor.Dispose();
            throw;
        }
    }

    private static async Task<LeaderAddress> FindLeaderAsync(ILeaderElection election, ClusterClientOptions options, CancellationToken cancellationToken)
    {
        var deadline = DateTime.UtcNow + options.ConnectTimeout;
        while (true)
        {
            var step = await election.NextAsync(mayLead: false, cancellationToken).ConfigureAwait(false);
            switch (step)
            {
                case FollowStep follow:
                    return follow.Leader;
                case WaitStep wait when DateTime.UtcNow + wait.Delay < deadline:
                    await Task.Delay(wait.Delay > TimeSpan.Zero ? wait.Delay : TimeSpan.FromMilliseconds(20), cancellationToken).ConfigureAwait(false);
                    break;
                case WaitStep wait:
                    throw new ClusterClientException($"No leader on port {options.Port} within {options.ConnectTimeout.TotalMilliseconds:0} ms (ConnectTimeout): {wait.Status}.");
                default:
                    throw new ClusterClientException($"The election engine ({election.Description}) offered leadership to an inspector; nothing was inspected.");
            }
        }
    }

    /// <summary>Asks the leader for its current view; waits at most <see cref="ClusterClientOptions.ResponseTimeout"/>.</summary>
    /// <param name="cancellationToken">Stops waiting.</param>
    /// <exception cref="ClusterClientException">The leader closed the connection (a leader of an older version does so on
    /// an Inspect packet) or its answer is not a report.</exception>
    /// <exception cref="TimeoutException">No answer in time.</exception>
    public Task<ClusterStatus> ReadStatusAsync(CancellationToken cancellationToken = default) =>
        _connection.InspectAsync(_options.ResponseTimeout, cancellationToken);

    /// <summary>Says goodbye to the leader and releases the connection.</summary>
    public async ValueTask DisposeAsync()
    {
        await _connection.CloseAsync("the inspector is done").ConfigureAwait(false);
        await _election.DisposeAsync().ConfigureAwait(false);
        _monitor.Dispose();
    }
}
