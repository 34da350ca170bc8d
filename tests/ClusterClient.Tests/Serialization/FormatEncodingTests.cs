using System.Buffers;
using System.Text;
using ClusterSharing.Serialization;
using static ClusterSharing.Tests.Serialization.CodecTestKit;

namespace ClusterSharing.Tests.Serialization;

/// <summary>Exact bytes of every format at its boundaries: the writer picks the smallest form, the reader reads it back.</summary>
public class FormatEncodingTests
{
    [Fact]
    public void Nil_and_booleans_are_single_bytes()
    {
        Assert.Equal("c0", Hex(Encode((ref MessagePackWriter w) => w.WriteNil())));
        Assert.Equal("c2", Hex(Encode((ref MessagePackWriter w) => w.Write(false))));
        Assert.Equal("c3", Hex(Encode((ref MessagePackWriter w) => w.Write(true))));
        Assert.True(Decode(FromHex("c3"), (ref MessagePackReader r) => r.ReadBoolean()));
        Assert.False(Decode(FromHex("c2"), (ref MessagePackReader r) => r.ReadBoolean()));
        Assert.Null(Decode(FromHex("c0"), (ref MessagePackReader r) => r.ReadString()));
    }

    [Theory]
    [InlineData(0L, "00")]
    [InlineData(1L, "01")]
    [InlineData(127L, "7f")]
    [InlineData(128L, "cc80")]
    [InlineData(255L, "ccff")]
    [InlineData(256L, "cd0100")]
    [InlineData(65535L, "cdffff")]
    [InlineData(65536L, "ce00010000")]
    [InlineData(4294967295L, "ceffffffff")]
    [InlineData(4294967296L, "cf0000000100000000")]
    [InlineData(long.MaxValue, "cf7fffffffffffffff")]
    [InlineData(-1L, "ff")]
    [InlineData(-32L, "e0")]
    [InlineData(-33L, "d0df")]
    [InlineData(-128L, "d080")]
    [InlineData(-129L, "d1ff7f")]
    [InlineData(-32768L, "d18000")]
    [InlineData(-32769L, "d2ffff7fff")]
    [InlineData(-2147483648L, "d280000000")]
    [InlineData(-2147483649L, "d3ffffffff7fffffff")]
    [InlineData(long.MinValue, "d38000000000000000")]
    public void Signed_integers_use_the_smallest_format(long value, string hex)
    {
        var bytes = Encode((ref MessagePackWriter w) => w.Write(value));
        Assert.Equal(hex, Hex(bytes));
        Assert.Equal(value, Decode(bytes, (ref MessagePackReader r) => r.ReadInt64()));
        Assert.Equal(value, Decode(Segmented(bytes, 1), (ref MessagePackReader r) => r.ReadInt64()));
    }

    [Theory]
    [InlineData(0UL, "00")]
    [InlineData(127UL, "7f")]
    [InlineData(128UL, "cc80")]
    [InlineData(255UL, "ccff")]
    [InlineData(256UL, "cd0100")]
    [InlineData(65535UL, "cdffff")]
    [InlineData(65536UL, "ce00010000")]
    [InlineData(4294967295UL, "ceffffffff")]
    [InlineData(4294967296UL, "cf0000000100000000")]
    [InlineData(ulong.MaxValue, "cfffffffffffffffff")]
    public void Unsigned_integers_use_the_smallest_format(ulong value, string hex)
    {
        var bytes = Encode((ref MessagePackWriter w) => w.Write(value));
        Assert.Equal(hex, Hex(bytes));
        Assert.Equal(value, Decode(bytes, (ref MessagePackReader r) => r.ReadUInt64()));
    }

    [Fact]
    public void Every_typed_writer_hits_its_own_boundaries()
    {
        Assert.Equal("d080", Hex(Encode((ref MessagePackWriter w) => w.Write(sbyte.MinValue))));
        Assert.Equal("7f", Hex(Encode((ref MessagePackWriter w) => w.Write(sbyte.MaxValue))));
        Assert.Equal("ccff", Hex(Encode((ref MessagePackWriter w) => w.Write(byte.MaxValue))));
        Assert.Equal("d18000", Hex(Encode((ref MessagePackWriter w) => w.Write(short.MinValue))));
        Assert.Equal("cd7fff", Hex(Encode((ref MessagePackWriter w) => w.Write(short.MaxValue))));
        Assert.Equal("cdffff", Hex(Encode((ref MessagePackWriter w) => w.Write(ushort.MaxValue))));
        Assert.Equal("d280000000", Hex(Encode((ref MessagePackWriter w) => w.Write(int.MinValue))));
        Assert.Equal("ce7fffffff", Hex(Encode((ref MessagePackWriter w) => w.Write(int.MaxValue))));
        Assert.Equal("ceffffffff", Hex(Encode((ref MessagePackWriter w) => w.Write(uint.MaxValue))));
        Assert.Equal("cdffff", Hex(Encode((ref MessagePackWriter w) => w.Write(char.MaxValue))));
    }

    [Theory]
    // The same small number in every integer form a foreign writer might choose.
    [InlineData("05")]
    [InlineData("cc05")]
    [InlineData("cd0005")]
    [InlineData("ce00000005")]
    [InlineData("cf0000000000000005")]
    [InlineData("d005")]
    [InlineData("d10005")]
    [InlineData("d200000005")]
    [InlineData("d30000000000000005")]
    public void Reader_accepts_every_integer_form(string hex)
    {
        var bytes = FromHex(hex);
        Assert.Equal(5, Decode(bytes, (ref MessagePackReader r) => r.ReadInt32()));
        Assert.Equal((byte)5, Decode(bytes, (ref MessagePackReader r) => r.ReadByte()));
        Assert.Equal((sbyte)5, Decode(bytes, (ref MessagePackReader r) => r.ReadSByte()));
        Assert.Equal(5UL, Decode(bytes, (ref MessagePackReader r) => r.ReadUInt64()));
        Assert.Equal(5.0, Decode(bytes, (ref MessagePackReader r) => r.ReadDouble()));
    }

    [Theory]
    [InlineData("d3ffffffffffffffff", -1L)]
    [InlineData("d2ffffffff", -1L)]
    [InlineData("d1ffff", -1L)]
    [InlineData("d0ff", -1L)]
    [InlineData("d0e0", -32L)]
    public void Reader_accepts_negative_numbers_in_wide_forms(string hex, long expected) =>
        Assert.Equal(expected, Decode(FromHex(hex), (ref MessagePackReader r) => r.ReadInt64()));

    [Theory]
    [InlineData("cc80", "SByte")]
    [InlineData("ff", "Byte")]
    [InlineData("cd8000", "Int16")]
    [InlineData("ce80000000", "Int32")]
    [InlineData("cf8000000000000000", "Int64")]
    [InlineData("ff", "UInt64")]
    [InlineData("ce00010000", "UInt16")]
    [InlineData("cf0000000100000000", "UInt32")]
    public void Integers_that_do_not_fit_throw(string hex, string target)
    {
        var bytes = FromHex(hex);
        var e = Assert.Throws<MessagePackSerializationException>(() => Decode<object>(bytes, (ref MessagePackReader r) => target switch
        {
            "SByte" => r.ReadSByte(),
            "Byte" => r.ReadByte(),
            "Int16" => r.ReadInt16(),
            "UInt16" => r.ReadUInt16(),
            "Int32" => r.ReadInt32(),
            "UInt32" => r.ReadUInt32(),
            "Int64" => r.ReadInt64(),
            _ => r.ReadUInt64(),
        }));
        Assert.Contains(target, e.Message);
    }

    [Theory]
    [InlineData(0.0, "cb0000000000000000")]
    [InlineData(-0.0, "cb8000000000000000")]
    [InlineData(1.5, "cb3ff8000000000000")]
    [InlineData(double.Epsilon, "cb0000000000000001")]
    [InlineData(double.MaxValue, "cb7fefffffffffffff")]
    [InlineData(double.PositiveInfinity, "cb7ff0000000000000")]
    [InlineData(double.NegativeInfinity, "cbfff0000000000000")]
    public void Float64_is_nine_bytes_big_endian(double value, string hex)
    {
        var bytes = Encode((ref MessagePackWriter w) => w.Write(value));
        Assert.Equal(hex, Hex(bytes));
        var read = Decode(bytes, (ref MessagePackReader r) => r.ReadDouble());
        Assert.Equal(BitConverter.DoubleToInt64Bits(value), BitConverter.DoubleToInt64Bits(read));
    }

    [Theory]
    [InlineData(0.0f, "ca00000000")]
    [InlineData(-0.0f, "ca80000000")]
    [InlineData(1.5f, "ca3fc00000")]
    [InlineData(float.Epsilon, "ca00000001")]
    [InlineData(float.PositiveInfinity, "ca7f800000")]
    [InlineData(float.NegativeInfinity, "caff800000")]
    public void Float32_is_five_bytes_big_endian(float value, string hex)
    {
        var bytes = Encode((ref MessagePackWriter w) => w.Write(value));
        Assert.Equal(hex, Hex(bytes));
        var read = Decode(bytes, (ref MessagePackReader r) => r.ReadSingle());
        Assert.Equal(BitConverter.SingleToInt32Bits(value), BitConverter.SingleToInt32Bits(read));
        Assert.Equal((double)value, Decode(bytes, (ref MessagePackReader r) => r.ReadDouble()));
    }

    [Fact]
    public void NaN_round_trips_in_both_widths()
    {
        Assert.True(double.IsNaN(Decode(Encode((ref MessagePackWriter w) => w.Write(double.NaN)), (ref MessagePackReader r) => r.ReadDouble())));
        Assert.True(float.IsNaN(Decode(Encode((ref MessagePackWriter w) => w.Write(float.NaN)), (ref MessagePackReader r) => r.ReadSingle())));
        Assert.True(double.IsNaN(Decode(FromHex("ca7fc00000"), (ref MessagePackReader r) => r.ReadDouble())));
    }

    [Theory]
    [InlineData(0, "a0")]
    [InlineData(31, "bf")]
    [InlineData(32, "d920")]
    [InlineData(255, "d9ff")]
    [InlineData(256, "da0100")]
    [InlineData(65535, "daffff")]
    [InlineData(65536, "db00010000")]
    public void Strings_use_the_smallest_header(int length, string headerHex)
    {
        string value = new('x', length);
        var bytes = Encode((ref MessagePackWriter w) => w.Write(value));
        Assert.Equal(headerHex, Hex(bytes.AsSpan(0, headerHex.Length / 2)));
        Assert.Equal(headerHex.Length / 2 + length, bytes.Length);
        Assert.Equal(value, Decode(bytes, (ref MessagePackReader r) => r.ReadString()));
        Assert.Equal(value, Decode(Segmented(bytes, 7), (ref MessagePackReader r) => r.ReadString()));

        var utf8 = Encode((ref MessagePackWriter w) => w.WriteStringUtf8(Encoding.UTF8.GetBytes(value)));
        Assert.Equal(bytes, utf8);
    }

    [Theory]
    // Character counts chosen so the UTF-8 byte count, not the char count, decides the header.
    [InlineData("é", 15, "be")]      // 30 bytes
    [InlineData("é", 16, "d920")]    // 32 bytes
    [InlineData("日", 85, "d9ff")]   // 255 bytes
    [InlineData("日", 86, "da0102")] // 258 bytes
    [InlineData("🎉", 7, "bc")]      // 28 bytes from 14 UTF-16 chars
    [InlineData("日", 21846, "db00010002")] // 65538 bytes: the long-string path
    public void Non_ascii_strings_size_their_header_by_utf8_bytes(string unit, int repeat, string headerHex)
    {
        string value = string.Concat(Enumerable.Repeat(unit, repeat));
        var bytes = Encode((ref MessagePackWriter w) => w.Write(value));
        Assert.Equal(headerHex, Hex(bytes.AsSpan(0, headerHex.Length / 2)));
        Assert.Equal(Encoding.UTF8.GetBytes(value), bytes[(headerHex.Length / 2)..]);
        Assert.Equal(value, Decode(bytes, (ref MessagePackReader r) => r.ReadString()));
        Assert.Equal(value, Decode(Segmented(bytes, 3), (ref MessagePackReader r) => r.ReadString()));
    }

    [Theory]
    [InlineData("a2c328")]            // bad continuation
    [InlineData("a1ff")]              // never valid in UTF-8
    [InlineData("a3eda080")]          // encoded surrogate
    [InlineData("a2c0af")]            // overlong
    [InlineData("d903e282")]          // truncated sequence inside str8
    public void Invalid_utf8_is_rejected(string hex)
    {
        var bytes = FromHex(hex);
        Assert.Throws<MessagePackSerializationException>(() => Decode(bytes, (ref MessagePackReader r) => r.ReadString()));
        Assert.Throws<MessagePackSerializationException>(() => Decode(Segmented(bytes, 1), (ref MessagePackReader r) => r.ReadString()));
    }

    [Theory]
    [InlineData(0, "c400")]
    [InlineData(255, "c4ff")]
    [InlineData(256, "c50100")]
    [InlineData(65535, "c5ffff")]
    [InlineData(65536, "c600010000")]
    public void Binaries_use_the_smallest_header(int length, string headerHex)
    {
        var value = Enumerable.Range(0, length).Select(i => (byte)i).ToArray();
        var bytes = Encode((ref MessagePackWriter w) => w.Write(value));
        Assert.Equal(headerHex, Hex(bytes.AsSpan(0, headerHex.Length / 2)));
        Assert.Equal(value, bytes[(headerHex.Length / 2)..]);
        Assert.Equal(value, Decode(bytes, (ref MessagePackReader r) => r.ReadByteArray()));
        Assert.Equal(value, Decode(Segmented(bytes, 100), (ref MessagePackReader r) => r.ReadByteArray()));
    }

    [Theory]
    [InlineData(0, "90")]
    [InlineData(15, "9f")]
    [InlineData(16, "dc0010")]
    [InlineData(65535, "dcffff")]
    [InlineData(65536, "dd00010000")]
    public void Arrays_use_the_smallest_header(int count, string headerHex)
    {
        var bytes = Encode((ref MessagePackWriter w) =>
        {
            w.WriteArrayHeader(count);
            for (int i = 0; i < count; i++) w.Write(i & 0x7f);
        });
        Assert.Equal(headerHex, Hex(bytes.AsSpan(0, headerHex.Length / 2)));
        Assert.Equal(headerHex.Length / 2 + count, bytes.Length);
        Decode(bytes, (ref MessagePackReader r) =>
        {
            Assert.Equal(count, r.ReadArrayHeader());
            for (int i = 0; i < count; i++) Assert.Equal(i & 0x7f, r.ReadInt32());
            return 0;
        });
    }

    [Theory]
    [InlineData(0, "80")]
    [InlineData(15, "8f")]
    [InlineData(16, "de0010")]
    [InlineData(65535, "deffff")]
    [InlineData(65536, "df00010000")]
    public void Maps_use_the_smallest_header(int count, string headerHex)
    {
        var bytes = Encode((ref MessagePackWriter w) =>
        {
            w.WriteMapHeader(count);
            for (int i = 0; i < count; i++) { w.Write(i); w.WriteNil(); }
        });
        Assert.Equal(headerHex, Hex(bytes.AsSpan(0, headerHex.Length / 2)));
        Decode(bytes, (ref MessagePackReader r) =>
        {
            Assert.Equal(count, r.ReadMapHeader());
            for (int i = 0; i < count; i++) { Assert.Equal(i, r.ReadInt32()); r.ReadNil(); }
            return 0;
        });
    }

    [Theory]
    [InlineData(1, "d405")]
    [InlineData(2, "d505")]
    [InlineData(4, "d605")]
    [InlineData(8, "d705")]
    [InlineData(16, "d805")]
    [InlineData(0, "c70005")]
    [InlineData(3, "c70305")]
    [InlineData(17, "c71105")]
    [InlineData(255, "c7ff05")]
    [InlineData(256, "c8010005")]
    [InlineData(65535, "c8ffff05")]
    [InlineData(65536, "c90001000005")]
    public void Extensions_use_fixext_or_the_smallest_ext(int length, string headerHex)
    {
        var data = Enumerable.Range(0, length).Select(i => (byte)(i * 7)).ToArray();
        var bytes = Encode((ref MessagePackWriter w) => w.WriteExtension(5, data));
        Assert.Equal(headerHex, Hex(bytes.AsSpan(0, headerHex.Length / 2)));
        Assert.Equal(data, bytes[(headerHex.Length / 2)..]);
        var (header, read) = Decode(bytes, (ref MessagePackReader r) =>
        {
            var h = r.ReadExtensionHeader();
            return (h, r.ReadRaw(h.Length).ToArray());
        });
        Assert.Equal(new ExtensionHeader(5, (uint)length), header);
        Assert.Equal(data, read);
    }

    [Fact]
    public void Negative_extension_types_keep_their_sign()
    {
        var bytes = Encode((ref MessagePackWriter w) => w.WriteExtension(-128, [1]));
        Assert.Equal("d48001", Hex(bytes));
        Assert.Equal(-128, Decode(bytes, (ref MessagePackReader r) => { var h = r.ReadExtensionHeader(); r.ReadRaw(h.Length); return h.TypeCode; }));
    }

    [Fact]
    public void Format_byte_c1_is_never_valid()
    {
        Assert.Equal(MessagePackType.Unknown, MessagePackReader.TypeOf(0xc1));
        Assert.Throws<MessagePackSerializationException>(() => Decode(FromHex("c1"), (ref MessagePackReader r) => { r.Skip(); return 0; }));
        Assert.Throws<MessagePackSerializationException>(() => Decode(FromHex("c1"), (ref MessagePackReader r) => r.ReadInt32()));
    }

    [Fact]
    public void TypeOf_classifies_every_format_byte()
    {
        for (int code = 0; code <= 0xff; code++)
        {
            var expected = code switch
            {
                <= 0x7f or >= 0xe0 or (>= 0xcc and <= 0xd3) => MessagePackType.Integer,
                <= 0x8f or 0xde or 0xdf => MessagePackType.Map,
                <= 0x9f or 0xdc or 0xdd => MessagePackType.Array,
                <= 0xbf or (>= 0xd9 and <= 0xdb) => MessagePackType.String,
                0xc0 => MessagePackType.Nil,
                0xc1 => MessagePackType.Unknown,
                0xc2 or 0xc3 => MessagePackType.Boolean,
                >= 0xc4 and <= 0xc6 => MessagePackType.Binary,
                (>= 0xc7 and <= 0xc9) or (>= 0xd4 and <= 0xd8) => MessagePackType.Extension,
                0xca or 0xcb => MessagePackType.Float,
            };
            Assert.True(expected == MessagePackReader.TypeOf((byte)code), $"0x{code:x2}: expected {expected}, got {MessagePackReader.TypeOf((byte)code)}");
        }
    }

    [Fact]
    public void Wrong_type_names_what_was_expected_and_found()
    {
        var e = Assert.Throws<MessagePackSerializationException>(() => Decode(FromHex("a0"), (ref MessagePackReader r) => r.ReadInt32()));
        Assert.Contains("integer", e.Message);
        Assert.Contains("0xa0", e.Message);
    }
}
