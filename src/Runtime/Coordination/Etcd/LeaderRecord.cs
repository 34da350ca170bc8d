using System.Net;
using System.Text.Json;
using Google.Protobuf;

namespace ClusterSharing.Coordination.Etcd;

/// <summary>
/// The leader key's value: where the leader serves and which TLS certificate it presents, as a small JSON object
/// (<c>{"endpoint":"10.0.0.5:7777","fingerprint":"3F9A…","host":"web-3","pid":4711}</c>) so operators can read it
/// with <c>etcdctl get</c>.
/// </summary>
/// <param name="Endpoint">host:port followers connect to (an IP address or a DNS name).</param>
/// <param name="CertificateFingerprint">SHA-256 of the leader's certificate (64 hex digits); null without TLS.</param>
/// <param name="Host">The leader's machine name, for logs.</param>
/// <param name="ProcessId">The leader's process id, for logs.</param>
internal sealed record LeaderRecord(string Endpoint, string? CertificateFingerprint, string Host, int ProcessId)
{
    /// <summary>Values larger than this are not ours: refused rather than parsed.</summary>
    private const int MaxValueBytes = 4096;

    public ByteString ToByteString()
    {
        using var buffer = new MemoryStream();
        using (var json = new Utf8JsonWriter(buffer))
        {
            json.WriteStartObject();
            json.WriteString("endpoint", Endpoint);
            if (CertificateFingerprint is not null) json.WriteString("fingerprint", CertificateFingerprint);
            json.WriteString("host", Host);
            json.WriteNumber("pid", ProcessId);
            json.WriteEndObject();
        }
        return ByteString.CopyFrom(buffer.GetBuffer(), 0, (int)buffer.Length);
    }

    /// <summary>Parses a value written by <see cref="ToByteString"/>.</summary>
    /// <exception cref="FormatException">The value is not a leader record (another program wrote the key?).</exception>
    public static LeaderRecord Parse(ByteString value, string key)
    {
        if (value.Length > MaxValueBytes)
            throw new FormatException($"The etcd key {key} holds {value.Length} bytes, not a cluster-client leader record; is another program using this key prefix?");
        try
        {
            using var document = JsonDocument.Parse(value.Memory);
            var root = document.RootElement;
            string endpoint = root.GetProperty("endpoint").GetString() ?? throw new FormatException("endpoint is null");
            string? fingerprint = root.TryGetProperty("fingerprint", out var f) ? f.GetString() : null;
            string host = root.TryGetProperty("host", out var h) ? h.GetString() ?? "" : "";
            int pid = root.TryGetProperty("pid", out var p) && p.TryGetInt32(out int id) ? id : 0;
            _ = ParseEndpoint(endpoint, key);
            return new LeaderRecord(endpoint, fingerprint, host, pid);
        }
        catch (Exception e) when (e is JsonException or KeyNotFoundException or InvalidOperationException)
        {
            throw new FormatException($"The etcd key {key} does not hold a cluster-client leader record ({e.Message}); is another program using this key prefix?", e);
        }
    }

    /// <summary>The endpoint as a socket address: an <see cref="IPEndPoint"/> for an address, a <see cref="DnsEndPoint"/> for a name.</summary>
    public EndPoint ToEndPoint(string key) => ParseEndpoint(Endpoint, key);

    public static string FormatEndpoint(string host, int port) =>
        IPAddress.TryParse(host, out var address) ? new IPEndPoint(address, port).ToString() : $"{host}:{port}";

    private static EndPoint ParseEndpoint(string text, string key)
    {
        if (IPEndPoint.TryParse(text, out var ip) && ip.Port != 0) return ip;
        int colon = text.LastIndexOf(':');
        if (colon > 0 && int.TryParse(text.AsSpan(colon + 1), out int port) && port is > 0 and <= 65535)
            return new DnsEndPoint(text[..colon], port);
        throw new FormatException($"The etcd key {key} names the endpoint '{text}', which is not host:port.");
    }
}
