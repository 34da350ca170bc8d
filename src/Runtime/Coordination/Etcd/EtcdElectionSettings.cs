using System.Net;
using System.Security.Cryptography.X509Certificates;

namespace ClusterSharing.Coordination.Etcd;

/// <summary>Everything the etcd engine needs, already validated (built from the public options).</summary>
internal sealed record EtcdElectionSettings
{
    /// <summary>etcd client URLs (http or https); tried in order, the next one when the current one fails.</summary>
    public required IReadOnlyList<Uri> Endpoints { get; init; }

    /// <summary>Keys live under this prefix: <c>{KeyPrefix}/{ClusterName}/leader</c>.</summary>
    public string KeyPrefix { get; init; } = "/cluster-client";

    /// <summary>One election per cluster name.</summary>
    public required string ClusterName { get; init; }

    /// <summary>The lease's time to live: how long a dead or hung leader's key outlives it.</summary>
    public TimeSpan LeaseTtl { get; init; } = TimeSpan.FromSeconds(5);

    /// <summary>Where a leader listens (port 0: any free port).</summary>
    public IPEndPoint Listen { get; init; } = new(IPAddress.Any, 0);

    /// <summary>The host followers connect to (an IP address or a DNS name); the listener's address when null.</summary>
    public string? AdvertiseHost { get; init; }

    /// <summary>The certificate a leader serves TLS with; null: plain connections (engine tests only).</summary>
    public X509Certificate2? Certificate { get; init; }

    /// <summary>SHA-256 fingerprint of the leader's TLS certificate, published with its endpoint for followers to pin.</summary>
    public string? CertificateFingerprint { get; init; }

    /// <summary>etcd user (role-based access control); null without authentication.</summary>
    public string? Username { get; init; }

    /// <summary>The etcd user's password.</summary>
    public string? Password { get; init; }

    /// <summary>For https endpoints: the CA that signed etcd's certificate (null: the system's trust store).</summary>
    public X509Certificate2? TrustedCertificateAuthority { get; init; }

    /// <summary>For https endpoints that require client certificates.</summary>
    public X509Certificate2? ClientCertificate { get; init; }

    /// <summary>Settings for a node whose options were validated with <see cref="ClusterClientOptions.UseEtcd"/>.</summary>
    /// <param name="options">Validated options with <see cref="ClusterClientOptions.Etcd"/> set.</param>
    /// <param name="certificate">The certificate this node serves TLS with when it leads (null: settings for the member registry, which serves nothing).</param>
    public static EtcdElectionSettings FromOptions(ClusterClientOptions options, X509Certificate2? certificate)
    {
        var etcd = options.Etcd ?? throw new ArgumentException("The options have no etcd scope; call UseEtcd first.", nameof(options));
        return new EtcdElectionSettings
        {
            Endpoints = etcd.Endpoints.Select(e => new Uri(e, UriKind.Absolute)).ToArray(),
            KeyPrefix = etcd.KeyPrefix,
            ClusterName = etcd.ClusterName,
            LeaseTtl = etcd.LeaseTtl,
            Listen = new IPEndPoint(options.BindAddress, options.Port),
            AdvertiseHost = options.AdvertiseAddress,
            Certificate = certificate,
            CertificateFingerprint = certificate is null ? null : Transport.TlsCertificate.Fingerprint(certificate),
            Username = etcd.Username,
            Password = etcd.Password,
            TrustedCertificateAuthority = etcd.TrustedCertificateAuthority,
            ClientCertificate = etcd.ClientCertificate,
        };
    }

    /// <summary>The leader key.</summary>
    public string LeaderKey => $"{KeyPrefix.TrimEnd('/')}/{ClusterName}/leader";

    /// <summary>Members register under this prefix, one key per member id (<see cref="EtcdMemberRegistry"/>).</summary>
    public string MembersPrefix => $"{KeyPrefix.TrimEnd('/')}/{ClusterName}/members/";

    /// <summary>
    /// A leader steps down this long before its lease could expire on the server: a fifth of the TTL, at least 250 ms,
    /// for clock-rate drift and the time stepping down takes.
    /// </summary>
    public TimeSpan SafetyMargin => TimeSpan.FromTicks(Math.Max(LeaseTtl.Ticks / 5, TimeSpan.FromMilliseconds(250).Ticks));

    /// <summary>Keep-alive period: a quarter of the TTL, so two lost renewals still leave time before the safety deadline.</summary>
    public TimeSpan RenewEvery => LeaseTtl / 4;

    /// <summary>Deadline of one etcd request: a third of the TTL, at most 2 s.</summary>
    public TimeSpan RequestTimeout => TimeSpan.FromTicks(Math.Min(LeaseTtl.Ticks / 3, TimeSpan.FromSeconds(2).Ticks));

    /// <summary>The endpoints for messages ("http://a:2379, http://b:2379").</summary>
    public string EndpointList => string.Join(", ", Endpoints.Select(e => e.ToString().TrimEnd('/')));
}
