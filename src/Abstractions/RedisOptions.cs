using System.Security.Cryptography.X509Certificates;

namespace ClusterSharing;

/// <summary>
/// The Redis engine for a cluster scope (<see cref="ClusterClientOptions.UseRedis"/>): one leader for every process of
/// the cluster, on every machine, elected with a lease key (SET NX PX) on Redis. Redis is not a consensus store: read
/// docs/cluster.md for what that costs.
/// </summary>
public sealed class RedisOptions
{
    /// <summary>Shortest accepted <see cref="LeaseTtl"/>.</summary>
    public static readonly TimeSpan MinLeaseTtl = TimeSpan.FromSeconds(1);

    /// <summary>Redis servers as <c>host:port</c> (a primary and its replicas, or the nodes of a Redis Cluster); port 6379 when omitted.</summary>
    public IList<string> Endpoints { get; } = new List<string>();

    /// <summary>Every key lives under this prefix. Default <c>cluster-client</c>.</summary>
    public string KeyPrefix { get; set; } = "cluster-client";

    /// <summary>
    /// Processes with the same cluster name (and <see cref="KeyPrefix"/>) share one leader: the keys are
    /// <c>{KeyPrefix}:{{ClusterName}}:leader</c>, <c>:epoch</c> and <c>:candidates</c> (one hash slot). Default <c>default</c>.
    /// </summary>
    public string ClusterName { get; set; } = "default";

    /// <summary>
    /// Time to live of the leader key (at least 1 s, whole milliseconds). A killed or hung leader is replaced after at
    /// most this long; a leader that cannot reach Redis steps down a margin (a fifth of it) before it runs out; the
    /// first election on a Redis that has no epoch counter (first start, restart without persistence) waits this long.
    /// Default 5 s.
    /// </summary>
    public TimeSpan LeaseTtl { get; set; } = TimeSpan.FromSeconds(5);

    /// <summary>Redis logical database of the keys. Default 0.</summary>
    public int Database { get; set; }

    /// <summary>Redis 6 ACL user; null for the default user.</summary>
    public string? User { get; set; }

    /// <summary>Redis password (<c>AUTH</c>); use <see cref="UseTls"/> so it is encrypted.</summary>
    public string? Password { get; set; }

    /// <summary>Connect to Redis over TLS (<c>tls-port</c>).</summary>
    public bool UseTls { get; set; }

    /// <summary>With <see cref="UseTls"/>: the name expected in Redis's certificate, when it differs from the endpoint's host.</summary>
    public string? TlsHost { get; set; }

    /// <summary>With <see cref="UseTls"/>: the certificate authority that signed Redis's certificate (default: the system's trust store).</summary>
    public X509Certificate2? TrustedCertificateAuthority { get; set; }

    /// <summary>With <see cref="UseTls"/> and <c>tls-auth-clients yes</c>: this process's certificate with its key.</summary>
    public X509Certificate2? ClientCertificate { get; set; }

    /// <summary>
    /// Adds what <paramref name="configuration"/> holds: comma-separated <c>host:port</c> endpoints and, optionally,
    /// <c>user=</c>, <c>password=</c>, <c>ssl=true</c>, <c>sslHost=</c> and <c>defaultDatabase=</c> (the
    /// StackExchange.Redis spelling).
    /// </summary>
    /// <exception cref="ArgumentException">A token is neither an endpoint nor one of those settings.</exception>
    public void AddConfiguration(string configuration)
    {
        ArgumentNullException.ThrowIfNull(configuration);
        foreach (var token in configuration.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
        {
            int equals = token.IndexOf('=');
            if (equals < 0)
            {
                Endpoints.Add(token);
                continue;
            }
            string key = token[..equals].Trim(), value = token[(equals + 1)..].Trim();
            switch (key.ToLowerInvariant())
            {
                case "user": User = value; break;
                case "password": Password = value; break;
                case "ssl": UseTls = bool.TryParse(value, out bool tls) ? tls : throw Bad(token); break;
                case "sslhost": TlsHost = value; break;
                case "defaultdatabase": Database = int.TryParse(value, out int db) ? db : throw Bad(token); break;
                default: throw Bad(token);
            }
        }
    }

    /// <summary>Checks every setting and throws <see cref="ArgumentException"/> naming the first bad one.</summary>
    public void Validate()
    {
        if (Endpoints.Count == 0)
            throw new ArgumentException("UseRedis needs at least one Redis endpoint, such as \"redis-1:6379\".", nameof(Endpoints));
        foreach (var endpoint in Endpoints)
        {
            if (!IsEndpoint(endpoint))
                throw new ArgumentException($"The Redis endpoint \"{endpoint}\" is not host:port (like redis-1:6379 or 10.0.0.5:6379).", nameof(Endpoints));
        }
        if (string.IsNullOrEmpty(KeyPrefix) || KeyPrefix.Length > 256 || KeyPrefix.AsSpan().IndexOfAny('{', '}') >= 0)
            throw new ArgumentException($"KeyPrefix must be 1 to 256 characters without '{{' or '}}' (was \"{KeyPrefix}\").", nameof(KeyPrefix));
        if (string.IsNullOrEmpty(ClusterName) || ClusterName.Length > 128 || ClusterName.AsSpan().IndexOfAny('{', '}') >= 0)
            throw new ArgumentException($"ClusterName must be 1 to 128 characters without '{{' or '}}' (was \"{ClusterName}\").", nameof(ClusterName));
        if (LeaseTtl < MinLeaseTtl || LeaseTtl > TimeSpan.FromHours(1) || LeaseTtl.Ticks % TimeSpan.TicksPerMillisecond != 0)
            throw new ArgumentException($"LeaseTtl must be whole milliseconds from 1 s to 1 h (was {LeaseTtl}).", nameof(LeaseTtl));
        if (Database < 0)
            throw new ArgumentException($"Database must be 0 or more (was {Database}).", nameof(Database));
        if (User is not null && (User.Length == 0 || Password is null))
            throw new ArgumentException("A Redis User needs a Password (and a non-empty name); leave both null for the default user without AUTH.", nameof(User));
        if (!UseTls && (TlsHost is not null || TrustedCertificateAuthority is not null || ClientCertificate is not null))
            throw new ArgumentException("TlsHost, TrustedCertificateAuthority and ClientCertificate apply to TLS connections to Redis: set UseTls (or ssl=true) too.", nameof(UseTls));
        if (ClientCertificate is { HasPrivateKey: false })
            throw new ArgumentException($"The Redis ClientCertificate ({ClientCertificate.Subject}) has no private key.", nameof(ClientCertificate));
    }

    private static bool IsEndpoint(string text)
    {
        if (string.IsNullOrWhiteSpace(text) || text.Length > 300) return false;
        int colon = text.LastIndexOf(':');
        bool bracketed = text.StartsWith('[');
        string host = text, port = "6379";
        if (colon > 0 && (!text.Contains("::", StringComparison.Ordinal) || bracketed) && (!bracketed || text[colon - 1] == ']'))
        {
            host = text[..colon];
            port = text[(colon + 1)..];
        }
        host = host.Trim('[', ']');
        return int.TryParse(port, out int p) && p is > 0 and <= 65535 && Uri.CheckHostName(host) != UriHostNameType.Unknown;
    }

    private static ArgumentException Bad(string token) =>
        new($"The Redis setting \"{token}\" is not supported: give host:port endpoints and, optionally, user=, password=, ssl=true, sslHost= or defaultDatabase=.", "configuration");
}
