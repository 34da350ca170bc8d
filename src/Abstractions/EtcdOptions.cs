using System.Security.Cryptography.X509Certificates;

namespace ClusterSharing;

/// <summary>
/// The etcd engine for a cluster scope (<see cref="ClusterClientOptions.UseEtcd"/>): one leader for every process of
/// the cluster, on every machine, elected with a lease-bound key on etcd.
/// </summary>
public sealed class EtcdOptions
{
    /// <summary>Shortest accepted <see cref="LeaseTtl"/>: etcd itself does not grant shorter leases with its default election timeout.</summary>
    public static readonly TimeSpan MinLeaseTtl = TimeSpan.FromSeconds(2);

    /// <summary>etcd client URLs (<c>http://etcd-1:2379</c>, or <c>https://</c> for TLS); the next one is tried when one fails.</summary>
    public IList<string> Endpoints { get; } = new List<string>();

    /// <summary>Every key lives under this prefix. Default <c>/cluster-client</c>.</summary>
    public string KeyPrefix { get; set; } = "/cluster-client";

    /// <summary>
    /// Processes with the same cluster name (and <see cref="KeyPrefix"/>) share one leader: the key is
    /// <c>{KeyPrefix}/{ClusterName}/leader</c>. Default <c>default</c>.
    /// </summary>
    public string ClusterName { get; set; } = "default";

    /// <summary>
    /// Time to live of the leader's lease, in whole seconds (at least 2). A killed or hung leader is replaced after at
    /// most this long; a leader that cannot reach etcd steps down a margin (a fifth of it) before it runs out. Shorter
    /// means faster failover but more keep-alive traffic and more step-downs when etcd is briefly slow. Default 5 s.
    /// </summary>
    public TimeSpan LeaseTtl { get; set; } = TimeSpan.FromSeconds(5);

    /// <summary>etcd user, when etcd has authentication enabled; use https endpoints so the password is encrypted.</summary>
    public string? Username { get; set; }

    /// <summary>The etcd user's password.</summary>
    public string? Password { get; set; }

    /// <summary>For https endpoints: the certificate authority that signed etcd's server certificate (default: the system's trust store).</summary>
    public X509Certificate2? TrustedCertificateAuthority { get; set; }

    /// <summary>For https endpoints that require client certificates (<c>--client-cert-auth</c>): this process's certificate with its key.</summary>
    public X509Certificate2? ClientCertificate { get; set; }

    /// <summary>Checks every setting and throws <see cref="ArgumentException"/> naming the first bad one.</summary>
    public void Validate()
    {
        if (Endpoints.Count == 0)
            throw new ArgumentException("UseEtcd needs at least one etcd endpoint, such as \"http://etcd-1:2379\".", nameof(Endpoints));
        foreach (var endpoint in Endpoints)
        {
            if (!Uri.TryCreate(endpoint, UriKind.Absolute, out var uri) || (uri.Scheme != Uri.UriSchemeHttp && uri.Scheme != Uri.UriSchemeHttps)
                || string.IsNullOrEmpty(uri.Host) || uri.AbsolutePath != "/")
            {
                throw new ArgumentException($"The etcd endpoint \"{endpoint}\" is not a client URL like http://etcd-1:2379 or https://10.0.0.5:2379.", nameof(Endpoints));
            }
        }
        if (string.IsNullOrEmpty(KeyPrefix) || KeyPrefix[0] != '/' || KeyPrefix.Length > 256)
            throw new ArgumentException($"KeyPrefix must start with '/' and be at most 256 characters (was \"{KeyPrefix}\").", nameof(KeyPrefix));
        if (string.IsNullOrEmpty(ClusterName) || ClusterName.Length > 128 || ClusterName.Contains('/'))
            throw new ArgumentException($"ClusterName must be 1 to 128 characters without '/' (was \"{ClusterName}\").", nameof(ClusterName));
        if (LeaseTtl < MinLeaseTtl || LeaseTtl > TimeSpan.FromHours(1) || LeaseTtl.Ticks % TimeSpan.TicksPerSecond != 0)
            throw new ArgumentException($"LeaseTtl must be a whole number of seconds from 2 to 3600 (was {LeaseTtl}); etcd leases count in seconds.", nameof(LeaseTtl));
        if (Username is not null && (Username.Length == 0 || Password is null))
            throw new ArgumentException("An etcd Username needs a Password (and a non-empty name); leave both null when etcd has no authentication.", nameof(Username));
        if (Password is not null && Username is null)
            throw new ArgumentException("An etcd Password was set without a Username.", nameof(Password));
        if (ClientCertificate is { HasPrivateKey: false })
            throw new ArgumentException($"The etcd ClientCertificate ({ClientCertificate.Subject}) has no private key.", nameof(ClientCertificate));
    }
}
