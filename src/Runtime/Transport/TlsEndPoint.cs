using System.Net;
using System.Net.Sockets;

namespace ClusterSharing.Transport;

/// <summary>
/// A leader endpoint reached over TLS 1.3, accepting only the certificate with <see cref="CertificateFingerprint"/>.
/// <see cref="FrameConnection.ConnectAsync"/> runs the TLS handshake for it, so callers connect to a TLS leader and a
/// plain one the same way.
/// </summary>
/// <param name="inner">The TCP endpoint (an <see cref="IPEndPoint"/> or a <see cref="DnsEndPoint"/>).</param>
/// <param name="certificateFingerprint">SHA-256 of the leader's certificate, as published by the election engine.</param>
internal sealed class TlsEndPoint(EndPoint inner, string certificateFingerprint) : EndPoint
{
    /// <summary>The TCP endpoint.</summary>
    public EndPoint Inner { get; } = inner ?? throw new ArgumentNullException(nameof(inner));

    /// <summary>The pinned certificate fingerprint.</summary>
    public string CertificateFingerprint { get; } = certificateFingerprint ?? throw new ArgumentNullException(nameof(certificateFingerprint));

    /// <inheritdoc/>
    public override AddressFamily AddressFamily => Inner.AddressFamily;

    /// <summary>"tls://address:port".</summary>
    public override string ToString() => $"tls://{Inner}";

    /// <inheritdoc/>
    public override bool Equals(object? obj) =>
        obj is TlsEndPoint other && Inner.Equals(other.Inner) && TlsCertificate.SameFingerprint(CertificateFingerprint, other.CertificateFingerprint);

    /// <inheritdoc/>
    public override int GetHashCode() => Inner.GetHashCode();
}
