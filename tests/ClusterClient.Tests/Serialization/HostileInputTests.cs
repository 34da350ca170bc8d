using System.Buffers;
using ClusterSharing.Proxies;
using ClusterSharing.Serialization;
using MessagePack;
using MessagePack.Formatters;
using static ClusterSharing.Tests.Serialization.CodecTestKit;

namespace ClusterSharing.Tests.Serialization;

/// <summary>
/// Untrusted input as the runtime decodes it (validation against <see cref="DecodingLimits"/>, then MessagePack-CSharp
/// formatters with <see cref="MessagePackSecurity.UntrustedData"/>): limits, lying lengths, truncation, wrong extension types,
/// invalid UTF-8 and garbage only ever raise <see cref="MessagePackSerializationException"/>.
/// </summary>
public class HostileInputTests
{
    private static readonly MessagePackSerializerOptions Options = WireSerializer.Standard;

    private static T Decode<T>(byte[] bytes, DecodingLimits? limits = null) =>
        WireSerializer.Decode(bytes, ResolvedFormatter<T>.Instance, Options, limits);

    private static void Validate(byte[] bytes, DecodingLimits? limits = null) =>
        WireValidator.ValidateOne(new ReadOnlySequence<byte>(bytes), limits ?? DecodingLimits.UntrustedData);

    private static byte[] Nested(int depth) => Encode((ref MessagePackWriter w) =>
    {
        for (int i = 0; i < depth; i++) w.WriteArrayHeader(1);
        w.Write(7);
    });

    [Fact]
    public void Nesting_past_the_depth_limit_is_refused_before_any_formatter_runs()
    {
        var limits = new DecodingLimits { MaxDepth = 5 };
        Validate(Nested(5), limits);
        var e = Assert.Throws<MessagePackSerializationException>(() => Validate(Nested(6), limits));
        Assert.Contains("depth of 5", e.Message);
        Assert.Equal([[[1]]], Decode<List<List<List<int>>>>(Encode((ref MessagePackWriter w) =>
        {
            w.WriteArrayHeader(1); w.WriteArrayHeader(1); w.WriteArrayHeader(1); w.Write(1);
        }), new DecodingLimits { MaxDepth = 3 }));
        Assert.Throws<MessagePackSerializationException>(() => Decode<List<List<List<int>>>>(Nested(3), new DecodingLimits { MaxDepth = 2 }));
    }

    [Fact]
    public void Hostile_nesting_of_a_million_levels_is_rejected_without_stack_overflow()
    {
        var bytes = Enumerable.Repeat((byte)0x91, 1_000_000).Append((byte)0xc0).ToArray();
        Assert.Throws<MessagePackSerializationException>(() => Validate(bytes));
        Assert.Throws<MessagePackSerializationException>(() => Decode<object?[]>(bytes));
        Assert.Throws<MessagePackSerializationException>(() => Decode<List<int>>(bytes, new DecodingLimits { MaxDepth = 2_000_000 }));
    }

    [Fact]
    public void Collection_string_binary_and_extension_limits_are_checked_on_the_header()
    {
        var limits = new DecodingLimits { MaxCollectionLength = 3, MaxStringLength = 10, MaxBinaryLength = 10 };
        var four = Encode((ref MessagePackWriter w) => { w.WriteArrayHeader(4); for (int i = 0; i < 4; i++) w.Write(i); });
        Assert.Contains("limit of 3", Assert.Throws<MessagePackSerializationException>(() => Decode<int[]>(four, limits)).Message);
        var map = Encode((ref MessagePackWriter w) => { w.WriteMapHeader(4); for (int i = 0; i < 4; i++) { w.Write(i); w.Write(i); } });
        Assert.Throws<MessagePackSerializationException>(() => Decode<Dictionary<int, int>>(map, limits));
        Assert.Equal("0123456789", Decode<string>(Encode((ref MessagePackWriter w) => w.Write("0123456789")), limits));
        Assert.Throws<MessagePackSerializationException>(() => Decode<string>(Encode((ref MessagePackWriter w) => w.Write("0123456789a")), limits));
        Assert.Throws<MessagePackSerializationException>(() => Decode<byte[]>(Encode((ref MessagePackWriter w) => w.Write(new byte[11])), limits));
        Assert.Throws<MessagePackSerializationException>(() => Validate(Encode((ref MessagePackWriter w) => w.WriteExtensionFormat(new ExtensionResult(3, new byte[11]))), limits));
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
    public void Huge_counts_and_lengths_throw_without_allocating_for_the_claim(string because, string hex)
    {
        var bytes = FromHex(hex);
        var noCountLimit = new DecodingLimits { MaxCollectionLength = int.MaxValue, MaxStringLength = int.MaxValue, MaxBinaryLength = int.MaxValue };
        foreach (var limits in new[] { DecodingLimits.UntrustedData, noCountLimit })
        {
            long before = GC.GetAllocatedBytesForCurrentThread();
            Assert.Throws<MessagePackSerializationException>(() => Validate(bytes, limits));
            Assert.Throws<MessagePackSerializationException>(() => Decode<List<int>>(bytes, limits));
            Assert.Throws<MessagePackSerializationException>(() => Decode<long[]>(bytes, limits));
            Assert.Throws<MessagePackSerializationException>(() => Decode<Dictionary<int, int>>(bytes, limits));
            Assert.Throws<MessagePackSerializationException>(() => Decode<string>(bytes, limits));
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
        w.WriteMapHeader(2); w.Write("a"); w.WriteArrayHeader(2); w.Write(1); w.WriteNil(); w.Write("b"); w.WriteExtensionFormat(new ExtensionResult(9, new byte[] { 1, 2, 3 }));
        w.Write(new DateTime(2030, 1, 1, 0, 0, 0, DateTimeKind.Utc).AddTicks(5));
        WriteTimestamp(ref w, -5, 7);
    });

    [Fact]
    public void Truncation_at_every_offset_throws_MessagePackSerializationException()
    {
        var bytes = RichValue();
        Validate(bytes);
        for (int length = 0; length < bytes.Length; length++)
        {
            var prefix = bytes[..length];
            AssertOnlyMessagePackException(() => Validate(prefix), $"validate at length {length}");
            AssertOnlyMessagePackException(() => WireSerializer.CreateReader(Segmented(prefix, 2), DecodingLimits.UntrustedData), $"segmented at length {length}");
        }
    }

    [Fact]
    public void Truncated_strings_and_typed_values_throw_MessagePackSerializationException()
    {
        var value = new Dictionary<string, List<DateTimeOffset>?>
        {
            ["x"] = [new DateTimeOffset(2020, 5, 6, 7, 8, 9, TimeSpan.FromHours(5.5)), DateTimeOffset.UnixEpoch],
            ["日本語の鍵"] = null,
        };
        var bytes = WireSerializer.ToBytes(value, ResolvedFormatter<Dictionary<string, List<DateTimeOffset>?>>.Instance, Options);
        Assert.Equal(value["x"], Decode<Dictionary<string, List<DateTimeOffset>?>>(bytes)["x"]);
        for (int length = 0; length < bytes.Length; length++)
            AssertOnlyMessagePackException(() => Decode<Dictionary<string, List<DateTimeOffset>?>>(bytes[..length]), $"length {length}");
        var text = WireSerializer.ToBytes("a string of some length, 日本", ResolvedFormatter<string>.Instance, Options);
        for (int length = 0; length < text.Length; length++)
            AssertOnlyMessagePackException(() => Decode<string>(text[..length]), $"string length {length}");
    }

    [Fact]
    public void Wrong_extension_types_are_refused()
    {
        // ext 5 where a DateTime is expected; a timestamp (ext -1) of 5 bytes; a DateTime where a string is expected.
        Assert.Throws<MessagePackSerializationException>(() => Decode<DateTime>(FromHex("d6050000000a")));
        Assert.Contains("must be 4, 8 or 12", Assert.Throws<MessagePackSerializationException>(() => Decode<DateTime>(FromHex("c705ff0000000001"))).Message);
        Assert.Throws<MessagePackSerializationException>(() => Decode<string>(FromHex("d6ff0000000a")));
    }

    [Theory]
    [InlineData("a2c328", "truncated two-byte sequence")]
    [InlineData("a3eda080", "UTF-16 surrogate encoded in UTF-8")]
    [InlineData("a2c0af", "overlong encoding of '/'")]
    [InlineData("a1ff", "0xff is never UTF-8")]
    public void Invalid_utf8_in_a_string_is_refused(string hex, string because)
    {
        var e = Assert.Throws<MessagePackSerializationException>(() => Decode<string>(FromHex(hex)));
        Assert.True(e.Message.Contains("UTF-8", StringComparison.Ordinal), because);
        // Also as a map key inside a larger value.
        Assert.Throws<MessagePackSerializationException>(() => Decode<Dictionary<string, int>>(FromHex("81" + hex + "01")));
    }

    [Fact]
    public void Trailing_bytes_after_the_value_are_refused()
    {
        var e = Assert.Throws<MessagePackSerializationException>(() => Decode<int>(FromHex("2a2a")));
        Assert.Contains("exactly one value", e.Message);
    }

    private static void AssertOnlyMessagePackException(Action action, string what)
    {
        try
        {
            action();
            Assert.Fail($"{what}: succeeded on truncated input");
        }
        catch (MessagePackSerializationException) { }
        catch (Exception e) when (e is not Xunit.Sdk.XunitException)
        {
            Assert.Fail($"{what}: {e.GetType().Name} escaped: {e.Message}");
        }
    }

    public enum Level : short { Low = -1, High = 300 }

    [Fact]
    public void Random_garbage_and_mutated_encodings_raise_only_MessagePackSerializationException()
    {
        int seed = Environment.TickCount;
        var random = new Random(seed);
        var buffer = new byte[64];
        for (int i = 0; i < 20_000; i++)
        {
            int length = random.Next(1, buffer.Length);
            random.NextBytes(buffer.AsSpan(0, length));
            var input = buffer[..length];
            try { Decode<Dictionary<string, List<DateTimeOffset?>>>(input); }
            catch (MessagePackSerializationException) { }
            catch (Exception e) when (e is not Xunit.Sdk.XunitException)
            {
                Assert.Fail($"seed {seed}, case {i}, input {Hex(input)}: {e.GetType().Name} escaped: {e.Message}");
            }
        }

        var sample = WireSerializer.ToBytes(new object?[]
        {
            new Dictionary<string, List<DateTimeOffset?>> { ["a"] = [DateTimeOffset.UnixEpoch, null], ["日本"] = [] },
            new List<Level[]> { new[] { Level.Low, Level.High }, Array.Empty<Level>() },
            new Dictionary<Guid, TimeSpan?> { [Guid.NewGuid()] = TimeSpan.FromDays(-2), [Guid.Empty] = null },
        }, ResolvedFormatter<object?[]>.Instance, Options);
        var typed = Encode((ref MessagePackWriter w) =>
        {
            w.WriteArrayHeader(3);
            w.WriteRaw(WireSerializer.ToBytes(new Dictionary<string, List<DateTimeOffset?>> { ["a"] = [DateTimeOffset.UnixEpoch, null] }, ResolvedFormatter<Dictionary<string, List<DateTimeOffset?>>>.Instance, Options));
            w.WriteRaw(WireSerializer.ToBytes(new List<Level[]> { new[] { Level.Low, Level.High } }, ResolvedFormatter<List<Level[]>>.Instance, Options));
            w.WriteRaw(WireSerializer.ToBytes(new Dictionary<Guid, TimeSpan?> { [Guid.NewGuid()] = TimeSpan.FromDays(-2) }, ResolvedFormatter<Dictionary<Guid, TimeSpan?>>.Instance, Options));
        });
        Assert.NotEmpty(sample);
        var mutated = new byte[typed.Length];
        for (int i = 0; i < 20_000; i++)
        {
            typed.CopyTo(mutated, 0);
            for (int flips = random.Next(1, 4); flips > 0; flips--)
                mutated[random.Next(mutated.Length)] = random.Next(3) == 0 ? (byte)random.Next(256) : (byte)(mutated[random.Next(mutated.Length)] ^ (1 << random.Next(8)));
            try
            {
                var reader = WireSerializer.CreateReader(new ReadOnlySequence<byte>(mutated), DecodingLimits.UntrustedData);
                reader.ReadArrayHeader();
                ResolvedFormatter<Dictionary<string, List<DateTimeOffset?>>>.Instance.Deserialize(ref reader, Options);
                ResolvedFormatter<List<Level[]>>.Instance.Deserialize(ref reader, Options);
                ResolvedFormatter<Dictionary<Guid, TimeSpan?>>.Instance.Deserialize(ref reader, Options);
            }
            catch (MessagePackSerializationException) { }
            catch (Exception e) when (e is not Xunit.Sdk.XunitException)
            {
                Assert.Fail($"seed {seed}, case {i}, input {Hex(mutated)}: {e.GetType().Name} escaped: {e.Message}");
            }
        }
    }

    [Fact]
    public void Limits_reject_values_that_cannot_work()
    {
        Assert.Throws<ArgumentOutOfRangeException>(() => new DecodingLimits { MaxDepth = 0 });
        Assert.Throws<ArgumentOutOfRangeException>(() => new DecodingLimits { MaxCollectionLength = -1 });
        Assert.Throws<ArgumentOutOfRangeException>(() => new DecodingLimits { MaxStringLength = -1 });
        Assert.Throws<ArgumentOutOfRangeException>(() => new DecodingLimits { MaxBinaryLength = -1 });
    }
}
