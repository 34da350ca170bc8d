using System.Net;
using System.Net.Security;
using System.Net.Sockets;
using System.Runtime.CompilerServices;
using System.Security.Authentication;
using System.Security.Cryptography.X509Certificates;

namespace ClusterSharing.Transport;

/// <summary>
/// TLS 1.3 over TCP for connections between machines: the leader presents its certificate, followers pin the
/// certificate's SHA-256 fingerprint that the election engine published. Frames then flow over the
/// <see cref="SslStream"/> exactly as over a plain socket; the shared secret's mutual authentication runs on top.
/// </summary>
internal static class TlsTransport
{
    /// <summary>A TLS record starts with this content type (handshake); anything else is not TLS.</summary>
    private const byte HandshakeRecord = 0x16;

    private static readonly ConditionalWeakTable<X509Certificate2, SslStreamCertificateContext> Contexts = new();

    /// <summary>
    /// The server context of <paramref name="certificate"/>, built once (it builds the certificate's chain): a failover's
    /// reconnections do not pay for it again. Call it ahead (a candidate does) to build it off the critical path.
    /// </summary>
    public static SslStreamCertificateContext ContextOf(X509Certificate2 certificate) =>
        Contexts.GetValue(certificate, static c => SslStreamCertificateContext.Create(c, additionalCertificates: null, offline: true));

    /// <summary>Leader side: runs the TLS handshake on an accepted socket and wraps it. The socket is owned (closed on failure).</summary>
    /// <exception cref="ClusterClientException">The peer spoke plain TCP, rejected our certificate, or did not finish in time.</exception>
    public static async Task<FrameConnection> AcceptAsync(Socket accepted, X509Certificate2 certificate, FrameConnectionOptions? options,
        TimeSpan handshakeTimeout, CancellationToken cancellationToken = default)
    {
        var remote = accepted.RemoteEndPoint?.ToString() ?? "(unknown)";
        var ssl = new SslStream(new NetworkStream(accepted, ownsSocket: true), leaveInnerStreamOpen: false);
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        timeout.CancelAfter(handshakeTimeout);
        try
        {
            var first = new byte[1];
            int n = await accepted.ReceiveAsync(first, SocketFlags.Peek, timeout.Token).ConfigureAwait(false);
            if (n == 1 && first[0] != HandshakeRecord)
            {
                throw new ClusterClientException(
                    $"Refused the connection from {remote}: it sent plain (unencrypted) data, but this leader accepts TLS only. " +
                    "Give every node of the cluster the same scope (UseEtcd) so followers connect with TLS.");
            }
            await ssl.AuthenticateAsServerAsync(new SslServerAuthenticationOptions
            {
                ServerCertificateContext = ContextOf(certificate),
                EnabledSslProtocols = SslProtocols.Tls13,
                ClientCertificateRequired = false,
                CertificateRevocationCheckMode = X509RevocationMode.NoCheck,
            }, timeout.Token).ConfigureAwait(false);
            return new FrameConnection(accepted, ssl, options);
        }
        catch (Exception e) when (e is AuthenticationException or IOException or SocketException
                                   || (e is OperationCanceledException && !cancellationToken.IsCancellationRequested))
        {
            await ssl.DisposeAsync().ConfigureAwait(false);
            string why = e is OperationCanceledException ? $"it did not complete within {handshakeTimeout.TotalSeconds:0.#} s" : e.Message;
            throw new ClusterClientException(
                $"TLS handshake with the follower at {remote} failed ({why}). If the follower rejected this leader's certificate, " +
                $"the fingerprint it pinned differs from ours ({TlsCertificate.Fingerprint(certificate)}).", e);
        }
        catch
        {
            await ssl.DisposeAsync().ConfigureAwait(false);
            throw;
        }
    }

    /// <summary>
    /// Follower side: connects to <paramref name="endPoint"/> and runs the TLS handshake. With
    /// <paramref name="pinnedFingerprint"/>, only the certificate with that SHA-256 fingerprint is accepted (chain and
    /// name are not checked: the pin is stronger); without it, the certificate must be valid by chain and name.
    /// </summary>
    /// <exception cref="SocketException">Nothing listens there.</exception>
    /// <exception cref="ClusterClientException">The peer is not a TLS 1.3 server, or its certificate is not the pinned one.</exception>
    public static async Task<FrameConnection> ConnectAsync(EndPoint endPoint, string? pinnedFingerprint, FrameConnectionOptions? options,
        TimeSpan handshakeTimeout, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(endPoint);
        var socket = endPoint is DnsEndPoint
            ? new Socket(SocketType.Stream, ProtocolType.Tcp)
            : new Socket(endPoint.AddressFamily, SocketType.Stream, ProtocolType.Tcp);
        try
        {
            await socket.ConnectAsync(endPoint, cancellationToken).ConfigureAwait(false);
        }
        catch
        {
            socket.Dispose();
            throw;
        }

        string target = endPoint switch
        {
            DnsEndPoint dns => dns.Host,
            IPEndPoint ip => ip.Address.ToString(),
            _ => endPoint.ToString() ?? "",
        };
        string? presented = null;
        var ssl = new SslStream(new NetworkStream(socket, ownsSocket: true), leaveInnerStreamOpen: false);
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        timeout.CancelAfter(handshakeTimeout);
        try
        {
            await ssl.AuthenticateAsClientAsync(new SslClientAuthenticationOptions
            {
                TargetHost = target,
                EnabledSslProtocols = SslProtocols.Tls13,
                CertificateRevocationCheckMode = X509RevocationMode.NoCheck,
                RemoteCertificateValidationCallback = (_, certificate, _, errors) =>
                {
                    if (certificate is null) return false;
                    presented = TlsCertificate.Fingerprint(certificate);
                    return pinnedFingerprint is not null
                        ? TlsCertificate.SameFingerprint(presented, pinnedFingerprint)
                        : errors == SslPolicyErrors.None;
                },
            }, timeout.Token).ConfigureAwait(false);
            return new FrameConnection(socket, ssl, options);
        }
        catch (Exception e) when (e is AuthenticationException or IOException or SocketException
                                   || (e is OperationCanceledException && !cancellationToken.IsCancellationRequested))
        {
            await ssl.DisposeAsync().ConfigureAwait(false);
            throw new ClusterClientException(Explain(endPoint, e, presented, pinnedFingerprint, handshakeTimeout), e);
        }
        catch
        {
            await ssl.DisposeAsync().ConfigureAwait(false);
            throw;
        }
    }

    private static string Explain(EndPoint endPoint, Exception e, string? presented, string? pinned, TimeSpan handshakeTimeout)
    {
        if (presented is not null && pinned is not null && !TlsCertificate.SameFingerprint(presented, pinned))
        {
            return $"Refused the leader at {endPoint}: its TLS certificate has SHA-256 fingerprint {presented}, but the election engine " +
                   $"published {pinned}. Another process may be listening there, or the leader's certificate changed.";
        }
        if (presented is not null)
            return $"Refused the leader at {endPoint}: its TLS certificate is not trusted ({e.Message}).";
        if (e is OperationCanceledException)
            return $"The TLS handshake with the leader at {endPoint} did not complete within {handshakeTimeout.TotalSeconds:0.#} s; is it a TLS leader?";
        return $"The TLS handshake with the leader at {endPoint} failed ({e.Message}): it is not a TLS 1.3 leader " +
               "(a plain-TCP node, or a node of another scope?).";
    }
}
