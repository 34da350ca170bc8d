using System.Buffers;
using ClusterSharing.Protocol;
using ClusterSharing.Serialization;
using MessagePack;
using static ClusterSharing.Tests.Serialization.CodecTestKit;

namespace ClusterSharing.Tests.Protocol;

/// <summary>
/// The span path of the invoke path's header objects (<see cref="PacketHeaderSpans"/>) against their MessagePack-CSharp
/// members: the same bytes written, and for every input either the same header read or a refusal that leaves the
/// decision to the validating path.
/// </summary>
public class PacketHeaderSpansTests
{
    private static readonly DecodingLimits Limits = ProtocolLimits.Default.HeaderDecodingLimits;

    public static TheoryData<long, int, uint> CallHeaders => new()
    {
        { 0, 0, 0 }, { 1, 1, 0xcc5889e4 }, { long.MaxValue, int.MaxValue, uint.MaxValue }, { 300, 70000, 128 }, { -1, -40, 255 },
    };

    [Theory]
    [MemberData(nameof(CallHeaders))]
    public void Call_and_result_headers_are_written_as_their_MessagePack_members_write_them(long epoch, int channelId, uint methodId)
    {
        var call = new CallHeader(epoch, channelId, methodId);
        Assert.Equal(Slow(call), Direct(call));
        foreach (var status in new[] { ResultStatus.Ok, ResultStatus.Error })
        {
            var result = new ResultHeader(epoch, status);
            Assert.Equal(Slow(result), Direct(result));
        }
        Assert.False(TryDirect(new CallHeader(epoch, channelId, methodId, new string('0', 55), "a=b"), out _)); // trace context: MessagePack writes it
    }

    [Fact]
    public void Every_call_header_variant_reads_as_the_validating_path_reads_it_or_is_left_to_it()
    {
        string traceParent = "00-" + new string('a', 32) + "-" + new string('b', 16) + "-01";
        List<byte[]> variants =
        [
            Encode((ref MessagePackWriter w) => { w.WriteArrayHeader(3); w.Write(5L); w.Write(2); w.Write(3u); }),
            Encode((ref MessagePackWriter w) => { w.WriteArrayHeader(5); w.Write(5L); w.Write(2); w.Write(3u); w.Write(traceParent); w.Write("k=v"); }),
            Encode((ref MessagePackWriter w) => { w.WriteArrayHeader(5); w.Write(5L); w.Write(2); w.Write(3u); w.Write(traceParent); w.WriteNil(); }),
            Encode((ref MessagePackWriter w) => { w.WriteArrayHeader(5); w.Write(5L); w.Write(2); w.Write(3u); w.Write(traceParent); w.Write(new string('s', 600)); }),
            Encode((ref MessagePackWriter w) => { w.WriteArrayHeader(5); w.Write(5L); w.Write(2); w.Write(3u); w.Write("short"); w.Write("k=v"); }),
            Encode((ref MessagePackWriter w) => { w.WriteArrayHeader(5); w.Write(5L); w.Write(2); w.Write(3u); w.WriteNil(); w.WriteNil(); }),
            Encode((ref MessagePackWriter w) => { w.WriteArrayHeader(5); w.Write(5L); w.Write(2); w.Write(3u); w.Write(7); w.Write("k=v"); }),
            Encode((ref MessagePackWriter w) => { w.WriteArrayHeader(5); w.Write(5L); w.Write(2); w.Write(3u); w.Write(new string('x', 17000)); w.WriteNil(); }),
            Encode((ref MessagePackWriter w) => { w.WriteArrayHeader(4); w.Write(5L); w.Write(2); w.Write(3u); w.Write("future"); }),
            Encode((ref MessagePackWriter w) => { w.WriteArrayHeader(3); w.Write(5L); w.Write(2L + int.MaxValue); w.Write(3u); }),
            Encode((ref MessagePackWriter w) => { w.WriteArrayHeader(3); w.Write(5L); w.Write(2); w.Write(-3); }),
            Encode((ref MessagePackWriter w) => { w.WriteArrayHeader(3); w.Write(ulong.MaxValue); w.Write(2); w.Write(3u); }),
            [0x95, 0x05, 0x02, 0x03, 0xa2, 0xc3, 0x28, 0xc0],   // invalid UTF-8 in traceparent
            [0xdc, 0x00, 0x03, 0x05, 0x02, 0x03],               // array16 of 3
            [0x93, 0xd3, 0, 0, 0, 0, 0, 0, 0, 5, 0xd2, 0, 0, 0, 2, 0xce, 0, 0, 0, 3], // wide integer formats
            [0x93, 0x05, 0x02, 0x03, 0x00],                     // trailing byte
            [0x93, 0x05, 0x02],                                 // truncated
        ];
        foreach (var bytes in variants) AssertSameRead<CallHeader>(bytes, (byte[] b, out CallHeader h) => PacketHeaderSpans.TryRead(b, Limits, out h));

        List<byte[]> results =
        [
            [0x92, 0x05, 0x00], [0x92, 0x05, 0x01], [0x92, 0x05, 0x02], [0x92, 0x05, 0xcc, 0x01], [0x93, 0x05, 0x00, 0x00], [0x91, 0x05],
            [0x92, 0x05, 0xff], [0x92, 0xa1, 0x31, 0x00], [0x92, 0x05, 0x00, 0x00],
        ];
        foreach (var bytes in results) AssertSameRead<ResultHeader>(bytes, (byte[] b, out ResultHeader h) => PacketHeaderSpans.TryRead(b, Limits, out h));

        var tight = new DecodingLimits { MaxCollectionLength = 2, MaxStringLength = 10 };
        Assert.False(PacketHeaderSpans.TryRead(variants[0], tight, out CallHeader _));
        Assert.False(PacketHeaderSpans.TryRead(variants[1], tight, out CallHeader _));
    }

    private delegate bool TryReadHeader<THeader>(byte[] bytes, out THeader header);

    private static void AssertSameRead<THeader>(byte[] bytes, TryReadHeader<THeader> direct) where THeader : struct, IPacketHeader<THeader>
    {
        THeader? expected;
        try
        {
            var reader = WireSerializer.CreateReader(new ReadOnlySequence<byte>(bytes), Limits);
            expected = THeader.Read(ref reader);
            if (!reader.End) expected = null;
        }
        catch (Exception e) when (e is MessagePackSerializationException or ProtocolException or OverflowException)
        {
            expected = null;
        }
        if (!direct(bytes, out var actual)) return;
        Assert.True(expected is not null, $"{Convert.ToHexString(bytes)}: the span path read {actual} where the validating path fails");
        Assert.Equal(expected, actual);
    }

    private static string Slow<THeader>(THeader header) where THeader : struct, IPacketHeader<THeader> =>
        Convert.ToHexString(Encode((ref MessagePackWriter w) => header.Write(ref w)));

    private static string Direct<THeader>(THeader header) where THeader : struct, IPacketHeader<THeader>
    {
        Assert.True(TryDirect(header, out var bytes));
        return Convert.ToHexString(bytes);
    }

    /// <summary>The header object as <see cref="FrameWriter"/> writes it (its span path when it takes one).</summary>
    private static bool TryDirect<THeader>(THeader header, out byte[] headerObject) where THeader : struct, IPacketHeader<THeader>
    {
        var output = new ArrayBufferWriter<byte>();
        var type = typeof(THeader) == typeof(CallHeader) ? PacketType.Invoke : PacketType.InvokeResult;
        FrameWriter.WriteFrame(output, type, 1, header, ReadOnlySpan<byte>.Empty, ProtocolLimits.Default);
        var frame = FrameHeader.Parse(output.WrittenSpan, ProtocolLimits.Default);
        headerObject = output.WrittenSpan.Slice(FrameHeader.Size, frame.HeaderLength).ToArray();
        var span = new WireSpanWriter(new byte[64]);
        return typeof(THeader) == typeof(CallHeader)
            ? PacketHeaderSpans.TryWrite((CallHeader)(object)header, ref span)
            : PacketHeaderSpans.TryWrite((ResultHeader)(object)header, ref span);
    }

}
