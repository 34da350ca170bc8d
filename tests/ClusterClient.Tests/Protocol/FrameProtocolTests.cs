using System.Buffers;
using System.Buffers.Binary;
using System.IO.Pipelines;
using ClusterSharing.Protocol;
using ClusterSharing.Serialization;
using MessagePack;
using MessagePack.Formatters;

namespace ClusterSharing.Tests.Protocol;

public class FrameProtocolTests
{
    public static TheoryData<int> SampleIndexes()
    {
        var data = new TheoryData<int>();
        for (int i = 0; i < PacketSamples.All().Count; i++) data.Add(i);
        return data;
    }

    [Fact]
    public void Samples_cover_every_packet_type()
    {
        var covered = PacketSamples.All().Select(s => s.Type).ToHashSet();
        foreach (var type in Enum.GetValues<PacketType>()) Assert.Contains(type, covered);
    }

    [Theory]
    [MemberData(nameof(SampleIndexes))]
    public void Every_packet_type_round_trips_through_writer_and_reader(int index)
    {
        var sample = PacketSamples.All()[index];
        var bytes = sample.Encode();
        var buffer = new ReadOnlySequence<byte>(bytes);
        Assert.True(FrameReader.TryReadFrame(ref buffer, ProtocolLimits.Default, out var frame));
        Assert.True(buffer.IsEmpty);
        Assert.Equal(bytes.Length, frame.Header.FrameLength);
        sample.Verify(frame);
    }

    [Theory]
    [MemberData(nameof(SampleIndexes))]
    public void Every_packet_type_round_trips_when_split_across_tiny_segments(int index)
    {
        var sample = PacketSamples.All()[index];
        var bytes = sample.Encode();
        foreach (var sizes in new[] { new[] { 1 }, new[] { 3, 7 }, new[] { 23, 1, 2 } })
        {
            var buffer = PacketSamples.Segmented(bytes, sizes);
            Assert.True(FrameReader.TryReadFrame(ref buffer, ProtocolLimits.Default, out var frame));
            Assert.True(buffer.IsEmpty);
            sample.Verify(frame);
        }
    }

    [Fact]
    public void Back_to_back_frames_are_read_in_order_and_a_partial_frame_waits_for_more_bytes()
    {
        var samples = PacketSamples.All();
        var all = samples.SelectMany(s => s.Encode()).ToArray();
        // Feed every prefix length: the reader must return exactly the complete frames and leave the rest untouched.
        int[] ends = samples.Select(s => s.Encode().Length).ToArray();
        for (int cut = 0; cut <= all.Length; cut += 5)
        {
            var buffer = new ReadOnlySequence<byte>(all, 0, cut);
            int read = 0;
            while (FrameReader.TryReadFrame(ref buffer, ProtocolLimits.Default, out var frame))
            {
                samples[read].Verify(frame);
                read++;
            }
            int expected = 0, total = 0;
            while (expected < ends.Length && total + ends[expected] <= cut) total += ends[expected++];
            Assert.Equal(expected, read);
            Assert.Equal(cut - total, buffer.Length);
        }
    }

    private static byte[] ValidHeader(PacketType type = PacketType.Invoke, int headerLength = 4, int bodyLength = 0)
    {
        var bytes = new byte[FrameHeader.Size];
        new FrameHeader(type, 1, 0, headerLength, bodyLength).Write(bytes);
        return bytes;
    }

    private static ProtocolException Reject(byte[] headerBytes, ProtocolLimits? limits = null)
    {
        var buffer = new ReadOnlySequence<byte>(headerBytes);
        return Assert.Throws<ProtocolException>(() => FrameReader.TryReadFrame(ref buffer, limits ?? ProtocolLimits.Default, out _));
    }

    [Fact]
    public void Cluster_client_version_1_is_recognised_and_rejected_with_a_clear_message()
    {
        var bytes = ValidHeader();
        bytes[0] = 1;
        bytes[2] = 0; // cluster-client keeps the reserved bytes zero
        var e = Reject(bytes);
        Assert.Equal(ProtocolErrorReason.LegacyVersion, e.Reason);
        Assert.Contains("cluster-client v1 peers are not supported yet", e.Message);
    }

    [Theory]
    [InlineData(0)]
    [InlineData(3)]
    [InlineData((byte)'G')]
    [InlineData(255)]
    public void Unknown_versions_are_rejected(byte version)
    {
        var bytes = ValidHeader();
        bytes[0] = version;
        Assert.Equal(ProtocolErrorReason.UnsupportedVersion, Reject(bytes).Reason);
    }

    [Theory]
    [InlineData(0)]
    [InlineData(24)]
    [InlineData(255)]
    public void Unknown_packet_types_are_rejected(byte type)
    {
        var bytes = ValidHeader();
        bytes[2] = type;
        Assert.Equal(ProtocolErrorReason.UnknownPacketType, Reject(bytes).Reason);
    }

    [Fact]
    public void A_response_flag_that_does_not_match_the_type_is_rejected()
    {
        var request = ValidHeader(PacketType.Invoke);
        request[1] = 1;
        Assert.Equal(ProtocolErrorReason.InvalidResponseFlag, Reject(request).Reason);
        var response = ValidHeader(PacketType.InvokeResult);
        response[1] = 0;
        Assert.Equal(ProtocolErrorReason.InvalidResponseFlag, Reject(response).Reason);
        request[1] = 2;
        Assert.Equal(ProtocolErrorReason.InvalidResponseFlag, Reject(request).Reason);
    }

    [Fact]
    public void Unknown_flag_bits_are_rejected()
    {
        var bytes = ValidHeader();
        bytes[3] = 0x80;
        Assert.Equal(ProtocolErrorReason.UnknownFlags, Reject(bytes).Reason);
    }

    [Theory]
    [InlineData(12, -1)]
    [InlineData(16, 0)]
    [InlineData(16, -5)]
    [InlineData(20, -1)]
    [InlineData(20, int.MinValue)]
    public void Negative_or_empty_fields_are_rejected(int offset, int value)
    {
        var bytes = ValidHeader();
        BinaryPrimitives.WriteInt32BigEndian(bytes.AsSpan(offset), value);
        Assert.Equal(ProtocolErrorReason.InvalidField, Reject(bytes).Reason);
    }

    [Fact]
    public void Oversized_lengths_are_rejected_from_the_header_alone_without_allocating_them()
    {
        var tooLongHeader = ValidHeader(headerLength: 64 * 1024 + 1);
        var tooLongBody = ValidHeader(bodyLength: int.MaxValue);
        Assert.Equal(ProtocolErrorReason.HeaderObjectTooLarge, Reject(tooLongHeader).Reason);
        Assert.Equal(ProtocolErrorReason.FrameTooLarge, Reject(tooLongBody).Reason);

        var small = new ProtocolLimits { MaxFrameSize = 1024, MaxHeaderSize = 100 };
        Assert.Equal(ProtocolErrorReason.FrameTooLarge, Reject(ValidHeader(bodyLength: 1024 - 24 - 4 + 1), small).Reason);
        Assert.Equal(ProtocolErrorReason.HeaderObjectTooLarge, Reject(ValidHeader(headerLength: 101), small).Reason);

        // Warm up exception machinery, then measure: rejecting a 2 GiB claim must not cost anything like 2 GiB.
        for (int i = 0; i < 3; i++) Reject(tooLongBody);
        long before = GC.GetAllocatedBytesForCurrentThread();
        for (int i = 0; i < 100; i++) Reject(tooLongBody);
        long perRejection = (GC.GetAllocatedBytesForCurrentThread() - before) / 100;
        Assert.True(perRejection < 16 * 1024, $"Rejecting one oversized frame allocated {perRejection} bytes.");
    }

    [Fact]
    public void Reading_a_header_object_as_the_wrong_type_is_a_caller_bug()
    {
        var bytes = PacketSamples.All()[0].Encode();
        var buffer = new ReadOnlySequence<byte>(bytes);
        Assert.True(FrameReader.TryReadFrame(ref buffer, ProtocolLimits.Default, out var frame));
        Assert.Throws<InvalidOperationException>(() => frame.ReadHeader<CallHeader>());
    }

    private static Frame FrameWithHeaderObject(PacketType type, byte[] headerObject)
    {
        var bytes = new byte[FrameHeader.Size + headerObject.Length];
        new FrameHeader(type, 9, 0, headerObject.Length, 0).Write(bytes);
        headerObject.CopyTo(bytes, FrameHeader.Size);
        var buffer = new ReadOnlySequence<byte>(bytes);
        Assert.True(FrameReader.TryReadFrame(ref buffer, ProtocolLimits.Default, out var frame));
        return frame;
    }

    public static TheoryData<string, byte[]> MalformedCallHeaders() => new()
    {
        { "not an array", [0x05] },
        { "too few fields", [0x92, 0x01, 0x02] },
        { "truncated", [0x93, 0x01] },
        { "string epoch", [0x93, 0xa1, 0x78, 0x01, 0x02] },
        { "negative method id", [0x93, 0x01, 0x02, 0xff] },
        { "trailing bytes", [0x93, 0x01, 0x02, 0x03, 0x00] },
        { "huge array count", [0xdd, 0x7f, 0xff, 0xff, 0xff] },
        { "invalid format byte", [0x93, 0xc1, 0x02, 0x03] },
        { "nested too deep in extra field", [0x94, 0x01, 0x02, 0x03, 0x91, 0x91, 0x91, 0x91, 0x91, 0x91, 0x00] },
    };

    [Theory]
    [MemberData(nameof(MalformedCallHeaders))]
    public void Malformed_header_objects_raise_protocol_exceptions(string what, byte[] headerObject)
    {
        var frame = FrameWithHeaderObject(PacketType.Invoke, headerObject);
        var e = Assert.Throws<ProtocolException>(() => frame.ReadHeader<CallHeader>());
        Assert.True(e.Reason == ProtocolErrorReason.MalformedHeaderObject, what);
    }

    [Fact]
    public void Out_of_range_enums_and_nil_required_strings_are_rejected()
    {
        var status = FrameWithHeaderObject(PacketType.InvokeResult, [0x92, 0x01, 0x02]);
        Assert.Equal(ProtocolErrorReason.MalformedHeaderObject, Assert.Throws<ProtocolException>(() => status.ReadHeader<ResultHeader>()).Reason);
        var name = FrameWithHeaderObject(PacketType.RegisterChannel, [0x94, 0x01, 0xc0, 0x02, 0x03]);
        Assert.Equal(ProtocolErrorReason.MalformedHeaderObject, Assert.Throws<ProtocolException>(() => name.ReadHeader<RegisterChannelHeader>()).Reason);
        var auth = new byte[] { 0x92, 0x01, 0xc5, 0x01, 0x01 }.Concat(new byte[257]).ToArray();
        var longAuth = FrameWithHeaderObject(PacketType.AuthChallenge, auth);
        Assert.Equal(ProtocolErrorReason.MalformedHeaderObject, Assert.Throws<ProtocolException>(() => longAuth.ReadHeader<AuthHeader>()).Reason);
    }

    [Fact]
    public void Fields_appended_by_a_later_revision_are_skipped()
    {
        // [epoch 5, channel 2, method 3, "future", [1, 2]]
        var frame = FrameWithHeaderObject(PacketType.Oneway, [0x95, 0x05, 0x02, 0x03, 0xa6, .. "future"u8, 0x92, 0x01, 0x02]);
        Assert.Equal(new CallHeader(5, 2, 3), frame.ReadHeader<CallHeader>());
        Assert.Equal(5, frame.ReadEpoch());
    }

    private sealed class ThrowingFormatter : IMessagePackFormatter<int>
    {
        public void Serialize(ref MessagePackWriter writer, int value, MessagePackSerializerOptions options)
        {
            writer.WriteArrayHeader(value);
            for (int i = 0; i < value; i++) writer.Write("partial output that must never reach the wire");
            throw new InvalidOperationException("serializer failed");
        }

        public int Deserialize(ref MessagePackReader reader, MessagePackSerializerOptions options) => throw new NotSupportedException();
    }

    [Theory]
    [InlineData(1)]
    [InlineData(10_000)]
    public void A_throwing_body_serializer_leaves_the_output_untouched(int elements)
    {
        var output = new ArrayBufferWriter<byte>();
        output.Write(new byte[] { 1, 2, 3 });
        Assert.Throws<InvalidOperationException>(() =>
            FrameWriter.WriteFrame(output, PacketType.Invoke, 1, new CallHeader(1, 1, 1), elements, new ThrowingFormatter(), WireSerializer.Standard, ProtocolLimits.Default));
        Assert.Equal(new byte[] { 1, 2, 3 }, output.WrittenSpan.ToArray());
    }

    [Fact]
    public void A_frame_over_the_limit_is_refused_by_the_writer_and_nothing_is_written()
    {
        var limits = new ProtocolLimits { MaxFrameSize = 4096, MaxHeaderSize = 1024 };
        var output = new ArrayBufferWriter<byte>();
        var e = Assert.Throws<ProtocolException>(() =>
            FrameWriter.WriteFrame(output, PacketType.Invoke, 1, new CallHeader(1, 1, 1), new byte[5000], BinaryBody.Instance, WireSerializer.Standard, limits));
        Assert.Equal(ProtocolErrorReason.FrameTooLarge, e.Reason);
        Assert.Equal(0, output.WrittenCount);
        var header = Assert.Throws<ProtocolException>(() =>
            FrameWriter.WriteFrame(output, PacketType.RegisterChannel, 1, new RegisterChannelHeader(1, new string('x', 2000), 1, 1), [], limits));
        Assert.Equal(ProtocolErrorReason.HeaderObjectTooLarge, header.Reason);
        Assert.Equal(0, output.WrittenCount);
    }

    private sealed class BinaryBody : IMessagePackFormatter<byte[]>
    {
        public static readonly BinaryBody Instance = new();
        public void Serialize(ref MessagePackWriter writer, byte[] value, MessagePackSerializerOptions options) => writer.Write(value);
        public byte[] Deserialize(ref MessagePackReader reader, MessagePackSerializerOptions options) => reader.ReadBytes()!.Value.ToArray();
    }

    [Theory]
    [InlineData(10)]
    [InlineData(300)]
    [InlineData(70_000)]
    [InlineData(3_000_000)]
    public void Bodies_of_any_size_round_trip_through_a_pipe_and_an_array_writer(int size)
    {
        var body = new byte[size];
        new Random(size).NextBytes(body);
        var pipe = new Pipe(new PipeOptions(pauseWriterThreshold: 0, resumeWriterThreshold: 0));
        var array = new ArrayBufferWriter<byte>(16);
        foreach (var output in new IBufferWriter<byte>[] { pipe.Writer, array })
        {
            for (int i = 0; i < 3; i++)
            {
                int n = FrameWriter.WriteFrame(output, PacketType.Publish, i, new CallHeader(i, 2, 3), body, BinaryBody.Instance, WireSerializer.Standard, ProtocolLimits.Default, 100);
                Assert.True(n > size);
            }
        }
        Assert.True(pipe.Writer.FlushAsync().IsCompleted);
        Assert.True(pipe.Reader.TryRead(out var result));
        foreach (var sequence in new[] { result.Buffer, new ReadOnlySequence<byte>(array.WrittenMemory) })
        {
            var buffer = sequence;
            for (int i = 0; i < 3; i++)
            {
                Assert.True(FrameReader.TryReadFrame(ref buffer, ProtocolLimits.Default, out var frame));
                Assert.Equal(new CallHeader(i, 2, 3), frame.ReadHeader<CallHeader>());
                Assert.Equal(100, frame.Header.TimeoutMilliseconds);
                var reader = frame.CreateBodyReader();
                Assert.Equal(body, BinaryBody.Instance.Deserialize(ref reader, WireSerializer.Standard));
                Assert.True(reader.End);
            }
            Assert.True(buffer.IsEmpty);
        }
    }

    private readonly record struct AddArguments(int A, int B, string Name);

    [Fact]
    public void The_callback_overload_serializes_arguments_straight_into_the_frame()
    {
        var output = new ArrayBufferWriter<byte>();
        FrameWriter.WriteFrame(output, PacketType.Invoke, 77, new CallHeader(1, 2, 3), new AddArguments(4, 5, "sum"),
            static (ref MessagePackWriter w, in AddArguments a) =>
            {
                w.WriteArrayHeader(3);
                w.Write(a.A);
                w.Write(a.B);
                w.Write(a.Name);
            }, ProtocolLimits.Default);
        var buffer = new ReadOnlySequence<byte>(output.WrittenMemory);
        Assert.True(FrameReader.TryReadFrame(ref buffer, ProtocolLimits.Default, out var frame));
        Assert.Equal(PacketSamples.Arguments(4, 5, "sum"), frame.Body.ToArray());
    }

    [Fact]
    public void The_writer_refuses_a_header_that_does_not_belong_to_the_type()
    {
        var output = new ArrayBufferWriter<byte>();
        Assert.Throws<ArgumentException>(() => FrameWriter.WriteFrame(output, PacketType.Heartbeat, 1, new CallHeader(1, 1, 1), [], ProtocolLimits.Default));
        Assert.Throws<ArgumentOutOfRangeException>(() => FrameWriter.WriteFrame(output, PacketType.Invoke, 1, new CallHeader(1, 1, 1), [], ProtocolLimits.Default, -1));
        Assert.Equal(0, output.WrittenCount);
    }

    [Fact]
    public void Remote_errors_keep_type_message_stack_and_code()
    {
        Exception thrown;
        try { throw new InvalidOperationException("the registry is down") { Data = { ["Code"] = "E_DOWN" } }; }
        catch (Exception e) { thrown = e; }

        var output = new ArrayBufferWriter<byte>();
        FrameWriter.WriteFrame(output, PacketType.InvokeResult, 5, new ResultHeader(1, ResultStatus.Error), thrown, RemoteError.Instance, WireSerializer.Standard, ProtocolLimits.Default);
        var buffer = new ReadOnlySequence<byte>(output.WrittenMemory);
        Assert.True(FrameReader.TryReadFrame(ref buffer, ProtocolLimits.Default, out var frame));
        Assert.Equal(ResultStatus.Error, frame.ReadHeader<ResultHeader>().Status);
        var reader = frame.CreateBodyReader();
        var remote = Assert.IsType<ClusterRemoteException>(RemoteError.Instance.Deserialize(ref reader, WireSerializer.Standard));
        Assert.Equal("System.InvalidOperationException", remote.RemoteType);
        Assert.Equal("the registry is down", remote.RemoteMessage);
        Assert.Equal("E_DOWN", remote.Code);
        Assert.Contains(nameof(Remote_errors_keep_type_message_stack_and_code), remote.RemoteStackTrace);

        var hidden = new ArrayBufferWriter<byte>();
        var w = new MessagePackWriter(hidden);
        RemoteError.WithoutStackTrace.Serialize(ref w, thrown, WireSerializer.Standard);
        w.Flush();
        var r = new MessagePackReader(hidden.WrittenMemory);
        Assert.Null(Assert.IsType<ClusterRemoteException>(RemoteError.Read(ref r)).RemoteStackTrace);
    }

    [Fact]
    public void Remote_error_readers_skip_unknown_and_non_string_keys()
    {
        var output = new ArrayBufferWriter<byte>();
        var w = new MessagePackWriter(output);
        w.WriteMapHeader(4);
        w.Write(1); w.Write("numeric key");
        w.Write("type"); w.Write("T");
        w.Write("extra"); w.WriteArrayHeader(1); w.Write(1);
        w.Write("message"); w.Write("M");
        w.Flush();
        var r = new MessagePackReader(output.WrittenMemory);
        var e = Assert.IsType<ClusterRemoteException>(RemoteError.Read(ref r));
        Assert.Equal(("T", "M", (string?)null), (e.RemoteType, e.RemoteMessage, e.Code));
    }

    [Fact]
    public void Writing_and_reading_an_invoke_frame_allocates_nothing_once_warm()
    {
        var output = new ArrayBufferWriter<byte>(4096);
        var header = new CallHeader(3, 1, 0x1234);
        long sum = 0;
        void RoundTrip()
        {
            output.ResetWrittenCount();
            FrameWriter.WriteFrame(output, PacketType.Invoke, 1, header, (12, 34), PairFormatter.Instance, WireSerializer.Standard, ProtocolLimits.Default, 1000);
            var buffer = new ReadOnlySequence<byte>(output.WrittenMemory);
            if (!FrameReader.TryReadFrame(ref buffer, ProtocolLimits.Default, out var frame)) throw new InvalidOperationException();
            var h = frame.ReadHeader<CallHeader>();
            var reader = frame.CreateBodyReader();
            var (a, b) = PairFormatter.Instance.Deserialize(ref reader, WireSerializer.Standard);
            sum += a + b + h.MethodId;
        }
        for (int i = 0; i < 100; i++) RoundTrip();
        long before = GC.GetAllocatedBytesForCurrentThread();
        for (int i = 0; i < 10_000; i++) RoundTrip();
        long allocated = GC.GetAllocatedBytesForCurrentThread() - before;
        Assert.Equal(0, allocated);
        Assert.True(sum > 0);
    }

    private sealed class PairFormatter : IMessagePackFormatter<(int, int)>
    {
        public static readonly PairFormatter Instance = new();

        public void Serialize(ref MessagePackWriter writer, (int, int) value, MessagePackSerializerOptions options)
        {
            writer.WriteArrayHeader(2);
            Int32Formatter.Instance.Serialize(ref writer, value.Item1, options);
            Int32Formatter.Instance.Serialize(ref writer, value.Item2, options);
        }

        public (int, int) Deserialize(ref MessagePackReader reader, MessagePackSerializerOptions options)
        {
            if (reader.ReadArrayHeader() != 2) throw new MessagePackSerializationException("Expected two arguments.");
            return (Int32Formatter.Instance.Deserialize(ref reader, options), Int32Formatter.Instance.Deserialize(ref reader, options));
        }
    }
}
