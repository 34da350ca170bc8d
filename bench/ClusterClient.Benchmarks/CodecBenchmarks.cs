using System.Buffers;
using BenchmarkDotNet.Attributes;
using ClusterSharing.Serialization;
using ClusterSharing.Serialization.Formatters;

namespace ClusterSharing.Benchmarks;

/// <summary>A small record as generated code would see it: four fields, written as an array.</summary>
public readonly record struct EndpointSample(long Id, int Port, double Weight, DateTime Updated);

/// <summary>The formatter the generator would emit for <see cref="EndpointSample"/>.</summary>
public sealed class EndpointSampleFormatter : IMessagePackFormatter<EndpointSample>
{
    public static readonly EndpointSampleFormatter Instance = new();

    public void Serialize(ref MessagePackWriter writer, EndpointSample value)
    {
        writer.WriteArrayHeader(4);
        Int64Formatter.Instance.Serialize(ref writer, value.Id);
        Int32Formatter.Instance.Serialize(ref writer, value.Port);
        DoubleFormatter.Instance.Serialize(ref writer, value.Weight);
        DateTimeFormatter.Instance.Serialize(ref writer, value.Updated);
    }

    public EndpointSample Deserialize(ref MessagePackReader reader)
    {
        if (reader.ReadArrayHeader() != 4) throw new MessagePackSerializationException("EndpointSample is an array of 4.");
        reader.EnterNested();
        var value = new EndpointSample(
            Int64Formatter.Instance.Deserialize(ref reader),
            Int32Formatter.Instance.Deserialize(ref reader),
            DoubleFormatter.Instance.Deserialize(ref reader),
            DateTimeFormatter.Instance.Deserialize(ref reader));
        reader.ExitNested();
        return value;
    }
}

/// <summary>
/// Encode and decode of an invoke's argument array [int, long, double, bool, string] and of a 4-field record,
/// through the built-in formatters, into a reused buffer.
/// </summary>
[MemoryDiagnoser]
public class CodecBenchmarks
{
    private const string Service = "orders-eu";
    private readonly ArrayBufferWriter<byte> _buffer = new(256);
    private readonly EndpointSample _sample = new(1_234_567_890_123, 8080, 0.75, new DateTime(2026, 11, 21, 5, 30, 0, DateTimeKind.Utc).AddTicks(1234));
    private ReadOnlyMemory<byte> _arguments;
    private ReadOnlyMemory<byte> _record;

    [GlobalSetup]
    public void Setup()
    {
        EncodeArguments();
        _arguments = _buffer.WrittenSpan.ToArray();
        EncodeRecord();
        _record = _buffer.WrittenSpan.ToArray();
    }

    [Benchmark]
    public int EncodeArguments()
    {
        _buffer.ResetWrittenCount();
        var writer = new MessagePackWriter(_buffer);
        writer.WriteArrayHeader(5);
        Int32Formatter.Instance.Serialize(ref writer, 42);
        Int64Formatter.Instance.Serialize(ref writer, 9_000_000_000);
        DoubleFormatter.Instance.Serialize(ref writer, 3.25);
        BooleanFormatter.Instance.Serialize(ref writer, true);
        StringFormatter.Instance.Serialize(ref writer, Service);
        writer.Flush();
        return _buffer.WrittenCount;
    }

    /// <summary>Decodes every argument; the string argument is materialized, which allocates that string.</summary>
    [Benchmark]
    public long DecodeArguments()
    {
        var reader = new MessagePackReader(_arguments);
        long sum = ReadNumbers(ref reader);
        return sum + StringFormatter.Instance.Deserialize(ref reader)!.Length;
    }

    /// <summary>Decodes every argument but compares the string's UTF-8 bytes instead of materializing it.</summary>
    [Benchmark]
    public long DecodeArgumentsStringAsBytes()
    {
        var reader = new MessagePackReader(_arguments);
        long sum = ReadNumbers(ref reader);
        return sum + (reader.ReadStringSequence() is { } utf8 && utf8.FirstSpan.SequenceEqual("orders-eu"u8) ? 1 : 0);
    }

    /// <summary>The array header and the four numeric arguments, shared by both argument decoders.</summary>
    private static long ReadNumbers(ref MessagePackReader reader)
    {
        reader.ReadArrayHeader();
        long sum = Int32Formatter.Instance.Deserialize(ref reader);
        sum += Int64Formatter.Instance.Deserialize(ref reader);
        sum += (long)DoubleFormatter.Instance.Deserialize(ref reader);
        return sum + (BooleanFormatter.Instance.Deserialize(ref reader) ? 1 : 0);
    }

    [Benchmark]
    public int EncodeRecord()
    {
        _buffer.ResetWrittenCount();
        var writer = new MessagePackWriter(_buffer);
        EndpointSampleFormatter.Instance.Serialize(ref writer, _sample);
        writer.Flush();
        return _buffer.WrittenCount;
    }

    [Benchmark]
    public EndpointSample DecodeRecord()
    {
        var reader = new MessagePackReader(_record);
        return EndpointSampleFormatter.Instance.Deserialize(ref reader);
    }
}
