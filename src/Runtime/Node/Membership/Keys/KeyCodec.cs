using System.Buffers;
using ClusterSharing.Serialization;
using MessagePack;

namespace ClusterSharing.Node.Membership.Keys;

/// <summary>One entry of a key owners packet: the key, its owner (null: none now) and the owner's key epoch (0: the key left the view).</summary>
internal readonly record struct KeyOwnerEntry(string Key, string? Owner, long Epoch);

/// <summary>The bodies of the leadership-per-key packets (30-34); reading checks every key against <see cref="KeyLimits"/>.</summary>
internal static class KeyCodec
{
    public static byte[] EncodeHold(IReadOnlyCollection<string> added, IReadOnlyCollection<string> removed)
    {
        var buffer = new ArrayBufferWriter<byte>(64 + 16 * (added.Count + removed.Count));
        var writer = new MessagePackWriter(buffer);
        writer.WriteArrayHeader(2);
        WriteStrings(ref writer, added);
        WriteStrings(ref writer, removed);
        writer.Flush();
        return buffer.WrittenSpan.ToArray();
    }

    /// <exception cref="Protocol.ProtocolException">The body is not <c>[added[], removed[]]</c> of valid keys.</exception>
    public static (List<string> Added, List<string> Removed) DecodeHold(ReadOnlySequence<byte> body, DecodingLimits limits)
    {
        var reader = MemberCodec.Reader(body, limits);
        return MemberCodec.Guard(ref reader, static (ref MessagePackReader r) =>
        {
            if (r.ReadArrayHeader() < 2) throw MemberCodec.Malformed("a key hold needs [added, removed]");
            return (ReadKeys(ref r), ReadKeys(ref r));
        });
    }

    public static byte[] EncodeReleases(IReadOnlyCollection<(string Key, long Epoch)> releases)
    {
        var buffer = new ArrayBufferWriter<byte>(64 + 24 * releases.Count);
        var writer = new MessagePackWriter(buffer);
        writer.WriteArrayHeader(releases.Count);
        foreach (var (key, epoch) in releases)
        {
            writer.WriteArrayHeader(2);
            writer.Write(key);
            writer.Write(epoch);
        }
        writer.Flush();
        return buffer.WrittenSpan.ToArray();
    }

    /// <exception cref="Protocol.ProtocolException">The body is not an array of <c>[key, epoch]</c>.</exception>
    public static List<(string Key, long Epoch)> DecodeReleases(ReadOnlySequence<byte> body, DecodingLimits limits)
    {
        var reader = MemberCodec.Reader(body, limits);
        return MemberCodec.Guard(ref reader, static (ref MessagePackReader r) =>
        {
            int count = r.ReadArrayHeader();
            var list = new List<(string, long)>(Math.Min(count, 1024));
            for (int i = 0; i < count; i++)
            {
                if (r.ReadArrayHeader() < 2) throw MemberCodec.Malformed("a key release needs [key, epoch]");
                list.Add((ReadKey(ref r), r.ReadInt64()));
            }
            return list;
        });
    }

    public static byte[] EncodeOwners(IReadOnlyCollection<KeyOwnerEntry> entries)
    {
        var buffer = new ArrayBufferWriter<byte>(64 + 56 * entries.Count);
        var writer = new MessagePackWriter(buffer);
        writer.WriteArrayHeader(entries.Count);
        foreach (var entry in entries)
        {
            writer.WriteArrayHeader(3);
            writer.Write(entry.Key);
            writer.Write(entry.Owner);
            writer.Write(entry.Epoch);
        }
        writer.Flush();
        return buffer.WrittenSpan.ToArray();
    }

    /// <exception cref="Protocol.ProtocolException">The body is not an array of <c>[key, owner, epoch]</c>.</exception>
    public static List<KeyOwnerEntry> DecodeOwners(ReadOnlySequence<byte> body, DecodingLimits limits)
    {
        var reader = MemberCodec.Reader(body, limits);
        return MemberCodec.Guard(ref reader, static (ref MessagePackReader r) =>
        {
            int count = r.ReadArrayHeader();
            var list = new List<KeyOwnerEntry>(Math.Min(count, 16 * 1024));
            for (int i = 0; i < count; i++)
            {
                if (r.ReadArrayHeader() < 3) throw MemberCodec.Malformed("a key owner entry needs [key, owner, epoch]");
                string key = ReadKey(ref r);
                string? owner = r.TryReadNil() ? null : r.ReadString();
                if (owner is not null) MembershipLimits.CheckMemberId(owner);
                list.Add(new KeyOwnerEntry(key, owner, r.ReadInt64()));
            }
            return list;
        });
    }

    private static void WriteStrings(ref MessagePackWriter writer, IReadOnlyCollection<string> values)
    {
        writer.WriteArrayHeader(values.Count);
        foreach (var value in values) writer.Write(value);
    }

    private static List<string> ReadKeys(ref MessagePackReader r)
    {
        int count = r.ReadArrayHeader();
        if (count > KeyLimits.MaxKeysPerMember) throw MemberCodec.Malformed($"{count} keys in one packet (at most {KeyLimits.MaxKeysPerMember})");
        var keys = new List<string>(Math.Min(count, 16 * 1024));
        for (int i = 0; i < count; i++) keys.Add(ReadKey(ref r));
        return keys;
    }

    private static string ReadKey(ref MessagePackReader r)
    {
        string key = r.ReadString() ?? throw MemberCodec.Malformed("a key is nil");
        if (KeyLimits.DescribeBadKey(key) is { } problem) throw MemberCodec.Malformed(problem);
        return key;
    }
}

/// <summary>Bounds of leadership per key, checked on both ends.</summary>
internal static class KeyLimits
{
    /// <summary>Longest key, in UTF-16 code units.</summary>
    public const int MaxKeyLength = 256;

    /// <summary>Most keys one member may hold.</summary>
    public const int MaxKeysPerMember = 100_000;

    /// <summary>Null when <paramref name="key"/> is a valid key, else what is wrong with it.</summary>
    public static string? DescribeBadKey(string? key) =>
        string.IsNullOrEmpty(key) ? "a key is empty"
        : key.Length > MaxKeyLength ? $"a key is {key.Length} characters long (at most {MaxKeyLength})"
        : null;

    /// <exception cref="ArgumentException">The key is empty or too long.</exception>
    public static void CheckKey(string key, string parameter)
    {
        ArgumentNullException.ThrowIfNull(key, parameter);
        if (DescribeBadKey(key) is { } problem) throw new ArgumentException($"Invalid key: {problem}.", parameter);
    }
}
