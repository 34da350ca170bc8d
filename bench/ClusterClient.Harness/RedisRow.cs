using System.CommandLine;
using ClusterSharing.EngineTests.Coordination.Redis;

namespace ClusterSharing.Harness;

/// <summary>
/// The Redis row (<c>Harness redis</c>), beside etcd's: the same measurements (cross-machine invoke vs a raw TLS echo,
/// failover on graceful resign and on SIGKILL) with the leader elected on a local redis-server with persistence off.
/// </summary>
internal static class RedisRow
{
    public static Command BuildCommand() => EtcdRow.BuildCommand(new EtcdRow.Engine("redis",
        "Cluster scope on a local redis-server (Debian package redis-server, persistence off): cross-machine invoke p50 vs a " +
        "raw TLS echo, and failover with graceful resign and with kill -9, workers on 127.0.0.1/.2/.3.",
        async () => { var redis = await RedisServer.StartAsync().ConfigureAwait(false); return (redis, redis.Endpoint); },
        (o, address, ttl) => o.UseRedis(address, r => { r.ClusterName = "harness"; r.LeaseTtl = ttl; })));
}
