using System.Buffers;
namespace ClusterSharing.Serialization.Formatters;

#pragma warning disable CS1591 // Each formatter is named after the type it handles.
public sealed class BooleanFormatter : IMessagePackFormatter<bool>
{
    public static readonly BooleanFormatter Instance = new();
    public void Serialize(ref MessagePackWriter writer, bool value) => writer.Write(value);
    public bool Deserialize(ref MessagePackReader reader) => reader.ReadBoolean();
}

public sealed class ByteFormatter : IMessagePackFormatter<byte>
{
    public static readonly ByteFormatter Instance = new();
    public void Serialize(ref MessagePackWriter writer, byte value) => writer.Write(value);
    public byte Deserialize(ref MessagePackReader reader) => reader.ReadByte();
}

public sealed class SByteFormatter : IMessagePackFormatter<sbyte>
{
    public static readonly SByteFormatter Instance = new();
    public void Serialize(ref MessagePackWriter writer, sbyte value) => writer.Write(value);
    public sbyte Deserialize(ref MessagePackReader reader) => reader.ReadSByte();
}

public sealed class Int16Formatter : IMessagePackFormatter<short>
{
    public static readonly Int16Formatter Instance = new();
    public void Serialize(ref MessagePackWriter writer, short value) => writer.Write(value);
    public short Deserialize(ref MessagePackReader reader) => reader.ReadInt16();
}

public sealed class UInt16Formatter : IMessagePackFormatter<ushort>
{
    public static readonly UInt16Formatter Instance = new();
    public void Serialize(ref MessagePackWriter writer, ushort value) => writer.Write(value);
    public ushort Deserialize(ref MessagePackReader reader) => reader.ReadUInt16();
}

public sealed class Int32Formatter : IMessagePackFormatter<int>
{
    public static readonly Int32Formatter Instance = new();
    public void Serialize(ref MessagePackWriter writer, int value) => writer.Write(value);
    public int Deserialize(ref MessagePackReader reader) => reader.ReadInt32();
}

public sealed class UInt32Formatter : IMessagePackFormatter<uint>
{
    public static readonly UInt32Formatter Instance = new();
    public void Serialize(ref MessagePackWriter writer, uint value) => writer.Write(value);
    public uint Deserialize(ref MessagePackReader reader) => reader.ReadUInt32();
}

public sealed class Int64Formatter : IMessagePackFormatter<long>
{
    public static readonly Int64Formatter Instance = new();
    public void Serialize(ref MessagePackWriter writer, long value) => writer.Write(value);
    public long Deserialize(ref MessagePackReader reader) => reader.ReadInt64();
}

public sealed class UInt64Formatter : IMessagePackFormatter<ulong>
{
    public static readonly UInt64Formatter Instance = new();
    public void Serialize(ref MessagePackWriter writer, ulong value) => writer.Write(value);
    public ulong Deserialize(ref MessagePackReader reader) => reader.ReadUInt64();
}

public sealed class SingleFormatter : IMessagePackFormatter<float>
{
    public static readonly SingleFormatter Instance = new();
    public void Serialize(ref MessagePackWriter writer, float value) => writer.Write(value);
    public float Deserialize(ref MessagePackReader reader) => reader.ReadSingle();
}

public sealed class DoubleFormatter : IMessagePackFormatter<double>
{
    public static readonly DoubleFormatter Instance = new();
    public void Serialize(ref MessagePackWriter writer, double value) => writer.Write(value);
    public double Deserialize(ref MessagePackReader reader) => reader.ReadDouble();
}

public sealed class CharFormatter : IMessagePackFormatter<char>
{
    public static readonly CharFormatter Instance = new();
    public void Serialize(ref MessagePackWriter writer, char value) => writer.Write(value);
    public char Deserialize(ref MessagePackReader reader) => reader.ReadChar();
}

/// <summary>Strings as MessagePack str; null as nil.</summary>
public sealed class StringFormatter : IMessagePackFormatter<string?>
{
    public static readonly StringFormatter Instance = new();
    public void Serialize(ref MessagePackWriter writer, string? value) => writer.Write(value);
    public string? Deserialize(ref MessagePackReader reader) => reader.ReadString();
}

/// <summary>Byte arrays as MessagePack bin; null as nil.</summary>
public sealed class ByteArrayFormatter : IMessagePackFormatter<byte[]?>
{
    public static readonly ByteArrayFormatter Instance = new();
    public void Serialize(ref MessagePackWriter writer, byte[]? value) => writer.Write(value);
    public byte[]? Deserialize(ref MessagePackReader reader) => reader.ReadByteArray();
}

/// <summary>DateTime as the timestamp extension (-1), in UTC.</summary>
public sealed class DateTimeFormatter : IMessagePackFormatter<DateTime>
{
    public static readonly DateTimeFormatter Instance = new();
    public void Serialize(ref MessagePackWriter writer, DateTime value) => writer.Write(value);
    public DateTime Deserialize(ref MessagePackReader reader) => reader.ReadDateTime();
}

/// <summary>DateTimeOffset as a 2-element array: [timestamp (UTC instant), offset in minutes].</summary>
public sealed class DateTimeOffsetFormatter : IMessagePackFormatter<DateTimeOffset>
{
    public static readonly DateTimeOffsetFormatter Instance = new();
    public void Serialize(ref MessagePackWriter writer, DateTimeOffset value)
    {
        writer.WriteArrayHeader(2);
        writer.Write(value.UtcDateTime);
        writer.Write((short)value.Offset.TotalMinutes);
    }

    public DateTimeOffset Deserialize(ref MessagePackReader reader)
    {
        int count = reader.ReadArrayHeader();
        if (count != 2) throw new MessagePackSerializationException($"A DateTimeOffset is an array of 2, not {count}.");
        var utc = reader.ReadDateTime();
        short minutes = reader.ReadInt16();
        if (minutes is < -14 * 60 or > 14 * 60) throw new MessagePackSerializationException($"Offset {minutes} minutes is out of range.");
        var offset = TimeSpan.FromMinutes(minutes);
        // The instant must also be representable in local time at that offset (e.g. not 0001-01-01Z at -01:00).
        long localTicks = utc.Ticks + offset.Ticks;
        if (localTicks < DateTime.MinValue.Ticks || localTicks > DateTime.MaxValue.Ticks)
            throw new MessagePackSerializationException($"The DateTimeOffset {utc:O} at offset {minutes} minutes is outside the range of DateTimeOffset.");
        return new DateTimeOffset(utc).ToOffset(offset);
    }
}

/// <summary>TimeSpan as its tick count (int64).</summary>
public sealed class TimeSpanFormatter : IMessagePackFormatter<TimeSpan>
{
    public static readonly TimeSpanFormatter Instance = new();
    public void Serialize(ref MessagePackWriter writer, TimeSpan value) => writer.Write(value.Ticks);
    public TimeSpan Deserialize(ref MessagePackReader reader) => new(reader.ReadInt64());
}

/// <summary>Guid as a 16-byte bin in RFC 4122 (big-endian) order.</summary>
public sealed class GuidFormatter : IMessagePackFormatter<Guid>
{
    public static readonly GuidFormatter Instance = new();
    public void Serialize(ref MessagePackWriter writer, Guid value)
    {
        Span<byte> bytes = stackalloc byte[16];
        value.TryWriteBytes(bytes, bigEndian: true, out _);
        writer.WriteBinary(bytes);
    }

    public Guid Deserialize(ref MessagePackReader reader)
    {
        int length = reader.ReadBinaryHeader();
        if (length != 16) throw new MessagePackSerializationException($"A Guid is 16 bytes, not {length}.");
        Span<byte> bytes = stackalloc byte[16];
        reader.ReadRaw(16).CopyTo(bytes);
        return new Guid(bytes, bigEndian: true);
    }
}
#pragma warning restore CS1591
