using System.Buffers;
using System.Buffers.Binary;
using System.Globalization;
using System.Text;
using System.Text.Json.Nodes;
using MessagePack;

namespace ClusterSharing.Tests.Serialization;

public delegate void WriteAction(ref MessagePackWriter writer);
public delegate T ReadFunc<out T>(ref MessagePackReader reader);

/// <summary>An ext value other than a timestamp, as the dynamic model sees it.</summary>
public sealed record ExtValue(sbyte Type, byte[] Data);

/// <summary>A timestamp (ext -1), as the dynamic model sees it.</summary>
public sealed record TimestampValue(long Seconds, uint Nanoseconds);

/// <summary>A map with its pairs in wire order.</summary>
public sealed record MapValue(List<KeyValuePair<object?, object?>> Pairs);

/// <summary>
/// Shared helpers: encode with a delegate, hex, multi-segment sequences, and a dynamic value model
/// (null, bool, long/ulong, float, double, string, byte[], object?[], MapValue, ExtValue, TimestampValue)
/// with a writer, a reader, strict equality and a canonical JSON description shared with the Node cross-check.
/// </summary>
public static class CodecTestKit
{
    public static byte[] Encode(WriteAction write)
    {
        var buffer = new ArrayBufferWriter<byte>();
        var writer = new MessagePackWriter(buffer);
        write(ref writer);
        writer.Flush();
        return buffer.WrittenSpan.ToArray();
    }

    public static T Decode<T>(byte[] bytes, ReadFunc<T> read)
    {
        var reader = new MessagePackReader(bytes);
        var value = read(ref reader);
        Assert.True(reader.End, $"{bytes.Length - reader.Consumed} bytes left unread");
        return value;
    }

    public static string Hex(ReadOnlySpan<byte> bytes) => Convert.ToHexString(bytes).ToLowerInvariant();

    public static byte[] FromHex(string hex) => Convert.FromHexString(hex.Replace(" ", "", StringComparison.Ordinal));

    /// <summary>Splits <paramref name="bytes"/> into segments of <paramref name="segmentSize"/> bytes so slow paths run.</summary>
    public static ReadOnlySequence<byte> Segmented(byte[] bytes, int segmentSize)
    {
        if (bytes.Length == 0) return ReadOnlySequence<byte>.Empty;
        Segment? first = null, last = null;
        for (int i = 0; i < bytes.Length; i += segmentSize)
        {
            var memory = bytes.AsMemory(i, Math.Min(segmentSize, bytes.Length - i));
            if (first is null) last = first = new Segment(memory, 0);
            else last = last!.Append(memory);
        }
        return new ReadOnlySequence<byte>(first!, 0, last!, last!.Memory.Length);
    }

    private sealed class Segment : ReadOnlySequenceSegment<byte>
    {
        public Segment(ReadOnlyMemory<byte> memory, long runningIndex) { Memory = memory; RunningIndex = runningIndex; }
        public Segment Append(ReadOnlyMemory<byte> memory) { var next = new Segment(memory, RunningIndex + Memory.Length); Next = next; return next; }
    }

    public static void WriteValue(ref MessagePackWriter writer, object? value)
    {
        switch (value)
        {
            case null: writer.WriteNil(); break;
            case bool b: writer.Write(b); break;
            case long l: writer.Write(l); break;
            case ulong u: writer.Write(u); break;
            case int i: writer.Write(i); break;
            case float f: writer.Write(f); break;
            case double d: writer.Write(d); break;
            case string s: writer.Write(s); break;
            case byte[] bin: writer.Write(bin); break;
            case object?[] array:
                writer.WriteArrayHeader(array.Length);
                foreach (var item in array) WriteValue(ref writer, item);
                break;
            case MapValue map:
                writer.WriteMapHeader(map.Pairs.Count);
                foreach (var pair in map.Pairs) { WriteValue(ref writer, pair.Key); WriteValue(ref writer, pair.Value); }
                break;
            case ExtValue ext: writer.WriteExtensionFormat(new ExtensionResult(ext.Type, ext.Data)); break;
            case TimestampValue ts: WriteTimestamp(ref writer, ts.Seconds, ts.Nanoseconds); break;
            case DateTime dt: writer.Write(dt); break;
            default: throw new ArgumentException($"The model has no {value.GetType()}.");
        }
    }

    /// <summary>A timestamp (ext -1) in its smallest form: 32-bit seconds, 64-bit nanoseconds+seconds, or 96-bit.</summary>
    public static void WriteTimestamp(ref MessagePackWriter writer, long seconds, uint nanoseconds)
    {
        Span<byte> data = new byte[12];
        int length;
        if (seconds >= 0 && seconds >> 34 == 0)
        {
            ulong packed = ((ulong)nanoseconds << 34) | (ulong)seconds;
            if ((packed & 0xffffffff00000000UL) == 0) { BinaryPrimitives.WriteUInt32BigEndian(data, (uint)packed); length = 4; }
            else { BinaryPrimitives.WriteUInt64BigEndian(data, packed); length = 8; }
        }
        else
        {
            BinaryPrimitives.WriteUInt32BigEndian(data, nanoseconds);
            BinaryPrimitives.WriteInt64BigEndian(data[4..], seconds);
            length = 12;
        }
        writer.WriteExtensionFormatHeader(new ExtensionHeader(ReservedMessagePackExtensionTypeCode.DateTime, length));
        writer.WriteRaw(data[..length]);
    }

    private static TimestampValue ReadTimestamp(ReadOnlySpan<byte> data) => data.Length switch
    {
        4 => new TimestampValue(BinaryPrimitives.ReadUInt32BigEndian(data), 0),
        8 => new TimestampValue((long)(BinaryPrimitives.ReadUInt64BigEndian(data) & 0x3ffffffffUL), (uint)(BinaryPrimitives.ReadUInt64BigEndian(data) >> 34)),
        12 => new TimestampValue(BinaryPrimitives.ReadInt64BigEndian(data[4..]), BinaryPrimitives.ReadUInt32BigEndian(data)),
        _ => throw new MessagePackSerializationException($"A timestamp of {data.Length} bytes."),
    };

    public static object? ReadValue(ref MessagePackReader reader)
    {
        switch (reader.NextMessagePackType)
        {
            case MessagePackType.Nil: reader.ReadNil(); return null;
            case MessagePackType.Boolean: return reader.ReadBoolean();
            case MessagePackType.Integer:
                if (reader.NextCode == MessagePackCode.UInt64) return ReadUnsigned(ref reader);
                return reader.ReadInt64();
            case MessagePackType.Float:
                // Boxed separately: a conditional expression would widen the float32 to double.
                if (reader.NextCode == MessagePackCode.Float32) return reader.ReadSingle();
                return reader.ReadDouble();
            case MessagePackType.String: return reader.ReadString();
            case MessagePackType.Binary: return reader.ReadBytes()!.Value.ToArray();
            case MessagePackType.Array:
                {
                    int count = reader.ReadArrayHeader();
                    var array = new object?[count];
                    for (int i = 0; i < count; i++) array[i] = ReadValue(ref reader);
                    return array;
                }
            case MessagePackType.Map:
                {
                    int count = reader.ReadMapHeader();
                    var pairs = new List<KeyValuePair<object?, object?>>(count);
                    for (int i = 0; i < count; i++)
                    {
                        var key = ReadValue(ref reader);
                        pairs.Add(new(key, ReadValue(ref reader)));
                    }
                    return new MapValue(pairs);
                }
            case MessagePackType.Extension:
                {
                    var header = reader.ReadExtensionFormatHeader();
                    var data = reader.ReadRaw(header.Length).ToArray();
                    return header.TypeCode == ReservedMessagePackExtensionTypeCode.DateTime ? ReadTimestamp(data) : new ExtValue(header.TypeCode, data);
                }
            default:
                throw new MessagePackSerializationException($"Format byte 0x{reader.NextCode:x2} is not valid MessagePack.");
        }
    }

    private static object ReadUnsigned(ref MessagePackReader reader)
    {
        ulong u = reader.ReadUInt64();
        return u <= long.MaxValue ? (object)(long)u : u;
    }

    /// <summary>Strict equality: same model types, floats by bit pattern, maps in order.</summary>
    public static bool StrictEquals(object? a, object? b) => (a, b) switch
    {
        (null, null) => true,
        (float x, float y) => BitConverter.SingleToInt32Bits(x) == BitConverter.SingleToInt32Bits(y),
        (double x, double y) => BitConverter.DoubleToInt64Bits(x) == BitConverter.DoubleToInt64Bits(y),
        (byte[] x, byte[] y) => x.AsSpan().SequenceEqual(y),
        (object?[] x, object?[] y) => x.Length == y.Length && x.Zip(y).All(p => StrictEquals(p.First, p.Second)),
        (MapValue x, MapValue y) => x.Pairs.Count == y.Pairs.Count &&
            x.Pairs.Zip(y.Pairs).All(p => StrictEquals(p.First.Key, p.Second.Key) && StrictEquals(p.First.Value, p.Second.Value)),
        (ExtValue x, ExtValue y) => x.Type == y.Type && x.Data.AsSpan().SequenceEqual(y.Data),
        _ => Equals(a, b),
    };

    /// <summary>
    /// The canonical JSON description used by tests/node/crosscheck.mjs: integers as {"int":"decimal"}, numbers that
    /// JavaScript cannot tell from integers likewise, other floats as {"float":"ieee754 hex"} (or "NaN"), {"str":s},
    /// {"bin":hex}, arrays as JSON arrays, {"map":[[k,v],...]}, {"ext":[type,hex]}, {"ts":["sec",nsec]}.
    /// </summary>
    public static JsonNode? Describe(object? value) => value switch
    {
        null => null,
        bool b => JsonValue.Create(b),
        long l => Tagged("int", l.ToString(CultureInfo.InvariantCulture)),
        int i => Tagged("int", i.ToString(CultureInfo.InvariantCulture)),
        ulong u => Tagged("int", u.ToString(CultureInfo.InvariantCulture)),
        float f => DescribeNumber(f),
        double d => DescribeNumber(d),
        string s => Tagged("str", s),
        byte[] bin => Tagged("bin", Hex(bin)),
        object?[] array => new JsonArray(array.Select(Describe).ToArray()),
        MapValue map => new JsonObject { ["map"] = new JsonArray(map.Pairs.Select(p => (JsonNode?)new JsonArray(Describe(p.Key), Describe(p.Value))).ToArray()) },
        ExtValue ext => new JsonObject { ["ext"] = new JsonArray(JsonValue.Create((int)ext.Type), JsonValue.Create(Hex(ext.Data))) },
        DateTime dt => Describe(ToTimestamp(dt)),
        TimestampValue ts => new JsonObject { ["ts"] = new JsonArray(JsonValue.Create(ts.Seconds.ToString(CultureInfo.InvariantCulture)), JsonValue.Create(ts.Nanoseconds)) },
        _ => throw new ArgumentException($"The model has no {value.GetType()}."),
    };

    public static TimestampValue ToTimestamp(DateTime value)
    {
        long ticks = value.ToUniversalTime().Ticks - DateTime.UnixEpoch.Ticks;
        long seconds = Math.DivRem(ticks, TimeSpan.TicksPerSecond, out long remainder);
        if (remainder < 0) { seconds--; remainder += TimeSpan.TicksPerSecond; }
        return new TimestampValue(seconds, (uint)(remainder * 100));
    }

    private static JsonObject Tagged(string tag, string value) => new() { [tag] = value };

    private static JsonNode DescribeNumber(double d)
    {
        if (double.IsNaN(d)) return Tagged("float", "NaN");
        const double maxSafe = 9007199254740991; // Number.MAX_SAFE_INTEGER: JavaScript sees such doubles as integers
        if (Math.Abs(d) <= maxSafe && Math.Floor(d) == d && !(d == 0 && double.IsNegative(d)))
            return Tagged("int", ((long)d).ToString(CultureInfo.InvariantCulture));
        return Tagged("float", BitConverter.DoubleToInt64Bits(d).ToString("x16", CultureInfo.InvariantCulture));
    }

    /// <summary>A canonical string for a description: map pairs sorted, so maps compare without order.</summary>
    public static string Canonical(JsonNode? node)
    {
        var sb = new StringBuilder();
        AppendCanonical(sb, node);
        return sb.ToString();
    }

    private static void AppendCanonical(StringBuilder sb, JsonNode? node)
    {
        switch (node)
        {
            case JsonObject obj when obj.Count == 1 && obj["map"] is JsonArray pairs:
                var sorted = pairs.Select(p => Canonical(p)).Order(StringComparer.Ordinal);
                sb.Append("{\"map\":[").AppendJoin(',', sorted).Append("]}");
                break;
            case JsonArray array:
                sb.Append('[');
                for (int i = 0; i < array.Count; i++) { if (i > 0) sb.Append(','); AppendCanonical(sb, array[i]); }
                sb.Append(']');
                break;
            case JsonObject obj:
                sb.Append('{');
                bool first = true;
                foreach (var (key, child) in obj.OrderBy(p => p.Key, StringComparer.Ordinal))
                {
                    if (!first) sb.Append(',');
                    first = false;
                    sb.Append(JsonValue.Create(key).ToJsonString()).Append(':');
                    AppendCanonical(sb, child);
                }
                sb.Append('}');
                break;
            case null: sb.Append("null"); break;
            default: sb.Append(node.ToJsonString()); break;
        }
    }
}
