using System.Buffers;
using ClusterSharing.Protocol;
using ClusterSharing.Serialization;
using MessagePack;

namespace ClusterSharing.Node.Membership;

/// <summary>
/// The member record on the wire: <c>[id, host, pid, endpoint, weight, eligible, advertisement, joinedAtMs, lastSeenMs,
/// isLeader, revision]</c>, and arrays of records or ids. Reading checks every bound (<see cref="MembershipLimits"/>).
/// </summary>
internal static class MemberCodec
{
    private const int Fields = 11;
    private const int FieldsWithServices = 12;

    public static void Write(ref MessagePackWriter writer, ClusterMember member)
    {
        writer.WriteArrayHeader(FieldsWithServices);
        writer.Write(member.Id);
        writer.Write(member.Host);
        writer.Write(member.ProcessId);
        writer.Write(member.Endpoint);
        writer.Write(member.Weight);
        writer.Write(member.Eligible);
        writer.Write(member.Advertisement.Span);
        writer.Write(member.JoinedAt.ToUnixTimeMilliseconds());
        writer.Write(member.LastSeen.ToUnixTimeMilliseconds());
        writer.Write(member.IsLeader);
        writer.Write(member.Revision);
        writer.WriteArrayHeader(member.Services.Count);
        foreach (var service in member.Services)
        {
            writer.WriteArrayHeader(3);
            writer.Write(service.Name);
            writer.Write(service.Ready);
            writer.Write(service.Config.Span);
        }
    }

    /// <exception cref="ProtocolException">A field is missing or out of bounds.</exception>
    public static ClusterMember Read(ref MessagePackReader reader)
    {
        int count = reader.ReadArrayHeader();
        if (count < Fields) throw Malformed($"a member record has {count} fields; it needs {Fields}");
        string id = reader.ReadString() ?? throw Malformed("a member id is nil");
        MembershipLimits.CheckMemberId(id);
        string host = reader.ReadString() ?? "";
        if (host.Length > MembershipLimits.MaxHostLength) throw Malformed($"a host name is {host.Length} characters (at most {MembershipLimits.MaxHostLength})");
        int pid = reader.ReadInt32();
        string? endpoint = HeaderFields.ReadOptionalString(ref reader);
        if (endpoint is { Length: > MembershipLimits.MaxHostLength }) throw Malformed("an endpoint is too long");
        int weight = reader.ReadInt32();
        bool eligible = reader.ReadBoolean();
        var advertisement = reader.ReadBytes() is { } bytes ? bytes.ToArray() : [];
        if (advertisement.Length > MembershipLimits.MaxAdvertisementBytes)
            throw Malformed($"member {id} advertises {advertisement.Length} bytes (at most {MembershipLimits.MaxAdvertisementBytes})");
        var joined = DateTimeOffset.FromUnixTimeMilliseconds(Math.Clamp(reader.ReadInt64(), 0, 253402300799999));
        var seen = DateTimeOffset.FromUnixTimeMilliseconds(Math.Clamp(reader.ReadInt64(), 0, 253402300799999));
        bool isLeader = reader.ReadBoolean();
        long revision = reader.ReadInt64();
        var services = new List<ClusterService>();
        if (count >= FieldsWithServices)
        {
            int serviceCount = reader.ReadArrayHeader();
            if (serviceCount > MembershipLimits.MaxServicesPerMember) throw Malformed($"member {id} advertises {serviceCount} services (at most {MembershipLimits.MaxServicesPerMember})");
            for (int i = 0; i < serviceCount; i++)
            {
                int parts = reader.ReadArrayHeader();
                if (parts < 3) throw Malformed("a service has fewer than 3 fields");
                string name = reader.ReadString() ?? throw Malformed("a service name is nil");
                if (MembershipLimits.DescribeBadService(name) is { } problem) throw Malformed(problem);
                bool ready = reader.ReadBoolean();
                var config = reader.ReadBytes() is { } c ? c.ToArray() : [];
                if (config.Length > MembershipLimits.MaxServiceConfigBytes) throw Malformed($"service {name} has a {config.Length}-byte configuration");
                HeaderFields.SkipExtra(ref reader, parts, 3);
                services.Add(new ClusterService(name, ready, config));
            }
        }
        HeaderFields.SkipExtra(ref reader, count, FieldsWithServices);
        return new ClusterMember(id, host, pid, endpoint, weight, eligible, advertisement, isLeader, joined, seen, revision, services);
    }

    public static byte[] Encode(ClusterMember member)
    {
        var buffer = new ArrayBufferWriter<byte>(128 + member.Advertisement.Length);
        var writer = new MessagePackWriter(buffer);
        Write(ref writer, member);
        writer.Flush();
        return buffer.WrittenSpan.ToArray();
    }

    public static byte[] EncodeMany(IReadOnlyCollection<ClusterMember> members)
    {
        var buffer = new ArrayBufferWriter<byte>(256);
        var writer = new MessagePackWriter(buffer);
        writer.WriteArrayHeader(members.Count);
        foreach (var member in members) Write(ref writer, member);
        writer.Flush();
        return buffer.WrittenSpan.ToArray();
    }

    public static byte[] EncodeIds(IReadOnlyCollection<string> ids)
    {
        var buffer = new ArrayBufferWriter<byte>(64);
        var writer = new MessagePackWriter(buffer);
        writer.WriteArrayHeader(ids.Count);
        foreach (var id in ids) writer.Write(id);
        writer.Flush();
        return buffer.WrittenSpan.ToArray();
    }

    /// <exception cref="ProtocolException">The body is not one member record within the limits.</exception>
    public static ClusterMember DecodeOne(ReadOnlySequence<byte> body, DecodingLimits limits)
    {
        var reader = Reader(body, limits);
        return Guard(ref reader, static (ref MessagePackReader r) => Read(ref r));
    }

    /// <exception cref="ProtocolException">The body is not an array of member records within the limits.</exception>
    public static List<ClusterMember> DecodeMany(ReadOnlySequence<byte> body, DecodingLimits limits)
    {
        var reader = Reader(body, limits);
        return Guard(ref reader, static (ref MessagePackReader r) =>
        {
            int count = r.ReadArrayHeader();
            var members = new List<ClusterMember>(Math.Min(count, 1024));
            for (int i = 0; i < count; i++) members.Add(Read(ref r));
            return members;
        });
    }

    /// <exception cref="ProtocolException">The body is not an array of member ids.</exception>
    public static List<string> DecodeIds(ReadOnlySequence<byte> body, DecodingLimits limits)
    {
        var reader = Reader(body, limits);
        return Guard(ref reader, static (ref MessagePackReader r) =>
        {
            int count = r.ReadArrayHeader();
            var ids = new List<string>(Math.Min(count, 1024));
            for (int i = 0; i < count; i++)
            {
                string id = r.ReadString() ?? throw Malformed("a member id is nil");
                MembershipLimits.CheckMemberId(id);
                ids.Add(id);
            }
            return ids;
        });
    }

    internal delegate T ReadFunc<T>(ref MessagePackReader reader);

    internal static MessagePackReader Reader(ReadOnlySequence<byte> body, DecodingLimits limits)
    {
        try
        {
            return WireSerializer.CreateReader(body, limits);
        }
        catch (MessagePackSerializationException ex)
        {
            throw Malformed(ex.Message);
        }
    }

    internal static T Guard<T>(ref MessagePackReader reader, ReadFunc<T> read)
    {
        try
        {
            return read(ref reader);
        }
        catch (Exception ex) when (ex is MessagePackSerializationException or InvalidOperationException or OverflowException or ArgumentException)
        {
            throw Malformed(ex.Message);
        }
    }

    internal static ProtocolException Malformed(string what) =>
        new(ProtocolErrorReason.MalformedHeaderObject, $"A membership packet's body is malformed: {what}.");
}
