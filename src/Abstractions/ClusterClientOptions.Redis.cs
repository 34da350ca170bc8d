namespace ClusterSharing;

public sealed partial class ClusterClientOptions
{
    /// <summary>The cluster scope on Redis, set by <see cref="UseRedis"/>; null (default) when not on Redis.</summary>
    public RedisOptions? Redis { get; set; }

    /// <summary>
    /// Elects one leader for the whole cluster on Redis instead of one per machine (Bully priority by
    /// <see cref="Weight"/>). Followers on every machine connect to the leader's <see cref="AdvertiseAddress"/>:<see cref="Port"/>
    /// over TLS 1.3 and authenticate with the <see cref="Secret"/>, which every machine must share.
    /// </summary>
    /// <param name="configuration">Redis endpoints, comma-separated (<c>redis-1:6379,redis-2:6379</c>), optionally with
    /// <c>password=</c>, <c>user=</c>, <c>ssl=true</c> (see <see cref="RedisOptions.AddConfiguration"/>).</param>
    /// <param name="configure">Sets the key prefix, cluster name, lease TTL, credentials and TLS to Redis.</param>
    /// <returns>These options.</returns>
    public ClusterClientOptions UseRedis(string configuration, Action<RedisOptions>? configure = null)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(configuration);
        var redis = new RedisOptions();
        redis.AddConfiguration(configuration);
        configure?.Invoke(redis);
        Redis = redis;
        return this;
    }
}
