using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;

namespace ClusterSharing.Transport;

/// <summary>The leader's TLS certificate: user-supplied (PEM files or an <see cref="X509Certificate2"/>) or self-signed at start.</summary>
internal static class TlsCertificate
{
    /// <summary>
    /// A fresh self-signed certificate (ECDSA P-256, valid from a day ago for a year). Nothing trusts it by chain:
    /// followers pin its <see cref="Fingerprint"/>, which the leader publishes through the election engine.
    /// </summary>
    public static X509Certificate2 CreateSelfSigned(string subjectName = "cluster-client")
    {
        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var request = new CertificateRequest($"CN={subjectName}", key, HashAlgorithmName.SHA256);
        request.CertificateExtensions.Add(new X509BasicConstraintsExtension(false, false, 0, critical: true));
        request.CertificateExtensions.Add(new X509KeyUsageExtension(X509KeyUsageFlags.DigitalSignature, critical: true));
        request.CertificateExtensions.Add(new X509EnhancedKeyUsageExtension([new Oid("1.3.6.1.5.5.7.3.1")], critical: false)); // server auth
        var now = DateTimeOffset.UtcNow;
        using var ephemeral = request.CreateSelfSigned(now.AddDays(-1), now.AddYears(1));
        // A PKCS#12 round trip gives a key every platform's TLS stack can use for a server.
        return X509CertificateLoader.LoadPkcs12(ephemeral.Export(X509ContentType.Pkcs12), password: null);
    }

    /// <summary>The certificate the options name (<see cref="ClusterClientOptions.Certificate"/>, PEM files), else a new self-signed one.</summary>
    /// <exception cref="ClusterClientException">The given certificate cannot serve TLS.</exception>
    public static X509Certificate2 FromOptions(ClusterClientOptions options)
    {
        if (options.Certificate is { } certificate) return Validate(certificate, "ClusterClientOptions.Certificate");
        if (options.CertificatePemFile is { } path) return LoadPem(path, options.CertificateKeyPemFile);
        return CreateSelfSigned();
    }

    /// <summary>Loads a certificate and its private key from PEM files (the key may be inside the certificate file).</summary>
    /// <exception cref="ClusterClientException">A file is missing or does not hold a certificate with its private key.</exception>
    public static X509Certificate2 LoadPem(string certificatePath, string? keyPath)
    {
        foreach (var path in new[] { certificatePath, keyPath })
        {
            if (path is not null && !File.Exists(path))
                throw new ClusterClientException($"The TLS certificate file {path} does not exist; give the path of a PEM file.");
        }
        X509Certificate2 certificate;
        try
        {
            certificate = X509Certificate2.CreateFromPemFile(certificatePath, keyPath);
        }
        catch (CryptographicException e)
        {
            throw new ClusterClientException(
                $"Could not load a TLS certificate with its private key from {certificatePath}{(keyPath is null ? "" : $" and {keyPath}")}: {e.Message}. " +
                "Give a PEM certificate and its unencrypted PEM private key (PKCS#8, RSA or EC).", e);
        }
        return Validate(certificate, certificatePath);
    }

    /// <summary>Checks a user-supplied certificate can serve TLS.</summary>
    /// <exception cref="ClusterClientException">It has no private key or is outside its validity period.</exception>
    public static X509Certificate2 Validate(X509Certificate2 certificate, string source)
    {
        if (!certificate.HasPrivateKey)
            throw new ClusterClientException($"The TLS certificate from {source} ({certificate.Subject}) has no private key; a leader needs one to serve TLS.");
        var now = DateTime.Now;
        if (now < certificate.NotBefore || now > certificate.NotAfter)
            throw new ClusterClientException($"The TLS certificate from {source} ({certificate.Subject}) is valid only from {certificate.NotBefore:u} to {certificate.NotAfter:u}.");
        return certificate;
    }

    /// <summary>SHA-256 of the certificate (DER), as 64 upper-case hex digits: what followers pin.</summary>
    public static string Fingerprint(X509Certificate certificate) => certificate.GetCertHashString(HashAlgorithmName.SHA256);

    /// <summary>Whether two fingerprints name the same certificate (case and ':' separators ignored, constant time).</summary>
    public static bool SameFingerprint(string a, string b)
    {
        static byte[] Normalize(string s) => System.Text.Encoding.ASCII.GetBytes(s.Replace(":", "", StringComparison.Ordinal).ToUpperInvariant());
        return CryptographicOperations.FixedTimeEquals(Normalize(a), Normalize(b));
    }
}
