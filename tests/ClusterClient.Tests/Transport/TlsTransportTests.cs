using System.Collections.Concurrent;
using System.Net.Sockets;
using System.Security.Authentication;
using System.Security.Cryptography.X509Certificates;
using ClusterSharing.Tests.Protocol;
using ClusterSharing.Transport;
using static ClusterSharing.Tests.Transport.ConnectionFixture;

namespace ClusterSharing.Tests.Transport;

public sealed class TlsTransportTests : IDisposable
{
    private static readonly TimeSpan Handshake = TimeSpan.FromSeconds(10);
    private readonly X509Certificate2 _certificate = TlsCertificate.CreateSelfSigned();
    private readonly Listener _listener = new("tcp");

    public void Dispose()
    {
        _listener.Dispose();
        _certificate.Dispose();
    }

    [Fact]
    public async Task A_follower_pinning_the_leaders_fingerprint_exchanges_every_packet_type_over_TLS_1_3()
    {
        var accept = AcceptAsync();
        await using var client = await TlsTransport.ConnectAsync(_listener.EndPoint, TlsCertificate.Fingerprint(_certificate), null, Handshake);
        await using var server = await accept;
        Assert.Equal(SslProtocols.Tls13, client.TlsProtocol);
        Assert.Equal(SslProtocols.Tls13, server.TlsProtocol);

        var samples = PacketSamples.All();
        await AssertDeliveredAsync(client, server, samples);
        await AssertDeliveredAsync(server, client, samples);
    }

    [Fact]
    public async Task A_follower_refuses_a_leader_whose_certificate_is_not_the_pinned_one_and_the_leader_says_why()
    {
        using var other = TlsCertificate.CreateSelfSigned();
        var accept = AcceptAsync();

        var refused = await Assert.ThrowsAsync<ClusterClientException>(() =>
            TlsTransport.ConnectAsync(_listener.EndPoint, TlsCertificate.Fingerprint(other), null, Handshake));

        Assert.Contains(TlsCertificate.Fingerprint(_certificate), refused.Message);
        Assert.Contains(TlsCertificate.Fingerprint(other), refused.Message);
        // TLS 1.3: the leader's half of the handshake may finish before the follower's rejection; it then learns it on the first read.
        await using var leaderSide = await accept.WaitAsync(TestTimeout);
        var closed = await leaderSide.RunAsync(_ => default).WaitAsync(TestTimeout);
        Assert.Contains("rejects the leader's certificate", closed.Message);
    }

    [Fact]
    public async Task A_TLS_leader_refuses_a_plain_TCP_follower_with_a_clear_error()
    {
        var accept = AcceptAsync();
        using var plain = await _listener.ConnectRawAsync();
        await plain.SendAsync(new byte[] { 0x43, 0x43, 0x01, 0x00, 0, 0, 0, 0 });

        await AssertLeaderRefusesAsync(accept, "plain (unencrypted) data");
        // The plain peer sees the connection closed, not a hang.
        var buffer = new byte[16];
        int n = await plain.ReceiveAsync(buffer, SocketFlags.None).WaitAsync(TestTimeout);
        Assert.Equal(0, n);
    }

    [Fact]
    public async Task A_TLS_follower_refuses_a_plain_TCP_leader_with_a_clear_error()
    {
        var accepted = _listener.AcceptAsync();
        var connect = TlsTransport.ConnectAsync(_listener.EndPoint, TlsCertificate.Fingerprint(_certificate), null, Handshake);
        await using (var plainLeader = new FrameConnection(await accepted))
        {
            _ = plainLeader.RunAsync(_ => default); // a plain leader closes a connection whose first bytes are not a frame
            var refused = await Assert.ThrowsAsync<ClusterClientException>(() => connect);
            Assert.Contains("not a TLS 1.3 leader", refused.Message);
        }
    }

    [Fact]
    public void A_certificate_loads_from_PEM_files_with_the_same_fingerprint()
    {
        var directory = Directory.CreateTempSubdirectory("cc-tls-");
        try
        {
            string certificatePath = Path.Combine(directory.FullName, "leader.crt");
            string keyPath = Path.Combine(directory.FullName, "leader.key");
            File.WriteAllText(certificatePath, _certificate.ExportCertificatePem());
            File.WriteAllText(keyPath, _certificate.GetECDsaPrivateKey()!.ExportPkcs8PrivateKeyPem());

            using var loaded = TlsCertificate.LoadPem(certificatePath, keyPath);

            Assert.True(loaded.HasPrivateKey);
            Assert.Equal(TlsCertificate.Fingerprint(_certificate), TlsCertificate.Fingerprint(loaded));
            var missing = Assert.Throws<ClusterClientException>(() => TlsCertificate.LoadPem(certificatePath + ".nope", keyPath));
            Assert.Contains("does not exist", missing.Message);
            var keyless = Assert.Throws<ClusterClientException>(() => TlsCertificate.LoadPem(certificatePath, null));
            Assert.Contains("private key", keyless.Message);
        }
        finally
        {
            directory.Delete(recursive: true);
        }
    }

    [Fact]
    public void Fingerprints_compare_regardless_of_case_and_separators()
    {
        string fingerprint = TlsCertificate.Fingerprint(_certificate);
        Assert.Equal(64, fingerprint.Length);
        string separated = string.Join(":", Enumerable.Range(0, 32).Select(i => fingerprint.Substring(i * 2, 2).ToLowerInvariant()));
        Assert.True(TlsCertificate.SameFingerprint(fingerprint, separated));
        Assert.False(TlsCertificate.SameFingerprint(fingerprint, fingerprint[..^1] + (fingerprint[^1] == '0' ? '1' : '0')));
    }

    private async Task<FrameConnection> AcceptAsync()
    {
        var socket = await _listener.AcceptAsync();
        return await TlsTransport.AcceptAsync(socket, _certificate, null, Handshake);
    }

    private static async Task AssertLeaderRefusesAsync(Task<FrameConnection> accept, string expected)
    {
        var refused = await Assert.ThrowsAsync<ClusterClientException>(() => accept.WaitAsync(TestTimeout));
        Assert.Contains(expected, refused.Message);
    }

    private static async Task AssertDeliveredAsync(FrameConnection from, FrameConnection to, IReadOnlyList<PacketSamples.Sample> samples)
    {
        int received = 0;
        var done = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var errors = new ConcurrentQueue<Exception>();
        _ = to.RunAsync(frame =>
        {
            try { samples[received].Verify(frame); }
            catch (Exception e) { errors.Enqueue(e); }
            if (++received == samples.Count) done.TrySetResult();
            return default;
        });
        foreach (var sample in samples) Assert.True(sample.Send(from));
        await from.FlushAsync().AsTask().WaitAsync(TestTimeout);
        await done.Task.WaitAsync(TestTimeout);
        Assert.Empty(errors);
    }
}
