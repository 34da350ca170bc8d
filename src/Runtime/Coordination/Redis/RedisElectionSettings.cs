using System.Net;
using System.Security.Cryptography.X509Certificates;

namespace ClusterSharing.Coordination.Redis;

/// <summary>Everything the Redis engine needs, already validated (built from the public options).</summary>
internal sealed record RedisElectionSettings
{
    /// <summary>Redis servers as host:port.</summary>
    public required IReadOnlyList<string> Endpoints { get; init; }

    /// <summary>Keys live under <c>{KeyPrefix}:{{ClusterName}}:</c> (one hash slot per cluster name).</summary>
    public string KeyPrefix { get; init; } = "cluster-client";

    /// <summary>One election per cluster name.</summary>
    public required string ClusterName { get; init; }

    /// <summary>The leader key's time to live: how long a dead or hung leader's key outlives it.</summary>
    public TimeSpan LeaseTtl { get; init; } = TimeSpan.FromSeconds(5);

    /// <summary>Redis logical database.</summary>
    public int Database { get; init; }

    /// <summary>Redis ACL user; null for the default user.</summary>
    public string? User { get; init; }

    /// <summary>Redis password; null without AUTH.</summary>
    public string? Password { get; init; }

    /// <summary>TLS to Redis.</summary>
    public bool UseTls { get; init; }

    /// <summary>The name expected in Redis's certificate.</summary>
    public string? TlsHost { get; init; }

    /// <summary>The CA that signed Redis's certificate (null: the system's trust store).</summary>
    public X509Certificate2? TrustedCertificateAuthority { get; init; }

    /// <summary>This process's certificate for Redis servers that require client certificates.</summary>
    public X509Certificate2? ClientCertificate { get; init; }

    /// <summary>Where a leader listens (port 0: any free port).</summary>
    public IPEndPoint Listen { get; init; } = new(IPAddress.Any, 0);

    /// <summary>The host followers connect to (an IP address or a DNS name); the listener's address when null.</summary>
    public string? AdvertiseHost { get; init; }

    /// <summary>The certificate a leader serves TLS with; null: plain connections (engine tests only).</summary>
    public X509Certificate2? Certificate { get; init; }

    /// <summary>SHA-256 fingerprint of the leader's TLS certificate, published with its endpoint for followers to pin.</summary>
    public string? CertificateFingerprint { get; init; }

    /// <summary>Bully priority: among live eligible candidates the highest weight leads.</summary>
    public int Weight { get; init; }

    /// <summary>False: this member never campaigns nor registers as a candidate.</summary>
    public bool Eligible { get; init; } = true;

    /// <summary>Settings for a node whose options were validated with <see cref="ClusterClientOptions.UseRedis"/>.</summary>
    /// <param name="options">Validated options with <see cref="ClusterClientOptions.Redis"/> set.</param>
    /// <param name="certificate">The certificate this node serves TLS with when it leads (null: settings for the member registry, which serves nothing).</param>
    public static RedisElectionSettings FromOptions(ClusterClientOptions options, X509Certificate2? certificate)
    {
        var redis = options.Redis ?? throw new ArgumentException("The options have no Redis scope; call UseRedis first.", nameof(options));
        return new RedisElectionSettings
        {
            Endpoints = [.. redis.Endpoints],
            KeyPrefix = redis.KeyPrefix,
            ClusterName = redis.ClusterName,
            LeaseTtl = redis.LeaseTtl,
            Database = redis.Database,
            User = redis.User,
            Password = redis.Password,
            UseTls = redis.UseTls,
            TlsHost = redis.TlsHost,
            TrustedCertificateAuthority = redis.TrustedCertificateAuthority,
            ClientCertificate = redis.ClientCertificate,
            Listen = new IPEndPoint(options.BindAddress, options.Port),
            AdvertiseHost = options.AdvertiseAddress,
            Certificate = certificate,
            CertificateFingerprint = certificate is null ? null : Transport.TlsCertificate.Fingerprint(certificate),
            Weight = options.Weight,
            Eligible = options.Eligible,
        };
    }

    private string Tag => $"{KeyPrefix}:{{{ClusterName}}}";

    /// <summary>The leader key: the leader record with its epoch, set with NX and a time to live.</summary>
    public string LeaderKey => Tag + ":leader";

    /// <summary>The fencing counter (INCR) the epochs come from.</summary>
    public string EpochKey => Tag + ":epoch";

    /// <summary>Hash of live candidates: id to "expires|weight|joined|highest epoch seen" (Redis clock, milliseconds).</summary>
    public string CandidatesKey => Tag + ":candidates";

    /// <summary>Set for one TTL when a campaign finds no epoch counter (first start, data lost): nobody is elected meanwhile.</summary>
    public string SettleKey => Tag + ":settle";

    /// <summary>Hash of live members: id to "expires|version|record" (Redis clock, milliseconds; <see cref="RedisMemberRegistry"/>).</summary>
    public string MembersKey => Tag + ":members";

    /// <summary>Pub/sub channel of the member registry: a message whenever a member registers, changes or goes.</summary>
    public string MembersChannel => Tag + ":member-events";

    /// <summary>Pub/sub channel: "elected", "resigned", "candidate", "settling".</summary>
    public string Channel => Tag + ":events";

    /// <summary>A leader steps down this long before its key could expire on the server: a fifth of the TTL, at least 250 ms.</summary>
    public TimeSpan SafetyMargin => TimeSpan.FromTicks(Math.Max(LeaseTtl.Ticks / 5, TimeSpan.FromMilliseconds(250).Ticks));

    /// <summary>Renewal and registration period: a quarter of the TTL, so two lost renewals still leave time before the safety deadline.</summary>
    public TimeSpan RenewEvery => LeaseTtl / 4;

    /// <summary>Deadline of one Redis request: a third of the TTL, at most 2 s.</summary>
    public TimeSpan RequestTimeout => TimeSpan.FromTicks(Math.Min(LeaseTtl.Ticks / 3, TimeSpan.FromSeconds(2).Ticks));

    /// <summary>The endpoints for messages ("redis-1:6379, redis-2:6379").</summary>
    public string EndpointList => string.Join(", ", Endpoints);
}
