using System.Net;
using System.Security.Cryptography.X509Certificates;

namespace ClusterSharing;

public sealed partial class ClusterClientOptions
{
    /// <summary>
    /// The cluster scope on etcd, set by <see cref="UseEtcd"/>; null (default) for the machine scope, where processes of
    /// one machine share a leader with no server.
    /// </summary>
    public EtcdOptions? Etcd { get; set; }

    /// <summary>
    /// Cluster scope: the host (an IP address or a DNS name) other machines connect to when this process leads; the
    /// leader publishes it, with <see cref="Port"/>, through the engine. Defaults to <see cref="BindAddress"/> when
    /// that is a specific address.
    /// </summary>
    public string? AdvertiseAddress { get; set; }

    /// <summary>
    /// Cluster scope: the TLS certificate (with its private key) a leader presents. Default: a self-signed certificate
    /// generated at start, whose SHA-256 fingerprint followers pin from the engine. <see cref="UseCertificatePem"/> loads
    /// one from PEM files instead.
    /// </summary>
    public X509Certificate2? Certificate { get; set; }

    /// <summary>Cluster scope: PEM file of the leader's TLS certificate (see <see cref="UseCertificatePem"/>).</summary>
    public string? CertificatePemFile { get; set; }

    /// <summary>Cluster scope: PEM file of the certificate's private key; null when it is inside <see cref="CertificatePemFile"/>.</summary>
    public string? CertificateKeyPemFile { get; set; }

    /// <summary>
    /// Elects one leader for the whole cluster on etcd instead of one per machine. Followers on every machine connect
    /// to the leader's <see cref="AdvertiseAddress"/>:<see cref="Port"/> over TLS 1.3 and authenticate with the
    /// <see cref="Secret"/>, which every machine must share.
    /// </summary>
    /// <param name="endpoints">etcd client URLs, comma-separated (<c>http://etcd-1:2379,http://etcd-2:2379</c>).</param>
    /// <param name="configure">Sets the key prefix, cluster name, lease TTL and etcd credentials.</param>
    /// <returns>These options.</returns>
    public ClusterClientOptions UseEtcd(string endpoints, Action<EtcdOptions>? configure = null)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(endpoints);
        var etcd = new EtcdOptions();
        foreach (var endpoint in endpoints.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
            etcd.Endpoints.Add(endpoint);
        configure?.Invoke(etcd);
        Etcd = etcd;
        return this;
    }

    /// <summary>Loads the leader's TLS certificate from PEM files when the client is created.</summary>
    /// <param name="certificatePath">The certificate (PEM).</param>
    /// <param name="keyPath">Its unencrypted private key (PEM); null when it is inside <paramref name="certificatePath"/>.</param>
    /// <returns>These options.</returns>
    public ClusterClientOptions UseCertificatePem(string certificatePath, string? keyPath = null)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(certificatePath);
        CertificatePemFile = certificatePath;
        CertificateKeyPemFile = keyPath;
        return this;
    }

    private void ValidateCluster()
    {
        if (Etcd is null && Redis is null)
        {
            if (AdvertiseAddress is not null || Certificate is not null || CertificatePemFile is not null)
                throw new ArgumentException("AdvertiseAddress and the TLS certificate options apply to a cluster scope only; call UseEtcd(...) or UseRedis(...) too, or remove them.", nameof(AdvertiseAddress));
            return;
        }
        if (Etcd is not null && Redis is not null)
            throw new ArgumentException("UseEtcd and UseRedis were both called: a cluster is elected on one engine; keep one.", nameof(Redis));
        Etcd?.Validate();
        Redis?.Validate();
        if (SingleMode)
            throw new ArgumentException($"SingleMode shares the client inside one process and cannot be combined with UseEtcd; unset it (or {SingleModeEnvironmentVariable}).", nameof(SingleMode));
        if (Transport != ClusterTransport.Tcp)
            throw new ArgumentException("A cluster scope (UseEtcd) connects machines over TCP with TLS; leave Transport at Tcp.", nameof(Transport));
        if (Secret is null)
            throw new ArgumentException($"A cluster scope (UseEtcd) needs a Secret shared by every machine (UseSecret(...) or {SecretEnvironmentVariable}): followers and the leader authenticate each other with it on top of TLS.", nameof(Secret));
        if (AdvertiseAddress is not null && (AdvertiseAddress.Length == 0 || AdvertiseAddress.Length > 253 || Uri.CheckHostName(AdvertiseAddress) == UriHostNameType.Unknown))
            throw new ArgumentException($"AdvertiseAddress \"{AdvertiseAddress}\" is not a host name or IP address.", nameof(AdvertiseAddress));
        if (AdvertiseAddress is null && (BindAddress.Equals(IPAddress.Any) || BindAddress.Equals(IPAddress.IPv6Any)))
            throw new ArgumentException($"BindAddress is {BindAddress} (every interface), so other machines cannot be told where to connect: set AdvertiseAddress to this machine's address or name.", nameof(AdvertiseAddress));
        if (Certificate is not null && CertificatePemFile is not null)
            throw new ArgumentException("Give the TLS certificate either as Certificate or as PEM files (UseCertificatePem), not both.", nameof(Certificate));
        if (Certificate is { HasPrivateKey: false })
            throw new ArgumentException($"The TLS Certificate ({Certificate.Subject}) has no private key; a leader needs one to serve TLS.", nameof(Certificate));
        if (CertificateKeyPemFile is not null && CertificatePemFile is null)
            throw new ArgumentException("CertificateKeyPemFile was set without CertificatePemFile.", nameof(CertificateKeyPemFile));
    }
}
