using System.Buffers;
using ClusterSharing.Serialization;
using static ClusterSharing.Tests.Serialization.CodecTestKit;

namespace ClusterSharing.Tests.Serialization;

/// <summary>Seeded random values round-trip; the seed is in every failure message so a failure can be replayed.</summary>
public class PropertyTests
{
    private const int Cases = 2_000;

    public static object? RandomValue(Random random, int depth)
    {
        int kind = random.Next(depth > 0 ? 14 : 11);
        return kind switch
        {
            0 => null,
            1 => random.Next(2) == 0,
            2 => RandomInteger(random),
            3 => (long)random.Next(-40, 300),
            4 => RandomDouble(random),
            5 => BitConverter.Int32BitsToSingle(random.Next()) is var f && float.IsNaN(f) ? 0.5f : f,
            6 => RandomString(random),
            7 => RandomBytes(random),
            8 => new ExtValue((sbyte)random.Next(0, 128), RandomBytes(random)),
            9 => new TimestampValue(random.NextInt64(-62135596800L, 253402300800L), (uint)random.Next(1_000_000_000)),
            10 => new TimestampValue(random.NextInt64(0, 1L << 34), random.Next(2) == 0 ? 0u : (uint)random.Next(1_000_000_000)),
            11 or 12 => Enumerable.Range(0, Length(random)).Select(_ => RandomValue(random, depth - 1)).ToArray(),
            _ => new MapValue(Enumerable.Range(0, Length(random)).Select(_ => new KeyValuePair<object?, object?>(RandomValue(random, 0), RandomValue(random, depth - 1))).ToList()),
        };
    }

    private static int Length(Random random) => random.Next(8) switch { 0 => random.Next(14, 40), _ => random.Next(0, 6) };

    private static object RandomInteger(Random random)
    {
        // Bias toward the format boundaries.
        long[] edges = [0, 127, 128, 255, 256, 65535, 65536, uint.MaxValue, uint.MaxValue + 1L, long.MaxValue, -1, -32, -33, -128, -129, short.MinValue, short.MinValue - 1, int.MinValue, int.MinValue - 1L, long.MinValue];
        return random.Next(4) switch
        {
            0 => edges[random.Next(edges.Length)] + random.Next(-1, 2) is var e ? e : 0,
            1 => ulong.MaxValue - (ulong)random.Next(1000),
            _ => random.NextInt64(long.MinValue, long.MaxValue) >> random.Next(64),
        };
    }

    private static double RandomDouble(Random random) => random.Next(6) switch
    {
        0 => double.NaN,
        1 => -0.0,
        2 => double.Epsilon,
        3 => double.PositiveInfinity,
        _ => BitConverter.Int64BitsToDouble(random.NextInt64()),
    };

    private static string RandomString(Random random)
    {
        string[] pieces = ["a", "Z", "é", "日本", "🎉", " ", "\0", "\u007f", "\u0080", "\uffff"];
        int count = random.Next(4) == 0 ? random.Next(30, 300) : random.Next(0, 10);
        return string.Concat(Enumerable.Range(0, count).Select(_ => pieces[random.Next(pieces.Length)]));
    }

    private static byte[] RandomBytes(Random random)
    {
        var bytes = new byte[random.Next(3) == 0 ? random.Next(17, 300) : random.Next(0, 17)];
        random.NextBytes(bytes);
        return bytes;
    }

    [Fact]
    public void Random_nested_values_round_trip_whole_and_in_segments()
    {
        int seed = Environment.TickCount;
        var random = new Random(seed);
        var buffer = new ArrayBufferWriter<byte>();
        for (int i = 0; i < Cases; i++)
        {
            var value = RandomValue(random, 4);
            buffer.ResetWrittenCount();
            var writer = new MessagePackWriter(buffer);
            WriteValue(ref writer, value);
            writer.Flush();
            var bytes = buffer.WrittenSpan.ToArray();
            int segment = random.Next(1, 9);
            foreach (var sequence in new[] { new ReadOnlySequence<byte>(bytes), Segmented(bytes, segment) })
            {
                var reader = new MessagePackReader(sequence);
                object? read;
                try { read = ReadValue(ref reader); }
                catch (MessagePackSerializationException e) { throw new Xunit.Sdk.XunitException($"seed {seed}, case {i}: {e.Message}; bytes {Hex(bytes)}"); }
                Assert.True(reader.End, $"seed {seed}, case {i}: {reader.Remaining} bytes left");
                Assert.True(StrictEquals(value, read), $"seed {seed}, case {i}, segment {segment}: value differs after round trip; bytes {Hex(bytes)}");

                var skipper = new MessagePackReader(sequence);
                skipper.Skip();
                Assert.True(skipper.End, $"seed {seed}, case {i}: Skip stopped at {skipper.Consumed} of {bytes.Length}");
            }
            // Re-encoding what was read gives the same bytes: the writer is deterministic and canonical.
            var again = Encode((ref MessagePackWriter w) => WriteValue(ref w, Decode(bytes, ReadValue)));
            Assert.True(bytes.AsSpan().SequenceEqual(again), $"seed {seed}, case {i}: re-encoding differs");
        }
    }

    [Fact]
    public void Random_integers_decode_through_every_wider_reader()
    {
        int seed = Environment.TickCount;
        var random = new Random(seed);
        for (int i = 0; i < Cases; i++)
        {
            long value = random.NextInt64(long.MinValue, long.MaxValue) >> random.Next(64);
            var bytes = Encode((ref MessagePackWriter w) => w.Write(value));
            Assert.True(value == Decode(bytes, (ref MessagePackReader r) => r.ReadInt64()), $"seed {seed}, case {i}: {value}");
            if (value is >= int.MinValue and <= int.MaxValue)
                Assert.True(value == Decode(bytes, (ref MessagePackReader r) => r.ReadInt32()), $"seed {seed}, case {i}: {value}");
            else
                Assert.Throws<MessagePackSerializationException>(() => Decode(bytes, (ref MessagePackReader r) => r.ReadInt32()));
            if (value >= 0)
                Assert.True((ulong)value == Decode(bytes, (ref MessagePackReader r) => r.ReadUInt64()), $"seed {seed}, case {i}: {value}");
            else
                Assert.Throws<MessagePackSerializationException>(() => Decode(bytes, (ref MessagePackReader r) => r.ReadUInt64()));
        }
    }
}
