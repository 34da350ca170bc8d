using System.Buffers;
using System.Net;
using System.Net.Sockets;
using BenchmarkDotNet.Attributes;
using ClusterSharing.Protocol;
using ClusterSharing.Serialization;
using MessagePack;
using MessagePack.Formatters;
using ClusterSharing.Transport;
using ClusterSharing.Proxies;

namespace ClusterSharing.Benchmarks;

/// <summary>Arguments of a typical invoke with primitive parameters: <c>Task&lt;int&gt; M(int, long, double, bool)</c>.</summary>
public readonly record struct PrimitiveArguments(int Count, long Id, double Ratio, bool Flag);

/// <summary>What the generator emits for <see cref="PrimitiveArguments"/> (compare <see cref="EndpointSampleFormatter"/>).</summary>
public sealed class PrimitiveArgumentsFormatter : IMessagePackFormatter<PrimitiveArguments>
{
    /// <summary>The shared instance.</summary>
    public static readonly PrimitiveArgumentsFormatter Instance = new();

    private static MessagePackSerializerOptions? s_direct;

    private static bool IsDirect(MessagePackSerializerOptions options)
    {
        if (ReferenceEquals(options, s_direct)) return true;
        if (!WireDirect.IsBuiltIn<int>(options) || !WireDirect.IsBuiltIn<long>(options) || !WireDirect.IsBuiltIn<double>(options)
            || !WireDirect.IsBuiltIn<bool>(options)) return false;
        s_direct = options;
        return true;
    }

    /// <inheritdoc/>
    public void Serialize(ref MessagePackWriter writer, PrimitiveArguments value, MessagePackSerializerOptions options)
    {
        if (IsDirect(options))
        {
            var span = new WireSpanWriter(writer.GetSpan(25));
            span.WriteArrayHeader(4);
            span.Write(value.Count);
            span.Write(value.Id);
            span.Write(value.Ratio);
            span.Write(value.Flag);
            writer.Advance(span.Written);
            return;
        }
        writer.WriteArrayHeader(4);
        ResolvedFormatter<int>.Instance.Serialize(ref writer, value.Count, options);
        ResolvedFormatter<long>.Instance.Serialize(ref writer, value.Id, options);
        ResolvedFormatter<double>.Instance.Serialize(ref writer, value.Ratio, options);
        ResolvedFormatter<bool>.Instance.Serialize(ref writer, value.Flag, options);
    }

    /// <inheritdoc/>
    public PrimitiveArguments Deserialize(ref MessagePackReader reader, MessagePackSerializerOptions options)
    {
        if (IsDirect(options) && WireSpanReader.TryCreate(ref reader, options, out var span) && span.TryReadArrayHeader(4)
            && span.TryRead(out int count) && span.TryRead(out long id) && span.TryRead(out double ratio) && span.TryRead(out bool flag))
        {
            reader.ReadRaw(span.Consumed);
            return new PrimitiveArguments(count, id, ratio, flag);
        }
        int length = reader.ReadArrayHeader();
        if (length != 4) throw new MessagePackSerializationException("M takes 4 argument(s), but the message has " + length + ".");
        options.Security.DepthStep(ref reader);
        var value = new PrimitiveArguments(ResolvedFormatter<int>.Instance.Deserialize(ref reader, options),
            ResolvedFormatter<long>.Instance.Deserialize(ref reader, options), ResolvedFormatter<double>.Instance.Deserialize(ref reader, options),
            ResolvedFormatter<bool>.Instance.Deserialize(ref reader, options));
        reader.Depth--;
        return value;
    }
}

/// <summary>Encoding and parsing one invoke frame in memory; the target is 0 bytes allocated per frame.</summary>
[MemoryDiagnoser]
public class FrameBenchmarks
{
    private readonly ArrayBufferWriter<byte> _buffer = new(4096);
    private readonly ProtocolLimits _limits = ProtocolLimits.Default;
    private readonly PrimitiveArguments _arguments = new(42, 1_234_567_890_123, 0.75, true);
    private byte[] _encoded = [];
    private long _requestId;

    /// <summary>Encodes the frame parsed by <see cref="ParseInvoke"/>.</summary>
    [GlobalSetup]
    public void Setup()
    {
        EncodeInvoke();
        _encoded = _buffer.WrittenSpan.ToArray();
    }

    /// <summary>Header, header object and arguments serialized into a reused buffer.</summary>
    [Benchmark]
    public int EncodeInvoke()
    {
        _buffer.ResetWrittenCount();
        return FrameWriter.WriteFrame(_buffer, PacketType.Invoke, ++_requestId, new CallHeader(3, 1, 0xcc5889e4),
            _arguments, PrimitiveArgumentsFormatter.Instance, WireSerializer.Standard, _limits, timeoutMilliseconds: 5000);
    }

    /// <summary>Frame cut from the buffer, header object decoded, arguments deserialized.</summary>
    [Benchmark]
    public long ParseInvoke()
    {
        var buffer = new ReadOnlySequence<byte>(_encoded);
        if (!FrameReader.TryReadFrame(ref buffer, _limits, out var frame)) throw new InvalidOperationException("incomplete frame");
        var header = frame.ReadHeader<CallHeader>();
        var reader = frame.CreateBodyReader();
        var arguments = PrimitiveArgumentsFormatter.Instance.Deserialize(ref reader, WireSerializer.Standard);
        return header.MethodId + arguments.Id + frame.RequestId;
    }
}

/// <summary>
/// Invoke frames through a real loopback <see cref="FrameConnection"/> pair: the cost per frame of Send, batching,
/// the socket and the receiving read loop together.
/// </summary>
[MemoryDiagnoser]
public class FrameConnectionBenchmarks
{
    private const int FramesPerOperation = 4000;

    private Socket? _listener;
    private FrameConnection? _client;
    private FrameConnection? _server;
    private TaskCompletionSource _received = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private int _count;
    private readonly PrimitiveArguments _arguments = new(42, 1_234_567_890_123, 0.75, true);

    /// <summary>Connects the pair over 127.0.0.1 and starts the server's read loop.</summary>
    [GlobalSetup]
    public void Setup()
    {
        _listener = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        _listener.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        _listener.Listen(1);
        var accept = _listener.AcceptAsync();
        _client = FrameConnection.ConnectAsync(_listener.LocalEndPoint!).GetAwaiter().GetResult();
        _server = new FrameConnection(accept.GetAwaiter().GetResult());
        _ = _server.RunAsync(OnFrame);
    }

    private ValueTask OnFrame(Frame frame)
    {
        var header = frame.ReadHeader<CallHeader>();
        var reader = frame.CreateBodyReader();
        PrimitiveArgumentsFormatter.Instance.Deserialize(ref reader, WireSerializer.Standard);
        if (header.ChannelId == 1 && ++_count == FramesPerOperation)
        {
            _count = 0;
            _received.TrySetResult();
        }
        return default;
    }

    /// <summary>Sends 4000 invoke frames from one thread and waits until the peer has decoded all of them.</summary>
    [Benchmark(OperationsPerInvoke = FramesPerOperation)]
    public async Task SendAndReceiveInvoke()
    {
        _received = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        for (int i = 0; i < FramesPerOperation; i++)
            _client!.Send(PacketType.Invoke, i, new CallHeader(3, 1, 0xcc5889e4), _arguments, PrimitiveArgumentsFormatter.Instance, WireSerializer.Standard, 5000);
        await _received.Task;
    }

    /// <summary>Closes the pair.</summary>
    [GlobalCleanup]
    public void Cleanup()
    {
        _client?.Abort("benchmark done");
        _server?.Abort("benchmark done");
        _listener?.Dispose();
    }
}
