using System.Buffers;
using BenchmarkDotNet.Attributes;
using MessagePack;
using MessagePack.Formatters;

namespace ClusterSharing.Benchmarks;

/// <summary>A small record as generated code would see it: four fields, written as an array.</summary>
public readonly record struct EndpointSample(long Id, int Port, double Weight, DateTime Updated);

/// <summary>An array formatter for <see cref="EndpointSample"/> over MessagePack-CSharp's built-in formatters.</summary>
public sealed class EndpointSampleFormatter : IMessagePackFormatter<EndpointSample>
{
    public static readonly EndpointSampleFormatter Instance = new();

    public void Serialize(ref MessagePackWriter writer, EndpointSample value, MessagePackSerializerOptions options)
    {
        writer.WriteArrayHeader(4);
        Int64Formatter.Instance.Serialize(ref writer, value.Id, options);
        Int32Formatter.Instance.Serialize(ref writer, value.Port, options);
        DoubleFormatter.Instance.Serialize(ref writer, value.Weight, options);
        DateTimeFormatter.Instance.Serialize(ref writer, value.Updated, options);
    }

    public EndpointSample Deserialize(ref MessagePackReader reader, MessagePackSerializerOptions options)
    {
        if (reader.ReadArrayHeader() != 4) throw new MessagePackSerializationException("EndpointSample is an array of 4.");
        options.Security.DepthStep(ref reader);
        var value = new EndpointSample(
            Int64Formatter.Instance.Deserialize(ref reader, options),
            Int32Formatter.Instance.Deserialize(ref reader, options),
            DoubleFormatter.Instance.Deserialize(ref reader, options),
            DateTimeFormatter.Instance.Deserialize(ref reader, options));
        reader.Depth--;
        return value;
    }
}

/// <summary>
/// Encode and decode of an invoke's argument array [int, long, double, bool, string] and of a 4-field record,
/// through MessagePack-CSharp's built-in formatters, into a reused buffer. Decoding validates the bytes against the
/// runtime's limits first, as every received value is.
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
        writer.WriteArrayHeader(5);
        Int32Formatter.Instance.Serialize(ref writer, 42, Options);
        Int64Formatter.Instance.Serialize(ref writer, 9_000_000_000, Options);
        DoubleFormatter.Instance.Serialize(ref writer, 3.25, Options);
        BooleanFormatter.Instance.Serialize(ref writer, true, Options);
        NullableStringFormatter.Instance.Serialize(ref writer, Service, Options);
        writer.Flush();
        return _buffer.WrittenCount;
    }

    /// <summary>Decodes every argument; the string argument is materialized, which allocates that string.</summary>
    [Benchmark]
    public long DecodeArguments()
    {
        var reader = Validated(_arguments);
        long sum = ReadNumbers(ref reader);
        return sum + NullableStringFormatter.Instance.Deserialize(ref reader, Options)!.Length;
    }

    /// <summary>Decodes every argument but compares the string's UTF-8 bytes instead of materializing it.</summary>
    [Benchmark]
    public long DecodeArgumentsStringAsBytes()
    {
        var reader = Validated(_arguments);
        long sum = ReadNumbers(ref reader);
        return sum + (reader.ReadStringSequence() is { } utf8 && utf8.FirstSpan.SequenceEqual("orders-eu"u8) ? 1 : 0);
    }

    /// <summary>The array header and the four numeric arguments, shared by both argument decoders.</summary>
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
