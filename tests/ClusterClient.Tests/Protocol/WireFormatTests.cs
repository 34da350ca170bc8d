using System.Buffers;
using System.Text;
using ClusterSharing.Protocol;
using ClusterSharing.Proxies;
using ClusterSharing.Serialization;
using MessagePack;
using Xunit.Abstractions;

namespace ClusterSharing.Tests.Protocol;

/// <summary>
/// Exact bytes of representative frames. These are the hex dumps in docs/protocol.md: if one changes, the wire format
/// changed, and the document and every peer must change with it.
/// </summary>
public class WireFormatTests(ITestOutputHelper output)
{
    private static readonly uint AddMethodId =
        ClusterMethodId.Compute("System.Threading.Tasks.Task<System.Int32> AddAsync(System.Int32,System.Int32)");

    private static byte[] Encode(Func<IBufferWriter<byte>, int> write)
    {
        var buffer = new ArrayBufferWriter<byte>();
        write(buffer);
        return buffer.WrittenSpan.ToArray();
    }

    private static byte[] Args(params int[] values)
    {
        var buffer = new ArrayBufferWriter<byte>();
        var w = new MessagePackWriter(buffer);
        w.WriteArrayHeader(values.Length);
        foreach (var v in values) w.Write(v);
        w.Flush();
        return buffer.WrittenSpan.ToArray();
    }

    private static IEnumerable<(string Name, byte[] Bytes)> Examples()
    {
        var limits = ProtocolLimits.Default;
        yield return ("register", Encode(w => FrameWriter.WriteFrame(w, PacketType.RegisterChannel, 1,
            new RegisterChannelHeader(0, "Demo.ICalculator", 0x1a2b3c4d, 4242), [], limits)));
        yield return ("register result", Encode(w => FrameWriter.WriteFrame(w, PacketType.RegisterChannelResult, 1,
            new RegisterChannelResultHeader(1, 1, true, null), [], limits)));
        yield return ("invoke", Encode(w => FrameWriter.WriteFrame(w, PacketType.Invoke, 2,
            new CallHeader(1, 1, AddMethodId), Args(2, 3), limits, timeoutMilliseconds: 5000)));
        yield return ("invoke result", Encode(w => FrameWriter.WriteFrame(w, PacketType.InvokeResult, 2,
            new ResultHeader(1, ResultStatus.Ok), [0x05], limits)));
        yield return ("invoke error", Encode(w => FrameWriter.WriteFrame(w, PacketType.InvokeResult, 3,
            new ResultHeader(1, ResultStatus.Error), 0, static (ref MessagePackWriter mp, in int _) =>
                RemoteError.Write(ref mp, "System.ArgumentException", "bad", null, null), limits)));
        yield return ("heartbeat", Encode(w => FrameWriter.WriteFrame(w, PacketType.Heartbeat, 4,
            new HeartbeatHeader(1, 1_234_567_890), [], limits)));
        yield return ("heartbeat response", Encode(w => FrameWriter.WriteFrame(w, PacketType.HeartbeatResponse, 4,
            new HeartbeatHeader(1, 1_234_567_890), [], limits)));
    }

    private static readonly Dictionary<string, string> Expected = new()
    {
        ["register"] = "020001000000000000000001000000000000001b000000009400b044656d6f2e4943616c63756c61746f72ce1a2b3c4dcd1092",
        ["register result"] = "020102000000000000000001000000000000000500000000940101c3c0",
        ["invoke"] = "020003000000000000000002000013880000000800000003930101cecc5889e4920203",
        ["invoke result"] = "02010400000000000000000200000000000000030000000192010005",
        ["invoke error"] = "02010400000000000000000300000000000000030000003892010184a474797065b853797374656d2e417267756d656e74457863657074696f6ea76d657373616765a3626164a5737461636bc0a4636f6465c0",
        ["heartbeat"] = "02000c0000000000000000040000000000000007000000009201ce499602d2",
        ["heartbeat response"] = "02010d0000000000000000040000000000000007000000009201ce499602d2",
    };

    [Fact]
    public void Representative_frames_have_the_documented_bytes()
    {
        foreach (var (name, bytes) in Examples())
        {
            output.WriteLine($"{name} ({bytes.Length} bytes):");
            output.WriteLine(HexDump(bytes));
            output.WriteLine($"hex: {Convert.ToHexString(bytes).ToLowerInvariant()}");
            Assert.Equal(Expected[name], Convert.ToHexString(bytes).ToLowerInvariant());
            var buffer = new ReadOnlySequence<byte>(bytes);
            Assert.True(FrameReader.TryReadFrame(ref buffer, ProtocolLimits.Default, out var frame));
            Assert.True(buffer.IsEmpty);
            Assert.Equal(name.StartsWith("register", StringComparison.Ordinal) && !name.Contains("result") ? 0 : 1, frame.ReadEpoch());
            
        }
    }

    /// <summary>Classic hexdump: offset, 16 bytes, printable characters.</summary>
    public static string HexDump(byte[] bytes)
    {
        var text = new StringBuilder();
        for (int offset = 0; offset < bytes.Length; offset += 16)
        {
            var line = bytes.AsSpan(offset, Math.Min(16, bytes.Length - offset));
            text.Append(offset.ToString("x4")).Append("  ");
            for (int i = 0; i < 16; i++)
            {
                text.Append(i < line.Length ? line[i].ToString("x2") + " " : "   ");
                if (i == 7) text.Append(' ');
            }
            text.Append(" |");
            foreach (var b in line) text.Append(b is >= 0x20 and < 0x7f ? (char)b : '.');
            text.Append('|').AppendLine();
        }
        return text.ToString().TrimEnd();
    }
}
