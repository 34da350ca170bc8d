using System.Buffers;
using BenchmarkDotNet.Attributes;
using MessagePack;
using MessagePack.Formatters;
using ClusterSharing.Proxies;
using ClusterSharing.Serialization;

namespace ClusterSharing.Benchmarks;

/// <summary>A small record as generated code would see it: four fields, written as an array.</summary>
public readonly record struct EndpointSample(long Id, int Port, double Weight, DateTime Updated);

/// <summary>
/// What the generator emits for the arguments of <c>Task M(long id, int port, double weight, DateTime updated)</c> (see
/// the generator snapshots): an array of the four values, through one span while the options resolve these types to
/// MessagePack-CSharp's built-in formatters, through the resolved formatters otherwise.
/// </summary>
public sealed class EndpointSampleFormatter : IMessagePackFormatter<EndpointSample>
{
    public static readonly EndpointSampleFormatter Instance = new();

    private static MessagePackSerializerOptions? s_direct;

    private static bool IsDirect(MessagePackSerializerOptions options)
    {
        if (ReferenceEquals(options, s_direct)) return true;
        if (!WireDirect.IsBuiltIn<long>(options) || !WireDirect.IsBuiltIn<int>(options) || !WireDirect.IsBuiltIn<double>(options)
            || !WireDirect.IsBuiltIn<DateTime>(options)) return false;
        s_direct = options;
        return true;
    }

    public void Serialize(ref MessagePackWriter writer, EndpointSample value, MessagePackSerializerOptions options)
    {
        if (IsDirect(options))
        {
            var span = new WireSpanWriter(writer.GetSpan(39));
            span.WriteArrayHeader(4);
            span.Write(value.Id);
            span.Write(value.Port);
            span.Write(value.Weight);
            span.Write(value.Updated);
            writer.Advance(span.Written);
            return;
        }
        writer.WriteArrayHeader(4);
        ResolvedFormatter<long>.Instance.Serialize(ref writer, value.Id, options);
        ResolvedFormatter<int>.Instance.Serialize(ref writer, value.Port, options);
        ResolvedFormatter<double>.Instance.Serialize(ref writer, value.Weight, options);
        ResolvedFormatter<DateTime>.Instance.Serialize(ref writer, value.Updated, options);
    }

    public EndpointSample Deserialize(ref MessagePackReader reader, MessagePackSerializerOptions options)
    {
        if (IsDirect(options) && WireSpanReader.TryCreate(ref reader, options, out var span) && span.TryReadArrayHeader(4)
            && span.TryRead(out long id) && span.TryRead(out int port) && span.TryRead(out double weight) && span.TryRead(out DateTime updated))
        {
            reader.ReadRaw(span.Consumed);
            return new EndpointSample(id, port, weight, updated);
        }
        int count = reader.ReadArrayHeader();
        if (count != 4) throw new MessagePackSerializationException("M takes 4 argument(s), but the message has " + count + ".");
        options.Security.DepthStep(ref reader);
        var value = new EndpointSample(
            ResolvedFormatter<long>.Instance.Deserialize(ref reader, options),
            ResolvedFormatter<int>.Instance.Deserialize(ref reader, options),
            ResolvedFormatter<double>.Instance.Deserialize(ref reader, options),
            ResolvedFormatter<DateTime>.Instance.Deserialize(ref reader, options));
        reader.Depth--;
        return value;
    }
}

/// <summary>The arguments of an invoke <c>M(int count, long id, double ratio, bool flag, string service)</c>.</summary>
public readonly record struct ServiceArguments(int Count, long Id, double Ratio, bool Flag, string? Service);

/// <summary>What the generator emits for <see cref="ServiceArguments"/>, as for <see cref="EndpointSampleFormatter"/>.</summary>
public sealed class ServiceArgumentsFormatter : IMessagePackFormatter<ServiceArguments>
{
    public static readonly ServiceArgumentsFormatter Instance = new();

    private static MessagePackSerializerOptions? s_direct;

    private static bool IsDirect(MessagePackSerializerOptions options)
    {
        if (ReferenceEquals(options, s_direct)) return true;
        if (!WireDirect.IsBuiltIn<int>(options) || !WireDirect.IsBuiltIn<long>(options) || !WireDirect.IsBuiltIn<double>(options)
            || !WireDirect.IsBuiltIn<bool>(options) || !WireDirect.IsBuiltIn<string>(options)) return false;
        s_direct = options;
        return true;
    }

    public void Serialize(ref MessagePackWriter writer, ServiceArguments value, MessagePackSerializerOptions options)
    {
        long length = 25 + WireSpanWriter.MaxLength(value.Service);
        if (length <= WireSpanWriter.MaxDirectLength && IsDirect(options))
        {
            var span = new WireSpanWriter(writer.GetSpan((int)length));
            span.WriteArrayHeader(5);
            span.Write(value.Count);
            span.Write(value.Id);
            span.Write(value.Ratio);
            span.Write(value.Flag);
            span.Write(value.Service);
            writer.Advance(span.Written);
            return;
        }
        writer.WriteArrayHeader(5);
        ResolvedFormatter<int>.Instance.Serialize(ref writer, value.Count, options);
        ResolvedFormatter<long>.Instance.Serialize(ref writer, value.Id, options);
        ResolvedFormatter<double>.Instance.Serialize(ref writer, value.Ratio, options);
        ResolvedFormatter<bool>.Instance.Serialize(ref writer, value.Flag, options);
        ResolvedFormatter<string?>.Instance.Serialize(ref writer, value.Service, options);
    }

    public ServiceArguments Deserialize(ref MessagePackReader reader, MessagePackSerializerOptions options)
    {
        if (IsDirect(options) && WireSpanReader.TryCreate(ref reader, options, out var span) && span.TryReadArrayHeader(5)
            && span.TryRead(out int count) && span.TryRead(out long id) && span.TryRead(out double ratio) && span.TryRead(out bool flag)
            && span.TryRead(out string? service))
        {
            reader.ReadRaw(span.Consumed);
            return new ServiceArguments(count, id, ratio, flag, service);
        }
        int length = reader.ReadArrayHeader();
        if (length != 5) throw new MessagePackSerializationException("M takes 5 argument(s), but the message has " + length + ".");
        options.Security.DepthStep(ref reader);
        var value = new ServiceArguments(
            ResolvedFormatter<int>.Instance.Deserialize(ref reader, options),
            ResolvedFormatter<long>.Instance.Deserialize(ref reader, options),
            ResolvedFormatter<double>.Instance.Deserialize(ref reader, options),
            ResolvedFormatter<bool>.Instance.Deserialize(ref reader, options),
            ResolvedFormatter<string?>.Instance.Deserialize(ref reader, options));
        reader.Depth--;
        return value;
    }
}

/// <summary>
/// Encode and decode of an invoke's argument array [int, long, double, bool, string] and of a 4-field record with the
/// formatters the generator emits, into a reused buffer. Decoding validates the bytes against the runtime's limits
/// first, as every received value is.
/// </summary>
[MemoryDiagnoser]
public class CodecBenchmarks
{
    private const string Service = "orders-eu";
    private static readonly MessagePackSerializerOptions Options = ClusterSharing.Serialization.WireSerializer.Standard;
    private readonly ArrayBufferWriter<byte> _buffer = new(256);
    private readonly EndpointSample _sample = new(1_234_567_890_123, 8080, 0.75, new DateTime(2026, 11, 21, 5, 30, 0, DateTimeKind.Utc).AddTicks(1234));
    private ReadOnlySequence<byte> _arguments;
    private ReadOnlySequence<byte> _record;

    [GlobalSetup]
    public void Setup()
    {
        EncodeArguments();
        _arguments = new ReadOnlySequence<byte>(_buffer.WrittenSpan.ToArray());
        EncodeRecord();
        _record = new ReadOnlySequence<byte>(_buffer.WrittenSpan.ToArray());
    }

    private static MessagePackReader Validated(ReadOnlySequence<byte> bytes) =>
        ClusterSharing.Serialization.WireSerializer.CreateReader(bytes, ClusterSharing.Serialization.DecodingLimits.UntrustedData);

    [Benchmark]
    public int EncodeArguments()
    {
        _buffer.ResetWrittenCount();
        var writer = new MessagePackWriter(_buffer);
        ServiceArgumentsFormatter.Instance.Serialize(ref writer, new ServiceArguments(42, 9_000_000_000, 3.25, true, Service), Options);
        writer.Flush();
        return _buffer.WrittenCount;
    }

    /// <summary>Decodes every argument; the string argument is materialized, which allocates that string.</summary>
    [Benchmark]
    public long DecodeArguments()
    {
        var reader = Validated(_arguments);
        var arguments = ServiceArgumentsFormatter.Instance.Deserialize(ref reader, Options);
        return arguments.Count + arguments.Id + (long)arguments.Ratio + (arguments.Flag ? 1 : 0) + arguments.Service!.Length;
    }

    /// <summary>Decodes every argument with MessagePack-CSharp's reader but compares the string's UTF-8 bytes instead of materializing it.</summary>
    [Benchmark]
    public long DecodeArgumentsStringAsBytes()
    {
        var reader = Validated(_arguments);
        long sum = ReadNumbers(ref reader);
        return sum + (reader.ReadStringSequence() is { } utf8 && utf8.FirstSpan.SequenceEqual("orders-eu"u8) ? 1 : 0);
    }

    /// <summary>The array header and the four numeric arguments.</summary>
    private static long ReadNumbers(ref MessagePackReader reader)
    {
        reader.ReadArrayHeader();
        long sum = Int32Formatter.Instance.Deserialize(ref reader, Options);
        sum += Int64Formatter.Instance.Deserialize(ref reader, Options);
        sum += (long)DoubleFormatter.Instance.Deserialize(ref reader, Options);
        return sum + (BooleanFormatter.Instance.Deserialize(ref reader, Options) ? 1 : 0);
    }

    /// <summary>Only the validation pass every received value gets before a formatter reads it (part of the decoders above).</summary>
    [Benchmark]
    public long ValidateArguments()
    {
        ClusterSharing.Serialization.WireValidator.ValidateOne(_arguments, ClusterSharing.Serialization.DecodingLimits.UntrustedData);
        return _arguments.Length;
    }

    [Benchmark]
    public int EncodeRecord()
    {
        _buffer.ResetWrittenCount();
        var writer = new MessagePackWriter(_buffer);
        EndpointSampleFormatter.Instance.Serialize(ref writer, _sample, Options);
        writer.Flush();
        return _buffer.WrittenCount;
    }

    [Benchmark]
    public EndpointSample DecodeRecord()
    {
        var reader = Validated(_record);
        return EndpointSampleFormatter.Instance.Deserialize(ref reader, Options);
    }
}
