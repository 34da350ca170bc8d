using System.Buffers;
using System.Buffers.Binary;
using System.Text;
using ClusterSharing.Serialization;
using MessagePack;
using MessagePack.Resolvers;
using static ClusterSharing.Tests.Serialization.CodecTestKit;

namespace ClusterSharing.Tests.Serialization;

/// <summary>
/// The span path of generated formatters (<see cref="WireSpanWriter"/>, <see cref="WireSpanReader"/>) against
/// MessagePack-CSharp's built-in formatters: the same bytes for every value written, and for every input read either the
/// same value and length or a refusal (the formatters then decide), never a different answer.
/// </summary>
public class WireSpanTests
{
    private delegate bool SpanRead<T>(ref WireSpanReader reader, out T value);

    private delegate void SpanWrite<T>(ref WireSpanWriter writer, T value);

    private static readonly MessagePackSerializerOptions Options = WireSerializer.Standard;

    private static readonly long[] Integers =
    [
        0, 1, 31, 127, 128, 200, 255, 256, 1000, 32767, 32768, 65535, 65536, int.MaxValue, (long)int.MaxValue + 1, uint.MaxValue,
        (long)uint.MaxValue + 1, long.MaxValue, -1, -31, -32, -33, -100, -128, -129, -32768, -32769, int.MinValue, (long)int.MinValue - 1, long.MinValue,
    ];

    private static readonly string?[] Strings =
    [
        null, "", "a", new string('x', 31), new string('x', 32), new string('x', 255), new string('x', 256), new string('x', 65535),
        new string('x', 65536), "orders-eu", "ünïcödé", new string('é', 20), new string('€', 100), "😀 emoji", "lone \ud800 surrogate",
    ];

    private static readonly DateTime[] Dates =
    [
        DateTime.UnixEpoch, new(2026, 11, 21, 5, 30, 0, DateTimeKind.Utc), new DateTime(2026, 11, 21, 5, 30, 0, DateTimeKind.Utc).AddTicks(1234),
        new DateTime(2106, 2, 7, 6, 28, 15, DateTimeKind.Utc), new(2106, 2, 7, 6, 28, 16, DateTimeKind.Utc), new(2514, 5, 30, 1, 53, 3, DateTimeKind.Utc),
        new(2514, 5, 30, 1, 53, 4, DateTimeKind.Utc), new(1969, 12, 31, 23, 59, 59, 999, DateTimeKind.Utc), DateTime.MinValue, DateTime.MaxValue,
        new DateTime(2020, 1, 1, 12, 0, 0, DateTimeKind.Local), new DateTime(2020, 1, 1, 12, 0, 0, DateTimeKind.Unspecified).AddTicks(7),
    ];

    [Fact]
    public void The_span_writer_writes_every_value_as_MessagePack_CSharp_does()
    {
        foreach (long v in Integers)
        {
            AssertSameBytes(v, (ref WireSpanWriter w, long x) => w.Write(x));
            if (v >= 0) AssertSameBytes((ulong)v, (ref WireSpanWriter w, ulong x) => w.Write(x));
            if (v is >= int.MinValue and <= int.MaxValue) AssertSameBytes((int)v, (ref WireSpanWriter w, int x) => w.Write(x));
            if (v is >= 0 and <= uint.MaxValue) AssertSameBytes((uint)v, (ref WireSpanWriter w, uint x) => w.Write(x));
            if (v is >= short.MinValue and <= short.MaxValue) AssertSameBytes((short)v, (ref WireSpanWriter w, short x) => w.Write(x));
            if (v is >= 0 and <= ushort.MaxValue)
            {
                AssertSameBytes((ushort)v, (ref WireSpanWriter w, ushort x) => w.Write(x));
                AssertSameBytes((char)v, (ref WireSpanWriter w, char x) => w.Write(x));
            }
            if (v is >= sbyte.MinValue and <= sbyte.MaxValue) AssertSameBytes((sbyte)v, (ref WireSpanWriter w, sbyte x) => w.Write(x));
            if (v is >= 0 and <= byte.MaxValue) AssertSameBytes((byte)v, (ref WireSpanWriter w, byte x) => w.Write(x));
        }
        AssertSameBytes(ulong.MaxValue, (ref WireSpanWriter w, ulong x) => w.Write(x));
        foreach (double d in new[] { 0.0, -0.0, 0.75, -3.25, double.NaN, double.PositiveInfinity, double.MaxValue, double.Epsilon })
        {
            AssertSameBytes(d, (ref WireSpanWriter w, double x) => w.Write(x));
            AssertSameBytes((float)d, (ref WireSpanWriter w, float x) => w.Write(x));
        }
        AssertSameBytes(true, (ref WireSpanWriter w, bool x) => w.Write(x));
        AssertSameBytes(false, (ref WireSpanWriter w, bool x) => w.Write(x));
        foreach (var s in Strings) AssertSameBytes(s, (ref WireSpanWriter w, string? x) => w.Write(x));
        foreach (var d in Dates) AssertSameBytes(d, (ref WireSpanWriter w, DateTime x) => w.Write(x));
        foreach (int n in new[] { -1, 0, 1, 255, 256, 65535, 65536 })
            AssertSameBytes(n < 0 ? null : Enumerable.Range(0, n).Select(i => (byte)i).ToArray(), (ref WireSpanWriter w, byte[]? x) => w.Write(x));
    }

    [Fact]
    public void The_span_writer_writes_array_headers_as_MessagePack_CSharp_does()
    {
        foreach (int count in new[] { 0, 1, 15, 16, 65535, 65536 })
        {
            var buffer = new byte[5];
            var span = new WireSpanWriter(buffer);
            span.WriteArrayHeader(count);
            Assert.Equal(Hex(Encode((ref MessagePackWriter w) => w.WriteArrayHeader(count))), Hex(buffer.AsSpan(0, span.Written)));
        }
    }

    [Fact]
    public void The_span_reader_reads_integers_and_floats_in_every_format_as_MessagePack_CSharp_does()
    {
        var inputs = new List<byte[]>();
        foreach (long v in Integers) inputs.AddRange(IntegerEncodings(v));
        inputs.AddRange(IntegerEncodings(ulong.MaxValue));
        foreach (double d in new[] { 0.5, -2.0, 1e300, double.NaN, 300.0 })
        {
            inputs.Add(Encode((ref MessagePackWriter w) => w.Write(d)));
            inputs.Add(Encode((ref MessagePackWriter w) => w.Write((float)d)));
        }
        inputs.AddRange([[0xc0], [0xc2], [0xc3], [0xa1, 0x31], [0xcd, 0x01], [0xd3, 0, 0, 0], [], [0xc1]]);

        foreach (var bytes in inputs)
        {
            AssertSameRead<sbyte>(bytes, (ref WireSpanReader r, out sbyte v) => r.TryRead(out v));
            AssertSameRead<byte>(bytes, (ref WireSpanReader r, out byte v) => r.TryRead(out v));
            AssertSameRead<short>(bytes, (ref WireSpanReader r, out short v) => r.TryRead(out v));
            AssertSameRead<ushort>(bytes, (ref WireSpanReader r, out ushort v) => r.TryRead(out v));
            AssertSameRead<char>(bytes, (ref WireSpanReader r, out char v) => r.TryRead(out v));
            AssertSameRead<int>(bytes, (ref WireSpanReader r, out int v) => r.TryRead(out v));
            AssertSameRead<uint>(bytes, (ref WireSpanReader r, out uint v) => r.TryRead(out v));
            AssertSameRead<long>(bytes, (ref WireSpanReader r, out long v) => r.TryRead(out v));
            AssertSameRead<ulong>(bytes, (ref WireSpanReader r, out ulong v) => r.TryRead(out v));
            AssertSameRead<float>(bytes, (ref WireSpanReader r, out float v) => r.TryRead(out v));
            AssertSameRead<double>(bytes, (ref WireSpanReader r, out double v) => r.TryRead(out v));
            AssertSameRead<bool>(bytes, (ref WireSpanReader r, out bool v) => r.TryRead(out v));
        }
    }

    [Fact]
    public void The_span_reader_reads_strings_binaries_and_timestamps_as_MessagePack_CSharp_does()
    {
        var inputs = new List<byte[]>();
        foreach (var s in Strings.Where(s => s is null || !s.Contains('\ud800', StringComparison.Ordinal)))
        {
            inputs.Add(Encode((ref MessagePackWriter w) => w.Write(s)));
            if (s is null) continue;
            byte[] utf8 = Encoding.UTF8.GetBytes(s);
            inputs.Add([0xd9, (byte)Math.Min(utf8.Length, 255), .. utf8.AsSpan(0, Math.Min(utf8.Length, 255))]); // str8 where fixstr would do
            inputs.Add([0xda, (byte)(Math.Min(utf8.Length, 65535) >> 8), (byte)Math.Min(utf8.Length, 65535), .. utf8.AsSpan(0, Math.Min(utf8.Length, 65535))]);
            inputs.Add([0xdb, .. BigEndian((uint)utf8.Length), .. utf8]);
        }
        foreach (int n in new[] { 0, 3, 255, 256, 70000 })
        {
            var data = Enumerable.Range(0, n).Select(i => (byte)i).ToArray();
            inputs.Add(Encode((ref MessagePackWriter w) => w.Write(data)));
            inputs.Add([0xc6, .. BigEndian((uint)n), .. data]);
        }
        inputs.Add(Encode((ref MessagePackWriter w) => { w.WriteArrayHeader(2); w.Write(1); w.Write(2); })); // byte[] as an array of integers
        foreach (var d in Dates) inputs.Add(Encode((ref MessagePackWriter w) => w.Write(d)));
        inputs.Add([0xc7, 12, 0xff, 0, 0, 0, 5, .. BigEndian(1L)]);                     // timestamp 96 for a small value
        inputs.Add([0xc8, 0, 12, 0xff, 0, 0, 0, 5, .. BigEndian(1L)]);                  // ext16 timestamp
        inputs.Add([0xd7, 0xff, 0xff, 0xff, 0xff, 0xfc, 0, 0, 0, 1]);                    // nanoseconds field above 999,999,999
        inputs.Add([0xc7, 12, 0xff, 0, 0, 0, 0, .. BigEndian(long.MaxValue)]);          // seconds beyond DateTime
        inputs.Add([0xc7, 12, 0xff, 0, 0, 0, 0, .. BigEndian(-62135596801L)]);          // one second before DateTime.MinValue
        inputs.Add([0xd6, 0x05, 0, 0, 0, 1]);                                           // fixext4 of another type
        inputs.Add([0xd6, 0xff, 0, 0]);                                                  // truncated
        inputs.AddRange([[0xc0], [0x01], [0xa0], [0xd9, 5, 0x61]]);

        foreach (var bytes in inputs)
        {
            AssertSameRead<string?>(bytes, (ref WireSpanReader r, out string? v) => r.TryRead(out v));
            AssertSameRead<byte[]?>(bytes, (ref WireSpanReader r, out byte[]? v) => r.TryRead(out v));
            AssertSameRead<DateTime>(bytes, (ref WireSpanReader r, out DateTime v) => r.TryRead(out v));
        }
    }

    [Fact]
    public void A_string_from_unvalidated_bytes_is_refused_past_the_length_limit_or_when_not_UTF8()
    {
        Assert.True(new WireSpanReader([0xa3, 0x61, 0x62, 0x63]).TryReadString(out var abc, 3));
        Assert.Equal("abc", abc);
        Assert.False(new WireSpanReader([0xa3, 0x61, 0x62, 0x63]).TryReadString(out _, 2));
        Assert.False(new WireSpanReader([0xa2, 0xc3, 0x28]).TryReadString(out _, 100));
        Assert.True(new WireSpanReader([0xc0]).TryReadString(out var nil, 0));
        Assert.Null(nil);
    }

    [Fact]
    public void Options_whose_resolver_replaces_a_built_in_formatter_do_not_take_the_span_path()
    {
        Assert.True(WireDirect.IsBuiltIn<int>(Options));
        Assert.True(WireDirect.IsBuiltIn<string>(Options));
        Assert.True(WireDirect.IsBuiltIn<DateTime>(Options));
        Assert.True(WireDirect.IsBuiltIn<byte[]>(Options));
        var native = WireSerializer.CreateOptions(null, MessagePackSerializerOptions.Standard.WithResolver(
            CompositeResolver.Create(NativeDateTimeResolver.Instance, StandardResolver.Instance)), DecodingLimits.UntrustedData);
        Assert.False(WireDirect.IsBuiltIn<DateTime>(native));
        Assert.True(WireDirect.IsBuiltIn<int>(native));
    }

    private static void AssertSameBytes<T>(T value, SpanWrite<T> write)
    {
        byte[] expected = Encode((ref MessagePackWriter w) => BuiltinResolver.Instance.GetFormatter<T>()!.Serialize(ref w, value, Options));
        var buffer = new byte[expected.Length + 5 + 3 * 70000];
        var span = new WireSpanWriter(buffer);
        write(ref span, value);
        Assert.True(Hex(expected) == Hex(buffer.AsSpan(0, span.Written)), $"{typeof(T).Name} {value}: span path wrote {Hex(buffer.AsSpan(0, Math.Min(span.Written, 20)))}, MessagePack-CSharp {Hex(expected.AsSpan(0, Math.Min(expected.Length, 20)))}");
    }

    /// <summary>A success must match the formatter's value and length; the writer's own encoding must be a success.</summary>
    private static void AssertSameRead<T>(byte[] bytes, SpanRead<T> read)
    {
        T? expected = default;
        long expectedLength = -1;
        try
        {
            var reader = new MessagePackReader(bytes);
            expected = BuiltinResolver.Instance.GetFormatter<T>()!.Deserialize(ref reader, Options);
            expectedLength = reader.Consumed;
        }
        catch (Exception e) when (e is MessagePackSerializationException or OverflowException or ArgumentOutOfRangeException or EndOfStreamException)
        {
        }
        var span = new WireSpanReader(bytes);
        if (!read(ref span, out var actual)) return;
        string what = $"{typeof(T).Name} from {Hex(bytes.AsSpan(0, Math.Min(bytes.Length, 16)))}";
        Assert.True(expectedLength >= 0, $"{what}: the span path read {actual} where MessagePack-CSharp fails");
        Assert.True(expectedLength == span.Consumed, $"{what}: read {span.Consumed} bytes, MessagePack-CSharp {expectedLength}");
        Assert.True(Same(expected, actual), $"{what}: span path {actual}, MessagePack-CSharp {expected}");
    }

    [Fact]
    public void The_span_reader_takes_every_encoding_the_span_writer_produces()
    {
        foreach (long v in Integers)
        {
            byte[] bytes = Encode((ref MessagePackWriter w) => w.Write(v));
            Assert.True(new WireSpanReader(bytes).TryRead(out long read) && read == v, Hex(bytes));
        }
        foreach (var s in Strings)
        {
            byte[] bytes = Encode((ref MessagePackWriter w) => w.Write(s));
            Assert.True(new WireSpanReader(bytes).TryRead(out string? read), Hex(bytes.AsSpan(0, Math.Min(bytes.Length, 8))));
            if (!s?.Contains('\ud800', StringComparison.Ordinal) ?? true) Assert.Equal(s, read);
        }
        foreach (var d in Dates)
        {
            byte[] bytes = Encode((ref MessagePackWriter w) => w.Write(d));
            Assert.True(new WireSpanReader(bytes).TryRead(out DateTime read), Hex(bytes));
            Assert.Equal(d.Kind == DateTimeKind.Local ? d.ToUniversalTime().Ticks : d.Ticks, read.Ticks);
            Assert.Equal(DateTimeKind.Utc, read.Kind);
        }
    }

    private static bool Same<T>(T? expected, T actual) => (expected, actual) switch
    {
        (double e, double a) => BitConverter.DoubleToInt64Bits(e) == BitConverter.DoubleToInt64Bits(a),
        (float e, float a) => BitConverter.SingleToInt32Bits(e) == BitConverter.SingleToInt32Bits(a),
        (byte[] e, byte[] a) => e.AsSpan().SequenceEqual(a),
        (DateTime e, DateTime a) => e.Ticks == a.Ticks && e.Kind == a.Kind,
        _ => EqualityComparer<T>.Default.Equals(expected, actual),
    };

    /// <summary>Every MessagePack integer format that can hold <paramref name="v"/>, not only the smallest.</summary>
    private static IEnumerable<byte[]> IntegerEncodings(long v)
    {
        if (v is >= 0 and <= 127) yield return [(byte)v];
        if (v is >= -32 and < 0) yield return [(byte)(sbyte)v];
        if (v is >= 0 and <= byte.MaxValue) yield return [0xcc, (byte)v];
        if (v is >= 0 and <= ushort.MaxValue) yield return [0xcd, .. BigEndian((ushort)v)];
        if (v is >= 0 and <= uint.MaxValue) yield return [0xce, .. BigEndian((uint)v)];
        if (v >= 0) yield return [0xcf, .. BigEndian((ulong)v)];
        if (v is >= sbyte.MinValue and <= sbyte.MaxValue) yield return [0xd0, (byte)(sbyte)v];
        if (v is >= short.MinValue and <= short.MaxValue) yield return [0xd1, .. BigEndian((ushort)(short)v)];
        if (v is >= int.MinValue and <= int.MaxValue) yield return [0xd2, .. BigEndian((uint)(int)v)];
        yield return [0xd3, .. BigEndian(v)];
    }

    private static IEnumerable<byte[]> IntegerEncodings(ulong v)
    {
        yield return [0xcf, .. BigEndian(v)];
    }

    private static byte[] BigEndian(ushort v) { var b = new byte[2]; BinaryPrimitives.WriteUInt16BigEndian(b, v); return b; }

    private static byte[] BigEndian(uint v) { var b = new byte[4]; BinaryPrimitives.WriteUInt32BigEndian(b, v); return b; }

    private static byte[] BigEndian(ulong v) { var b = new byte[8]; BinaryPrimitives.WriteUInt64BigEndian(b, v); return b; }

    private static byte[] BigEndian(long v) { var b = new byte[8]; BinaryPrimitives.WriteInt64BigEndian(b, v); return b; }
}
