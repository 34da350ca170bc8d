using ClusterSharing.Coordination.Etcd;
using ClusterSharing.Coordination.Local;
using ClusterSharing.Coordination.Redis;
using ClusterSharing.Liveness;
using Microsoft.Extensions.Logging;

namespace ClusterSharing.Coordination;

/// <summary>Creates the election engine of one node.</summary>
/// <param name="options">The node's options (scope, port, heartbeat interval, state directory, ...).</param>
/// <param name="monitor">The node's monitor thread, for engines that renew on it rather than on the thread pool.</param>
/// <param name="logger">The node's logger.</param>
internal delegate ILeaderElection LeaderElectionFactory(ClusterClientOptions options, LivenessMonitor monitor, ILogger logger);

/// <summary>Chooses the election engine from the options: the one place that knows the engines by name.</summary>
internal static class LeaderElections
{
    /// <summary>The factory for <paramref name="options"/>: etcd or Redis for a cluster scope (<see cref="ClusterClientOptions.UseEtcd"/>, <see cref="ClusterClientOptions.UseRedis"/>), else the local engine (lease file + port).</summary>
    public static LeaderElectionFactory For(ClusterClientOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        if (options.Etcd is not null) return static (o, _, logger) => EtcdElection.FromOptions(o, logger);
        if (options.Redis is not null) return static (o, _, logger) => RedisElection.FromOptions(o, logger);
        return static (o, monitor, logger) => new LocalElection(o, monitor, logger);
    }

    /// <summary>The member registry of a cluster scope (etcd, Redis); null on a machine scope, where the leader's view is the only one.</summary>
    public static IMemberRegistry? RegistryFor(ClusterClientOptions options, ILogger logger)
    {
        ArgumentNullException.ThrowIfNull(options);
        if (options.SingleMode) return null;
        if (options.Etcd is not null) return EtcdMemberRegistry.FromOptions(options, logger);
        if (options.Redis is not null) return RedisMemberRegistry.FromOptions(options, logger);
        return null;
    }

    /// <summary>
    /// The secret peers of this scope prove they know: none for <see cref="ClusterSecurity.Open"/>, the configured
    /// <see cref="ClusterClientOptions.Secret"/>, else the per-user secret file in the verified state directory.
    /// </summary>
    public static byte[]? PeerSecret(ClusterClientOptions options) => StateDirectory.PeerSecret(options);
}
