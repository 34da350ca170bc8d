using ClusterSharing.Serialization;
using ClusterSharing.Serialization.Formatters;
using static ClusterSharing.Tests.Serialization.CodecTestKit;

namespace ClusterSharing.Tests.Serialization;

/// <summary>Every built-in formatter round-trips, including null, empty and nested values.</summary>
public class FormatterTests
{
    private static T RoundTrip<T>(IMessagePackFormatter<T> formatter, T value)
    {
        var bytes = Encode((ref MessagePackWriter w) => formatter.Serialize(ref w, value));
        var viaSegments = Decode(Segmented(bytes, 5), formatter.Deserialize);
        var read = Decode(bytes, formatter.Deserialize);
        Assert.Equal(read, viaSegments);
        return read;
    }

    [Fact]
    public void Primitive_formatters_round_trip_their_extremes()
    {
        foreach (var v in new[] { false, true }) Assert.Equal(v, RoundTrip(BooleanFormatter.Instance, v));
        foreach (var v in new byte[] { 0, 127, 128, 255 }) Assert.Equal(v, RoundTrip(ByteFormatter.Instance, v));
        foreach (var v in new sbyte[] { sbyte.MinValue, -33, -32, 0, sbyte.MaxValue }) Assert.Equal(v, RoundTrip(SByteFormatter.Instance, v));
        foreach (var v in new short[] { short.MinValue, -129, 0, 128, short.MaxValue }) Assert.Equal(v, RoundTrip(Int16Formatter.Instance, v));
        foreach (var v in new ushort[] { 0, 255, 256, ushort.MaxValue }) Assert.Equal(v, RoundTrip(UInt16Formatter.Instance, v));
        foreach (var v in new[] { int.MinValue, -32769, 0, 65536, int.MaxValue }) Assert.Equal(v, RoundTrip(Int32Formatter.Instance, v));
        foreach (var v in new[] { 0u, 65535u, 65536u, uint.MaxValue }) Assert.Equal(v, RoundTrip(UInt32Formatter.Instance, v));
        foreach (var v in new[] { long.MinValue, -2147483649L, 0L, 4294967296L, long.MaxValue }) Assert.Equal(v, RoundTrip(Int64Formatter.Instance, v));
        foreach (var v in new[] { 0UL, 4294967296UL, ulong.MaxValue }) Assert.Equal(v, RoundTrip(UInt64Formatter.Instance, v));
        foreach (var v in new[] { float.MinValue, -0.0f, float.Epsilon, float.MaxValue, float.PositiveInfinity }) Assert.Equal(v, RoundTrip(SingleFormatter.Instance, v));
        foreach (var v in new[] { double.MinValue, -0.0, double.Epsilon, double.MaxValue, double.NegativeInfinity }) Assert.Equal(v, RoundTrip(DoubleFormatter.Instance, v));
        Assert.True(double.IsNaN(RoundTrip(DoubleFormatter.Instance, double.NaN)));
        foreach (var v in new[] { '\0', 'a', 'é', '\uffff' }) Assert.Equal(v, RoundTrip(CharFormatter.Instance, v));
    }

    [Fact]
    public void Reference_formatters_round_trip_null_empty_and_content()
    {
        foreach (var v in new[] { null, "", "x", new string('y', 70_000), "日本語 🎉" }) Assert.Equal(v, RoundTrip(StringFormatter.Instance, v));
        foreach (var v in new[] { null, Array.Empty<byte>(), new byte[] { 0, 255 }, new byte[70_000] }) Assert.Equal(v, RoundTrip(ByteArrayFormatter.Instance, v));
    }

    [Fact]
    public void Time_and_id_formatters_round_trip()
    {
        foreach (var v in new[] { TimeSpan.MinValue, TimeSpan.Zero, TimeSpan.FromTicks(-1), TimeSpan.MaxValue })
            Assert.Equal(v, RoundTrip(TimeSpanFormatter.Instance, v));
        foreach (var v in new[] { Guid.Empty, Guid.NewGuid(), Guid.Parse("00112233-4455-6677-8899-aabbccddeeff") })
            Assert.Equal(v, RoundTrip(GuidFormatter.Instance, v));
        var bytes = Encode((ref MessagePackWriter w) => GuidFormatter.Instance.Serialize(ref w, Guid.Parse("00112233-4455-6677-8899-aabbccddeeff")));
        Assert.Equal("c41000112233445566778899aabbccddeeff", Hex(bytes)); // RFC 4122 byte order
        foreach (var v in new[] { DateTime.SpecifyKind(DateTime.MinValue, DateTimeKind.Utc), DateTime.UnixEpoch, DateTime.SpecifyKind(DateTime.MaxValue, DateTimeKind.Utc) })
            Assert.Equal(v, RoundTrip(DateTimeFormatter.Instance, v));
    }

    [Theory]
    [InlineData(0)]
    [InlineData(330)]
    [InlineData(-570)]
    [InlineData(14 * 60)]
    [InlineData(-14 * 60)]
    public void DateTimeOffset_keeps_instant_and_offset(int offsetMinutes)
    {
        var offset = TimeSpan.FromMinutes(offsetMinutes);
        foreach (var v in new[]
        {
            new DateTimeOffset(2024, 2, 29, 23, 59, 59, offset).AddTicks(1234567),
            new DateTimeOffset(1850, 1, 1, 0, 0, 0, offset),
            new DateTimeOffset(DateTime.MinValue.AddDays(1), offset),
            new DateTimeOffset(DateTime.MaxValue.AddDays(-1), offset),
        })
        {
            var read = RoundTrip(DateTimeOffsetFormatter.Instance, v);
            Assert.Equal(v.UtcTicks, read.UtcTicks);
            Assert.Equal(v.Offset, read.Offset);
        }
    }

    [Fact]
    public void DateTimeOffset_rejects_offsets_and_instants_out_of_range()
    {
        var badOffset = Encode((ref MessagePackWriter w) => { w.WriteArrayHeader(2); w.Write(DateTime.UnixEpoch); w.Write(15 * 60); });
        Assert.Throws<MessagePackSerializationException>(() => Decode(badOffset, DateTimeOffsetFormatter.Instance.Deserialize));
        var beforeYearOne = Encode((ref MessagePackWriter w) => { w.WriteArrayHeader(2); w.Write(DateTime.SpecifyKind(DateTime.MinValue, DateTimeKind.Utc)); w.Write(-60); });
        Assert.Throws<MessagePackSerializationException>(() => Decode(beforeYearOne, DateTimeOffsetFormatter.Instance.Deserialize));
        var wrongShape = Encode((ref MessagePackWriter w) => { w.WriteArrayHeader(3); w.Write(DateTime.UnixEpoch); w.Write(0); w.Write(0); });
        Assert.Throws<MessagePackSerializationException>(() => Decode(wrongShape, DateTimeOffsetFormatter.Instance.Deserialize));
    }

    public enum SByteEnum : sbyte { Min = sbyte.MinValue, Max = sbyte.MaxValue }
    public enum ByteEnum : byte { Max = byte.MaxValue }
    public enum Int16Enum : short { Min = short.MinValue, Max = short.MaxValue }
    public enum UInt16Enum : ushort { Max = ushort.MaxValue }
    public enum Int32Enum { Min = int.MinValue, Max = int.MaxValue }
    public enum UInt32Enum : uint { Max = uint.MaxValue }
    public enum Int64Enum : long { Min = long.MinValue, Max = long.MaxValue }
    public enum UInt64Enum : ulong { Max = ulong.MaxValue }

    [Fact]
    public void Enums_of_every_underlying_type_round_trip_as_their_number()
    {
        Assert.Equal(SByteEnum.Min, RoundTrip(EnumFormatter<SByteEnum>.Instance, SByteEnum.Min));
        Assert.Equal(SByteEnum.Max, RoundTrip(EnumFormatter<SByteEnum>.Instance, SByteEnum.Max));
        Assert.Equal(ByteEnum.Max, RoundTrip(EnumFormatter<ByteEnum>.Instance, ByteEnum.Max));
        Assert.Equal(Int16Enum.Min, RoundTrip(EnumFormatter<Int16Enum>.Instance, Int16Enum.Min));
        Assert.Equal(Int16Enum.Max, RoundTrip(EnumFormatter<Int16Enum>.Instance, Int16Enum.Max));
        Assert.Equal(UInt16Enum.Max, RoundTrip(EnumFormatter<UInt16Enum>.Instance, UInt16Enum.Max));
        Assert.Equal(Int32Enum.Min, RoundTrip(EnumFormatter<Int32Enum>.Instance, Int32Enum.Min));
        Assert.Equal(UInt32Enum.Max, RoundTrip(EnumFormatter<UInt32Enum>.Instance, UInt32Enum.Max));
        Assert.Equal(Int64Enum.Min, RoundTrip(EnumFormatter<Int64Enum>.Instance, Int64Enum.Min));
        Assert.Equal(Int64Enum.Max, RoundTrip(EnumFormatter<Int64Enum>.Instance, Int64Enum.Max));
        Assert.Equal(UInt64Enum.Max, RoundTrip(EnumFormatter<UInt64Enum>.Instance, UInt64Enum.Max));
        Assert.Equal(DayOfWeek.Saturday, RoundTrip(EnumFormatter<DayOfWeek>.Instance, DayOfWeek.Saturday));

        Assert.Equal("ceffffffff", Hex(Encode((ref MessagePackWriter w) => EnumFormatter<UInt32Enum>.Instance.Serialize(ref w, UInt32Enum.Max))));
        Assert.Equal("d080", Hex(Encode((ref MessagePackWriter w) => EnumFormatter<SByteEnum>.Instance.Serialize(ref w, SByteEnum.Min))));
        // A value outside the underlying type is an error, not a silent wrap.
        Assert.Throws<MessagePackSerializationException>(() => Decode(FromHex("cd0100"), EnumFormatter<ByteEnum>.Instance.Deserialize));
    }

    [Fact]
    public void Nullable_formatter_writes_nil_or_the_value()
    {
        var f = new NullableFormatter<int>(Int32Formatter.Instance);
        Assert.Null(RoundTrip(f, null));
        Assert.Equal(-5, RoundTrip(f, -5));
        Assert.Equal("c0", Hex(Encode((ref MessagePackWriter w) => f.Serialize(ref w, null))));
    }

    [Fact]
    public void Collection_formatters_round_trip_null_empty_and_nested()
    {
        var ints = new ArrayFormatter<int>(Int32Formatter.Instance);
        Assert.Null(RoundTrip(ints, null));
        Assert.Empty(RoundTrip(ints, [])!);
        Assert.Equal([1, -1, int.MaxValue], RoundTrip(ints, [1, -1, int.MaxValue])!);

        var lists = new ListFormatter<List<string?>?>(new ListFormatter<string?>(StringFormatter.Instance));
        List<List<string?>?>? nested = [["a", null], null, [], ["日本"]];
        Assert.Equal(nested, RoundTrip<List<List<string?>?>?>(lists, nested));
        Assert.Null(RoundTrip<List<List<string?>?>?>(lists, null));

        var dict = new DictionaryFormatter<string, Dictionary<int, long[]?>?>(
            StringFormatter.Instance!, new DictionaryFormatter<int, long[]?>(Int32Formatter.Instance, new ArrayFormatter<long>(Int64Formatter.Instance)));
        Dictionary<string, Dictionary<int, long[]?>?>? map = new() { ["a"] = new() { [1] = [1L, long.MinValue], [2] = null }, ["b"] = null, ["c"] = [] };
        var read = RoundTrip<Dictionary<string, Dictionary<int, long[]?>?>?>(dict, map)!;
        Assert.Equal(3, read.Count);
        Assert.Equal([1L, long.MinValue], read["a"]![1]!);
        Assert.Null(read["a"]![2]);
        Assert.Null(read["b"]);
        Assert.Empty(read["c"]!);
        Assert.Null(RoundTrip<Dictionary<string, Dictionary<int, long[]?>?>?>(dict, null));
    }

    [Fact]
    public void List_formatter_serves_the_read_only_and_collection_interfaces()
    {
        var formatter = new ListFormatter<int>(Int32Formatter.Instance);
        Assert.Equal([1, 2], RoundTrip<IReadOnlyList<int>?>(formatter, new[] { 1, 2 }));
        Assert.Equal([1, 2], RoundTrip<IList<int>?>(formatter, new List<int> { 1, 2 }));
        Assert.Equal([1, 2], RoundTrip<IReadOnlyCollection<int>?>(formatter, new HashSet<int> { 1, 2 }));
        Assert.Equal([1, 2], RoundTrip<ICollection<int>?>(formatter, new LinkedList<int>([1, 2])));
        Assert.Equal([0, 1, 2], RoundTrip<IEnumerable<int>?>(formatter, Enumerable.Range(0, 3)));
        Assert.Null(RoundTrip<IEnumerable<int>?>(formatter, null));
    }

    [Fact]
    public void Dictionary_formatter_serves_the_dictionary_interfaces_and_rejects_nil_keys()
    {
        var formatter = new DictionaryFormatter<string, int>(StringFormatter.Instance!, Int32Formatter.Instance);
        Assert.Equal(2, RoundTrip<IReadOnlyDictionary<string, int>?>(formatter, new SortedDictionary<string, int> { ["a"] = 1, ["b"] = 2 })!["b"]);
        Assert.Equal(1, RoundTrip<IDictionary<string, int>?>(formatter, new Dictionary<string, int> { ["a"] = 1 })!["a"]);
        Assert.Throws<MessagePackSerializationException>(() => Decode(FromHex("81c001"), formatter.Deserialize));
    }
}
