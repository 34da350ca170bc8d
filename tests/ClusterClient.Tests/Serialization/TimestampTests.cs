using ClusterSharing.Serialization;
using static ClusterSharing.Tests.Serialization.CodecTestKit;

namespace ClusterSharing.Tests.Serialization;

/// <summary>The timestamp extension (-1) in its 32, 64 and 96-bit forms.</summary>
public class TimestampTests
{
    [Theory]
    [InlineData(0L, 0u, "d6ff00000000")]
    [InlineData(4294967295L, 0u, "d6ffffffffff")]                       // last second of timestamp 32
    [InlineData(1L, 1u, "d7ff0000000400000001")]                         // nanoseconds force timestamp 64
    [InlineData(4294967296L, 0u, "d7ff0000000100000000")]                // past 32 bits of seconds
    [InlineData(17179869183L, 999999999u, "d7ffee6b27ffffffffff")]       // largest timestamp 64
    [InlineData(17179869184L, 0u, "c70cff000000000000000400000000")]   // 2^34 seconds: timestamp 96
    [InlineData(-1L, 0u, "c70cff00000000ffffffffffffffff")]              // one second before 1970
    [InlineData(-1L, 999999999u, "c70cff3b9ac9ffffffffffffffffff")]
    public void Timestamps_use_the_smallest_form(long seconds, uint nanos, string hex)
    {
        var bytes = Encode((ref MessagePackWriter w) => w.WriteTimestamp(seconds, nanos));
        Assert.Equal(hex, Hex(bytes));
        Assert.Equal((seconds, nanos), Decode(bytes, (ref MessagePackReader r) => r.ReadTimestamp()));
        Assert.Equal((seconds, nanos), Decode(Segmented(bytes, 3), (ref MessagePackReader r) => r.ReadTimestamp()));
    }

    public static TheoryData<DateTime, int> Dates => new()
    {
        { DateTime.UnixEpoch, 6 },
        { new DateTime(2026, 11, 21, 5, 30, 0, DateTimeKind.Utc), 6 },
        { new DateTime(2026, 11, 21, 5, 30, 0, DateTimeKind.Utc).AddTicks(1), 10 },
        { new DateTime(2106, 2, 7, 6, 28, 15, DateTimeKind.Utc), 6 },   // 2^32 - 1 seconds
        { new DateTime(2106, 2, 7, 6, 28, 16, DateTimeKind.Utc), 10 },
        { new DateTime(2514, 5, 30, 1, 53, 3, DateTimeKind.Utc).AddTicks(9_999_999), 10 }, // 2^34 - 1 seconds
        { new DateTime(2514, 5, 30, 1, 53, 4, DateTimeKind.Utc), 15 },
        { new DateTime(1969, 12, 31, 23, 59, 59, 999, DateTimeKind.Utc), 15 },
        { new DateTime(1900, 1, 1, 0, 0, 0, DateTimeKind.Utc).AddTicks(1234567), 15 },
        { new DateTime(9000, 1, 1, 0, 0, 0, DateTimeKind.Utc), 15 },
        { DateTime.SpecifyKind(DateTime.MinValue, DateTimeKind.Utc), 15 },
        { DateTime.SpecifyKind(DateTime.MaxValue, DateTimeKind.Utc), 15 },
    };

    [Theory]
    [MemberData(nameof(Dates))]
    public void DateTime_round_trips_to_the_tick_in_the_expected_form(DateTime value, int expectedLength)
    {
        var bytes = Encode((ref MessagePackWriter w) => w.Write(value));
        Assert.Equal(expectedLength, bytes.Length);
        var read = Decode(bytes, (ref MessagePackReader r) => r.ReadDateTime());
        Assert.Equal(value.Ticks, read.Ticks);
        Assert.Equal(DateTimeKind.Utc, read.Kind);
    }

    [Fact]
    public void Unspecified_kind_is_taken_as_utc_and_local_is_converted()
    {
        var unspecified = new DateTime(2020, 1, 2, 3, 4, 5, DateTimeKind.Unspecified);
        Assert.Equal(unspecified.Ticks, Decode(Encode((ref MessagePackWriter w) => w.Write(unspecified)), (ref MessagePackReader r) => r.ReadDateTime()).Ticks);
        var local = new DateTime(2020, 1, 2, 3, 4, 5, DateTimeKind.Local);
        Assert.Equal(local.ToUniversalTime(), Decode(Encode((ref MessagePackWriter w) => w.Write(local)), (ref MessagePackReader r) => r.ReadDateTime()));
    }

    [Fact]
    public void Sub_tick_nanoseconds_are_truncated_to_ticks()
    {
        var bytes = Encode((ref MessagePackWriter w) => w.WriteTimestamp(10, 123_456_789));
        Assert.Equal(DateTime.UnixEpoch.AddSeconds(10).AddTicks(1_234_567), Decode(bytes, (ref MessagePackReader r) => r.ReadDateTime()));
    }

    [Theory]
    [InlineData("c70cff000000000000000000000000", "accepted")]           // 96-bit form of the epoch: valid, just not smallest
    [InlineData("d7ff0000000000000000", "accepted")]                     // 64-bit form of the epoch
    [InlineData("d7ffffffffff00000000", "nanoseconds")]                  // nsec30 > 999999999
    [InlineData("c70cff3b9aca00000000000000000000", "nanoseconds")]     // nsec32 = 10^9
    [InlineData("d5ff0000", "4, 8 or 12")]                               // fixext2 is no timestamp
    [InlineData("d6050000000000", "ext 5")]                              // another ext type
    [InlineData("c70cff00000000fffffff1886e08ff", "outside the range")] // one second before year 1
    [InlineData("c70cff000000007fffffffffffffff", "outside the range")] // 96-bit seconds max
    public void Reader_validates_timestamps(string hex, string expected)
    {
        var bytes = FromHex(hex);
        if (expected == "accepted")
        {
            Assert.Equal(DateTime.UnixEpoch, Decode(bytes, (ref MessagePackReader r) => r.ReadDateTime()));
            return;
        }
        var e = Assert.Throws<MessagePackSerializationException>(() => Decode(bytes, (ref MessagePackReader r) => r.ReadDateTime()));
        Assert.Contains(expected, e.Message);
    }

    [Fact]
    public void Writer_rejects_nanoseconds_of_a_second_or_more() =>
        Assert.Throws<ArgumentOutOfRangeException>(() => Encode((ref MessagePackWriter w) => w.WriteTimestamp(0, 1_000_000_000)));
}
