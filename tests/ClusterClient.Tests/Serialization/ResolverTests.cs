using System.Buffers;
using ClusterSharing.Serialization;
using ClusterSharing.Serialization.Formatters;
using static ClusterSharing.Tests.Serialization.CodecTestKit;

namespace ClusterSharing.Tests.Serialization;

/// <summary>The resolver seam and the one-call serializer.</summary>
public class ResolverTests
{
    public enum Color : byte { Red = 1, Blue = 200 }

    public sealed record Point(int X, int Y);

    private sealed class PointFormatter : IMessagePackFormatter<Point?>
    {
        public void Serialize(ref MessagePackWriter writer, Point? value)
        {
            if (value is null) { writer.WriteNil(); return; }
            writer.WriteArrayHeader(2);
            writer.Write(value.X);
            writer.Write(value.Y);
        }

        public Point? Deserialize(ref MessagePackReader reader)
        {
            if (reader.TryReadNil()) return null;
            if (reader.ReadArrayHeader() != 2) throw new MessagePackSerializationException("A Point is an array of 2.");
            return new Point(reader.ReadInt32(), reader.ReadInt32());
        }
    }

    private sealed class PointResolver : IFormatterResolver
    {
        public IMessagePackFormatter<T>? GetFormatter<T>() => typeof(T) == typeof(Point) ? (IMessagePackFormatter<T>)(object)new PointFormatter() : null;
    }

    /// <summary>Writes ints as strings, to prove a resolver in front wins over the standard one.</summary>
    private sealed class IntAsStringResolver : IFormatterResolver
    {
        private sealed class Formatter : IMessagePackFormatter<int>
        {
            public void Serialize(ref MessagePackWriter writer, int value) => writer.Write(value.ToString(System.Globalization.CultureInfo.InvariantCulture));
            public int Deserialize(ref MessagePackReader reader) => int.Parse(reader.ReadString()!, System.Globalization.CultureInfo.InvariantCulture);
        }

        public IMessagePackFormatter<T>? GetFormatter<T>() => typeof(T) == typeof(int) ? (IMessagePackFormatter<T>)(object)new Formatter() : null;
    }

    private static T RoundTrip<T>(IFormatterResolver resolver, T value)
    {
        var bytes = MessagePackSerializer.Serialize(value, resolver);
        return MessagePackSerializer.Deserialize<T>(new ReadOnlySequence<byte>(bytes), resolver);
    }

    [Fact]
    public void Standard_resolver_returns_the_shared_primitive_formatters()
    {
        var r = StandardResolver.Instance;
        Assert.Same(Int32Formatter.Instance, r.GetFormatter<int>());
        Assert.Same(StringFormatter.Instance, r.GetFormatter<string>());
        Assert.Same(ByteArrayFormatter.Instance, r.GetFormatter<byte[]>());
        Assert.Same(DateTimeOffsetFormatter.Instance, r.GetFormatter<DateTimeOffset>());
        Assert.Same(GuidFormatter.Instance, r.GetFormatter<Guid>());
        Assert.Same(EnumFormatter<Color>.Instance, r.GetFormatter<Color>());
        Assert.Same(r.GetFormatter<List<int>>(), r.GetFormatter<List<int>>());
        foreach (var type in new[] { typeof(bool), typeof(byte), typeof(sbyte), typeof(short), typeof(ushort), typeof(uint), typeof(long), typeof(ulong), typeof(float), typeof(double), typeof(char), typeof(DateTime), typeof(TimeSpan) })
            Assert.NotNull(typeof(StandardResolver).GetMethod(nameof(StandardResolver.GetFormatter))!.MakeGenericMethod(type).Invoke(r, null));
    }

    [Fact]
    public void Standard_resolver_builds_constructed_types()
    {
        var r = StandardResolver.Instance;
        Assert.Equal([1, 2], RoundTrip(r, new[] { 1, 2 }));
        Assert.Equal(["a", null], RoundTrip(r, new List<string?> { "a", null }));
        Assert.Equal([Color.Blue], RoundTrip<IReadOnlyList<Color>>(r, [Color.Blue]));
        Assert.Equal([3L], RoundTrip<IList<long>>(r, [3L]));
        Assert.Equal([4], RoundTrip<IReadOnlyCollection<int>>(r, [4]));
        Assert.Equal([5], RoundTrip<ICollection<int>>(r, [5]));
        Assert.Equal([6], RoundTrip<IEnumerable<int>>(r, [6]));
        Assert.Equal(7, RoundTrip(r, new Dictionary<string, int> { ["x"] = 7 })["x"]);
        Assert.Equal(8, RoundTrip<IReadOnlyDictionary<int, int>>(r, new Dictionary<int, int> { [1] = 8 })[1]);
        Assert.Equal(9, RoundTrip<IDictionary<Guid, int>>(r, new Dictionary<Guid, int> { [Guid.Empty] = 9 })[Guid.Empty]);
        Assert.Null(RoundTrip<int?>(r, null));
        Assert.Equal(Color.Red, RoundTrip<Color?>(r, Color.Red));
        var nested = new Dictionary<string, List<DateTimeOffset?[]>> { ["k"] = [[DateTimeOffset.UnixEpoch, null]] };
        Assert.Equal(nested["k"][0], RoundTrip(r, nested)["k"][0]);
    }

    [Fact]
    public void Standard_resolver_returns_null_for_unknown_types()
    {
        var r = StandardResolver.Instance;
        Assert.Null(r.GetFormatter<Point>());
        Assert.Null(r.GetFormatter<List<Point>>());
        Assert.Null(r.GetFormatter<Dictionary<string, Point>>());
        Assert.Null(r.GetFormatter<object>());
        Assert.Null(r.GetFormatter<int[,]>());
        Assert.Null(r.GetFormatter<HashSet<int>>());
        var e = Assert.Throws<MessagePackSerializationException>(() => MessagePackSerializer.Serialize(new Point(1, 2), r));
        Assert.Contains("Point", e.Message);
        Assert.Contains("CompositeResolver", e.Message);
    }

    [Fact]
    public void Composite_resolver_puts_a_user_resolver_in_front_and_inside_collections()
    {
        var r = CompositeResolver.WithStandard(new PointResolver());
        Assert.Equal(new Point(1, 2), RoundTrip(r, new Point(1, 2)));
        Assert.Equal([new Point(1, 2), null], RoundTrip(r, new List<Point?> { new(1, 2), null }));
        Assert.Equal(new Point(3, 4), RoundTrip(r, new Dictionary<string, Point[]> { ["p"] = [new(3, 4)] })["p"][0]);
        Assert.Equal(5, RoundTrip(r, 5));
        Assert.Same(r.GetFormatter<List<Point>>(), r.GetFormatter<List<Point>>());
        Assert.Null(r.GetFormatter<Uri>());
    }

    [Fact]
    public void Composite_resolver_asks_in_order()
    {
        var r = new CompositeResolver(new IntAsStringResolver(), StandardResolver.Instance);
        Assert.Equal("a23432", Hex(MessagePackSerializer.Serialize(42, r)));
        Assert.Equal(42, RoundTrip(r, 42));
        // Elements resolve through the composite too: the list's ints are strings.
        Assert.Equal("92a131a132", Hex(MessagePackSerializer.Serialize(new List<int> { 1, 2 }, r)));
        Assert.Throws<ArgumentException>(() => new CompositeResolver(StandardResolver.Instance, null!));
        // Without the standard resolver, byte[] is not silently turned into an array of integers.
        Assert.Null(new CompositeResolver(new PointResolver()).GetFormatter<byte[]>());
        Assert.Equal("c40101", Hex(MessagePackSerializer.Serialize(new byte[] { 1 }, r)));
    }

    [Fact]
    public void Serializer_writes_to_a_buffer_writer_and_returns_arrays()
    {
        var buffer = new ArrayBufferWriter<byte>();
        MessagePackSerializer.Serialize(buffer, 300, Int32Formatter.Instance);
        MessagePackSerializer.Serialize(buffer, "x", StandardResolver.Instance);
        Assert.Equal("cd012ca178", Hex(buffer.WrittenSpan));
        Assert.Equal("cd012c", Hex(MessagePackSerializer.Serialize(300, Int32Formatter.Instance)));
        var big = new string('z', 100_000);
        Assert.Equal(big, MessagePackSerializer.Deserialize(MessagePackSerializer.Serialize(big, StringFormatter.Instance), StringFormatter.Instance));
        Assert.Equal("cd012c", Hex(MessagePackSerializer.Serialize(300, Int32Formatter.Instance)));
    }

    [Fact]
    public void Serializer_rejects_trailing_bytes_and_wraps_formatter_failures()
    {
        var e = Assert.Throws<MessagePackSerializationException>(() => MessagePackSerializer.Deserialize(FromHex("0102"), Int32Formatter.Instance));
        Assert.Contains("1 bytes follow", e.Message);
        var wrapped = Assert.Throws<MessagePackSerializationException>(() =>
            MessagePackSerializer.Deserialize<int>(new ReadOnlySequence<byte>(FromHex("a3616263")), new CompositeResolver(new IntAsStringResolver())));
        Assert.IsType<FormatException>(wrapped.InnerException);
        var limited = new MessagePackReaderOptions { MaxStringLength = 2 };
        Assert.Throws<MessagePackSerializationException>(() => MessagePackSerializer.Deserialize(FromHex("a3616263"), StringFormatter.Instance, limited));
    }

    [Fact]
    public void Serializer_handles_a_formatter_that_serializes_recursively()
    {
        var outer = new RecursiveFormatter();
        var bytes = MessagePackSerializer.Serialize("abc", outer);
        Assert.Equal("c404a3616263", Hex(bytes));
    }

    private sealed class RecursiveFormatter : IMessagePackFormatter<string>
    {
        public void Serialize(ref MessagePackWriter writer, string value) =>
            writer.Write(MessagePackSerializer.Serialize(value, StringFormatter.Instance!));

        public string Deserialize(ref MessagePackReader reader) => throw new NotSupportedException("write-only test formatter");
    }
}
