using System.Buffers;
using System.Net;
using System.Net.Sockets;
using BenchmarkDotNet.Attributes;
using ClusterSharing.Protocol;
using ClusterSharing.Serialization;
using MessagePack;
using MessagePack.Formatters;
using ClusterSharing.Transport;

namespace ClusterSharing.Benchmarks;

/// <summary>Arguments of a typical invoke with primitive parameters: <c>Task&lt;int&gt; M(int, long, double, bool)</c>.</summary>
public readonly record struct PrimitiveArguments(int Count, long Id, double Ratio, bool Flag);

/// <summary>A fixed-length array formatter for <see cref="PrimitiveArguments"/> over MessagePack-CSharp's built-in formatters.</summary>
public sealed class PrimitiveArgumentsFormatter : IMessagePackFormatter<PrimitiveArguments>
{
    /// <summary>The shared instance.</summary>
    public static readonly PrimitiveArgumentsFormatter Instance = new();

    /// <inheritdoc/>
    public void Serialize(ref MessagePackWriter writer, PrimitiveArguments value, MessagePackSerializerOptions options)
    {
        writer.WriteArrayHeader(4);
        Int32Formatter.Instance.Serialize(ref writer, value.Count, options);
        Int64Formatter.Instance.Serialize(ref writer, value.Id, options);
        writer.Write(value.Ratio);
        writer.Write(value.Flag);
    }

    /// <inheritdoc/>
    public PrimitiveArguments Deserialize(ref MessagePackReader reader, MessagePackSerializerOptions options)
    {
        if (reader.ReadArrayHeader() != 4) throw new MessagePackSerializationException("Expected 4 arguments.");
        return new PrimitiveArguments(Int32Formatter.Instance.Deserialize(ref reader, options), Int64Formatter.Instance.Deserialize(ref reader, options),
            reader.ReadDouble(), reader.ReadBoolean());
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
