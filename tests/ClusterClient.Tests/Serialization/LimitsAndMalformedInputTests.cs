using System.Buffers;
using ClusterSharing.Serialization;
using ClusterSharing.Serialization.Formatters;
using static ClusterSharing.Tests.Serialization.CodecTestKit;

namespace ClusterSharing.Tests.Serialization;

/// <summary>Untrusted input: limits, lying lengths, truncation and garbage only ever raise MessagePackSerializationException.</summary>
public class LimitsAndMalformedInputTests
{
    private static readonly MessagePackReaderOptions NoCountLimit = new() { MaxCollectionLength = int.MaxValue, MaxStringLength = int.MaxValue, MaxBinaryLength = int.MaxValue };

    private static byte[] Nested(int depth) => Encode((ref MessagePackWriter w) =>
    {
        for (int i = 0; i < depth; i++) w.WriteArrayHeader(1);
        w.Write(7);
    });

    [Fact]
    public void Depth_limit_applies_to_formatters_and_Skip()
    {
        var options = new MessagePackReaderOptions { MaxDepth = 5 };
        var ok = Nested(5);
        var tooDeep = Nested(6);
        Assert.NotNull(Decode(ok, ReadValue, options));
        Decode(ok, (ref MessagePackReader r) => { r.Skip(); return 0; }, options);
        var e = Assert.Throws<MessagePackSerializationException>(() => Decode(tooDeep, ReadValue, options));
        Assert.Contains("depth of 5", e.Message);
        Assert.Throws<MessagePackSerializationException>(() => Decode(tooDeep, (ref MessagePackReader r) => { r.Skip(); return 0; }, options));

        var lists = new ListFormatter<List<List<int>?>?>(new ListFormatter<List<int>?>(new ListFormatter<int>(Int32Formatter.Instance)));
        var three = Encode((ref MessagePackWriter w) => lists.Serialize(ref w, [[[1]]]));
        Decode(three, lists.Deserialize, new MessagePackReaderOptions { MaxDepth = 3 });
        Assert.Throws<MessagePackSerializationException>(() => Decode(three, lists.Deserialize, new MessagePackReaderOptions { MaxDepth = 2 }));
    }

    [Fact]
    public void Skip_handles_nesting_deeper_than_its_stack_buffer()
    {
        var options = new MessagePackReaderOptions { MaxDepth = 1000 };
        Decode(Nested(1000), (ref MessagePackReader r) => { r.Skip(); return 0; }, options);
        Assert.Throws<MessagePackSerializationException>(() => Decode(Nested(1001), (ref MessagePackReader r) => { r.Skip(); return 0; }, options));
    }

    [Fact]
    public void Hostile_nesting_of_a_million_levels_is_rejected_without_stack_overflow()
    {
        var bytes = Enumerable.Repeat((byte)0x91, 1_000_000).Append((byte)0xc0).ToArray();
        Assert.Throws<MessagePackSerializationException>(() => Decode(bytes, (ref MessagePackReader r) => { r.Skip(); return 0; }));
        Assert.Throws<MessagePackSerializationException>(() => Decode(bytes, ReadValue));
    }

    [Fact]
    public void Collection_length_limit_is_checked_on_the_header()
    {
        var options = new MessagePackReaderOptions { MaxCollectionLength = 3 };
        var four = Encode((ref MessagePackWriter w) => { w.WriteArrayHeader(4); for (int i = 0; i < 4; i++) w.Write(i); });
        var e = Assert.Throws<MessagePackSerializationException>(() => Decode(four, (ref MessagePackReader r) => r.ReadArrayHeader(), options));
        Assert.Contains("limit of 3", e.Message);
        var map = Encode((ref MessagePackWriter w) => { w.WriteMapHeader(4); for (int i = 0; i < 4; i++) { w.Write(i); w.Write(i); } });
        Assert.Throws<MessagePackSerializationException>(() => Decode(map, (ref MessagePackReader r) => { r.Skip(); return 0; }, options));
    }

    [Fact]
    public void String_binary_and_extension_limits_are_checked_on_the_header()
    {
        var options = new MessagePackReaderOptions { MaxStringLength = 10, MaxBinaryLength = 10 };
        Assert.Equal("0123456789", Decode(Encode((ref MessagePackWriter w) => w.Write("0123456789")), (ref MessagePackReader r) => r.ReadString(), options));
        Assert.Throws<MessagePackSerializationException>(() => Decode(Encode((ref MessagePackWriter w) => w.Write("0123456789a")), (ref MessagePackReader r) => r.ReadString(), options));
        Assert.Throws<MessagePackSerializationException>(() => Decode(Encode((ref MessagePackWriter w) => w.Write(new byte[11])), (ref MessagePackReader r) => r.ReadByteArray(), options));
        Assert.Throws<MessagePackSerializationException>(() => Decode(Encode((ref MessagePackWriter w) => w.WriteExtension(3, new byte[11])), (ref MessagePackReader r) => r.ReadExtensionHeader(), options));
    }

    public static TheoryData<string, string> LyingLengths => new()
    {
        { "array32 claims 2^31 elements", "dd80000000" + "0102030405" },
        { "array32 claims 2^32-1 elements", "ddffffffff" + "01" },
        { "map32 claims 2^31 pairs", "df80000000" + "0102030405" },
        { "str32 claims 2 GiB", "db7fffffff" + "41424344" },
        { "str32 claims 4 GiB", "dbffffffff" + "41" },
        { "bin32 claims 2 GiB", "c67fffffff" + "0102" },
        { "ext32 claims 2 GiB", "c97fffffff05" + "01" },
        { "array16 claims more than remains", "dcffff" + "01020304" },
        { "str16 claims more than remains", "daffff" + "41" },
    };

    [Theory]
    [MemberData(nameof(LyingLengths))]
    public void Lying_lengths_throw_without_allocating_for_the_claim(string because, string hex)
    {
        var bytes = FromHex(hex);
        var ints = new ListFormatter<int>(Int32Formatter.Instance);
        var array = new ArrayFormatter<long>(Int64Formatter.Instance);
        var map = new DictionaryFormatter<int, int>(Int32Formatter.Instance, Int32Formatter.Instance);
        foreach (var options in new[] { MessagePackReaderOptions.UntrustedData, NoCountLimit })
        {
            long before = GC.GetAllocatedBytesForCurrentThread();
            Assert.Throws<MessagePackSerializationException>(() => Decode(bytes, ReadValue, options));
            Assert.Throws<MessagePackSerializationException>(() => Decode(bytes, (ref MessagePackReader r) => { r.Skip(); return 0; }, options));
            Assert.Throws<MessagePackSerializationException>(() => Decode(bytes, (ref MessagePackReader r) => r.ReadRaw(), options));
            if (hex.StartsWith("dd", StringComparison.Ordinal) || hex.StartsWith("dc", StringComparison.Ordinal))
            {
                Assert.Throws<MessagePackSerializationException>(() => Decode(bytes, ints.Deserialize, options));
                Assert.Throws<MessagePackSerializationException>(() => Decode(bytes, array.Deserialize, options));
            }
            if (hex.StartsWith("df", StringComparison.Ordinal))
                Assert.Throws<MessagePackSerializationException>(() => Decode(bytes, map.Deserialize, options));
            long allocated = GC.GetAllocatedBytesForCurrentThread() - before;
            // Exceptions and their stack traces cost a few KB; the claims are gigabytes.
            Assert.True(allocated < 256 * 1024, $"{because}: allocated {allocated} bytes");
        }
    }

    private static byte[] RichValue() => Encode((ref MessagePackWriter w) =>
    {
        w.WriteArrayHeader(12);
        w.WriteNil(); w.Write(true); w.Write(-33); w.Write(70000); w.Write(ulong.MaxValue); w.Write(1.5f); w.Write(2.5);
        w.Write("héllo, wörld — 日本"); w.Write(new byte[] { 1, 2, 3 });
        w.WriteMapHeader(2); w.Write("a"); w.WriteArrayHeader(2); w.Write(1); w.WriteNil(); w.Write("b"); w.WriteExtension(9, [1, 2, 3]);
        w.Write(new DateTime(2030, 1, 1, 0, 0, 0, DateTimeKind.Utc).AddTicks(5));
        w.WriteTimestamp(-5, 7);
    });

    [Fact]
    public void Truncation_at_every_offset_throws_MessagePackSerializationException()
    {
        var bytes = RichValue();
        Assert.NotNull(Decode(bytes, ReadValue));
        for (int length = 0; length < bytes.Length; length++)
        {
            var prefix = bytes[..length];
            foreach (var sequence in new[] { new ReadOnlySequence<byte>(prefix), Segmented(prefix, 2) })
            {
                AssertOnlyMessagePackException(sequence, ReadValue, $"ReadValue at length {length}");
                AssertOnlyMessagePackException(sequence, (ref MessagePackReader r) => { r.Skip(); return 0; }, $"Skip at length {length}");
                AssertOnlyMessagePackException(sequence, (ref MessagePackReader r) => r.ReadRaw(), $"ReadRaw at length {length}");
            }
        }
    }

    [Fact]
    public void Truncated_formatter_input_throws_MessagePackSerializationException()
    {
        var formatter = new DictionaryFormatter<string, List<DateTimeOffset>?>(StringFormatter.Instance!, new ListFormatter<DateTimeOffset>(DateTimeOffsetFormatter.Instance));
        var value = new Dictionary<string, List<DateTimeOffset>?>
        {
            ["x"] = [new DateTimeOffset(2020, 5, 6, 7, 8, 9, TimeSpan.FromHours(5.5)), DateTimeOffset.UnixEpoch],
            ["y"] = null,
        };
        var bytes = Encode((ref MessagePackWriter w) => formatter.Serialize(ref w, value));
        for (int length = 0; length < bytes.Length; length++)
            AssertOnlyMessagePackException(new ReadOnlySequence<byte>(bytes[..length]), formatter.Deserialize, $"length {length}");
        var guid = Encode((ref MessagePackWriter w) => GuidFormatter.Instance.Serialize(ref w, Guid.NewGuid()));
        for (int length = 0; length < guid.Length; length++)
            AssertOnlyMessagePackException(new ReadOnlySequence<byte>(guid[..length]), GuidFormatter.Instance.Deserialize, $"guid length {length}");
    }

    private static void AssertOnlyMessagePackException<T>(ReadOnlySequence<byte> bytes, ReadFunc<T> read, string what)
    {
        try
        {
            var reader = new MessagePackReader(bytes);
            read(ref reader);
            Assert.Fail($"{what}: read succeeded on truncated input");
        }
        catch (MessagePackSerializationException) { }
        catch (Exception e) when (e is not Xunit.Sdk.XunitException)
        {
            Assert.Fail($"{what}: {e.GetType().Name} escaped: {e.Message}");
        }
    }

    [Fact]
    public void Random_garbage_never_raises_anything_but_MessagePackSerializationException()
    {
        int seed = Environment.TickCount;
        var random = new Random(seed);
        var buffer = new byte[64];
        var options = new MessagePackReaderOptions { MaxDepth = 8 };
        for (int i = 0; i < 20_000; i++)
        {
            int length = random.Next(1, buffer.Length);
            random.NextBytes(buffer.AsSpan(0, length));
            var sequence = new ReadOnlySequence<byte>(buffer, 0, length);
            try
            {
                var reader = new MessagePackReader(sequence, options);
                ReadValue(ref reader);
                var skipper = new MessagePackReader(sequence, options);
                skipper.Skip();
                Assert.Equal(reader.Consumed, skipper.Consumed);
            }
            catch (MessagePackSerializationException) { }
            catch (Exception e) when (e is not Xunit.Sdk.XunitException)
            {
                Assert.Fail($"seed {seed}, case {i}, input {Hex(buffer.AsSpan(0, length))}: {e.GetType().Name} escaped: {e.Message}");
            }
        }
    }

    public enum Level : short { Low = -1, High = 300 }

    [Fact]
    public void Mutated_encodings_fed_to_typed_formatters_raise_only_MessagePackSerializationException()
    {
        int seed = Environment.TickCount;
        var random = new Random(seed);
        var formatter = StandardResolver.Instance.GetFormatter<Dictionary<string, List<DateTimeOffset?>>>()!;
        var tuple = StandardResolver.Instance.GetFormatter<List<Level[]>>()!;
        var guids = StandardResolver.Instance.GetFormatter<IReadOnlyDictionary<Guid, TimeSpan?>>()!;
        var sample = Encode((ref MessagePackWriter w) =>
        {
            formatter.Serialize(ref w, new() { ["a"] = [DateTimeOffset.UnixEpoch, null, new DateTimeOffset(2500, 1, 1, 0, 0, 0, TimeSpan.FromHours(-3))], ["日本"] = [] });
            tuple.Serialize(ref w, [[Level.Low, Level.High], []]);
            guids.Serialize(ref w, new Dictionary<Guid, TimeSpan?> { [Guid.NewGuid()] = TimeSpan.FromDays(-2), [Guid.Empty] = null });
        });
        var mutated = new byte[sample.Length];
        for (int i = 0; i < 20_000; i++)
        {
            sample.CopyTo(mutated, 0);
            for (int flips = random.Next(1, 4); flips > 0; flips--)
                mutated[random.Next(mutated.Length)] = random.Next(3) == 0 ? (byte)random.Next(256) : (byte)(mutated[random.Next(mutated.Length)] ^ (1 << random.Next(8)));
            try
            {
                var reader = new MessagePackReader(mutated);
                formatter.Deserialize(ref reader);
                tuple.Deserialize(ref reader);
                guids.Deserialize(ref reader);
            }
            catch (MessagePackSerializationException) { }
            catch (Exception e) when (e is not Xunit.Sdk.XunitException)
            {
                Assert.Fail($"seed {seed}, case {i}, input {Hex(mutated)}: {e.GetType().Name} escaped: {e.Message}");
            }
        }
    }

    [Fact]
    public void Skip_and_ReadRaw_move_past_exactly_one_nested_value()
    {
        var rich = RichValue();
        var bytes = rich.Concat(FromHex("2a")).ToArray();
        foreach (var sequence in new[] { new ReadOnlySequence<byte>(bytes), Segmented(bytes, 3) })
        {
            var reader = new MessagePackReader(sequence);
            var raw = reader.ReadRaw();
            Assert.Equal(rich, raw.ToArray());
            Assert.Equal(42, reader.ReadInt32());
            Assert.True(reader.End);

            reader = new MessagePackReader(sequence);
            reader.ReadArrayHeader();
            for (int i = 0; i < 9; i++) reader.Skip();
            Assert.Equal(2, reader.ReadMapHeader());
            Assert.Equal("a", reader.ReadString());
            reader.Skip();
            Assert.Equal("b", reader.ReadString());
            reader.Skip();
            reader.Skip();
            Assert.Equal((-5L, 7u), reader.ReadTimestamp());
            Assert.Equal(42, reader.ReadInt32());
        }
    }

    [Fact]
    public void Unbalanced_ExitNested_is_a_formatter_bug_not_a_raised_limit()
    {
        var reader = new MessagePackReader(FromHex("c0"));
        reader.EnterNested();
        reader.ExitNested();
        try { reader.ExitNested(); Assert.Fail("ExitNested at depth 0 was accepted"); }
        catch (InvalidOperationException e) { Assert.Contains("EnterNested", e.Message); }
        Assert.Equal(0, reader.Depth);
    }

    [Fact]
    public void Options_reject_negative_limits()
    {
        Assert.Throws<ArgumentOutOfRangeException>(() => new MessagePackReaderOptions { MaxDepth = -1 });
        Assert.Throws<ArgumentOutOfRangeException>(() => new MessagePackReaderOptions { MaxCollectionLength = -1 });
        Assert.Throws<ArgumentOutOfRangeException>(() => new MessagePackReaderOptions { MaxStringLength = -1 });
        Assert.Throws<ArgumentOutOfRangeException>(() => new MessagePackReaderOptions { MaxBinaryLength = -1 });
    }
}
