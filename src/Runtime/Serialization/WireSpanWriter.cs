using System.Buffers.Binary;
using System.ComponentModel;
using System.Runtime.CompilerServices;
using System.Text;

namespace ClusterSharing.Serialization;

/// <summary>
/// Writes the built-in scalar types straight into a span, byte for byte as MessagePack-CSharp's <c>MessagePackWriter</c>
/// writes them (smallest integer form, float32/float64 as declared, str with the smallest header, bin, timestamps in
/// their smallest form with <c>Local</c> converted to UTC). Generated formatters take one span of the summed
/// <c>Max…</c> lengths from the <c>MessagePackWriter</c>, fill it and advance once, instead of one buffer request per value.
/// </summary>
[EditorBrowsable(EditorBrowsableState.Never)]
public ref struct WireSpanWriter
{
    /// <summary>Largest span the generated code asks for at once; a larger value is written by MessagePack-CSharp.</summary>
    public const int MaxDirectLength = 64 * 1024;

    private const long BclSecondsAtUnixEpoch = 62135596800;

    private readonly Span<byte> _span;
    private int _written;

    /// <summary>A writer at the start of <paramref name="span"/>, which must hold the sum of the values' maximum lengths.</summary>
    public WireSpanWriter(Span<byte> span)
    {
        _span = span;
        _written = 0;
    }

    /// <summary>Bytes written: what to advance the <c>MessagePackWriter</c> that handed out the span by.</summary>
    public readonly int Written => _written;

    /// <summary>The most bytes <see cref="Write(string)"/> can take for <paramref name="value"/>.</summary>
    public static long MaxLength(string? value) => value is null ? 1 : 5 + 3L * (value.Length + 1);

    /// <summary>The most bytes <see cref="Write(byte[])"/> can take for <paramref name="value"/>.</summary>
    public static long MaxLength(byte[]? value) => value is null ? 1 : 5L + value.Length;

    /// <summary>Writes an array header (at most 3 bytes for up to 65,535 elements).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public void WriteArrayHeader(int count)
    {
        if (count <= 15)
        {
            _span[_written++] = (byte)(0x90 | count);
        }
        else if (count <= ushort.MaxValue)
        {
            _span[_written] = 0xdc;
            BinaryPrimitives.WriteUInt16BigEndian(_span.Slice(_written + 1), (ushort)count);
            _written += 3;
        }
        else
        {
            _span[_written] = 0xdd;
            BinaryPrimitives.WriteUInt32BigEndian(_span.Slice(_written + 1), (uint)count);
            _written += 5;
        }
    }

    /// <summary>Writes nil.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public void WriteNil() => _span[_written++] = 0xc0;

    /// <summary>Writes true or false (1 byte).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public void Write(bool value) => _span[_written++] = value ? (byte)0xc3 : (byte)0xc2;

    /// <summary>Writes an integer in its smallest form (at most 2 bytes).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public void Write(sbyte value) => Write((long)value);

    /// <summary>Writes an integer in its smallest form (at most 2 bytes).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public void Write(byte value) => Write((ulong)value);

    /// <summary>Writes an integer in its smallest form (at most 3 bytes).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public void Write(short value) => Write((long)value);

    /// <summary>Writes an integer in its smallest form (at most 3 bytes).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public void Write(ushort value) => Write((ulong)value);

    /// <summary>Writes a character as its UTF-16 code unit (at most 3 bytes).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public void Write(char value) => Write((ulong)value);

    /// <summary>Writes an integer in its smallest form (at most 5 bytes).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public void Write(int value) => Write((long)value);

    /// <summary>Writes an integer in its smallest form (at most 5 bytes).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public void Write(uint value) => Write((ulong)value);

    /// <summary>Writes an integer in its smallest form (at most 9 bytes): positive values as fixint or uint8–64.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public void Write(long value)
    {
        if (value >= 0)
        {
            Write((ulong)value);
            return;
        }
        var span = _span.Slice(_written);
        if (value >= -32)
        {
            span[0] = unchecked((byte)value);
            _written += 1;
        }
        else if (value >= sbyte.MinValue)
        {
            span[1] = unchecked((byte)value);
            span[0] = 0xd0;
            _written += 2;
        }
        else if (value >= short.MinValue)
        {
            BinaryPrimitives.WriteInt16BigEndian(span.Slice(1), (short)value);
            span[0] = 0xd1;
            _written += 3;
        }
        else if (value >= int.MinValue)
        {
            BinaryPrimitives.WriteInt32BigEndian(span.Slice(1), (int)value);
            span[0] = 0xd2;
            _written += 5;
        }
        else
        {
            BinaryPrimitives.WriteInt64BigEndian(span.Slice(1), value);
            span[0] = 0xd3;
            _written += 9;
        }
    }

    /// <summary>Writes an integer in its smallest form (at most 9 bytes).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public void Write(ulong value)
    {
        var span = _span.Slice(_written);
        if (value <= 0x7f)
        {
            span[0] = (byte)value;
            _written += 1;
        }
        else if (value <= byte.MaxValue)
        {
            span[1] = (byte)value;
            span[0] = 0xcc;
            _written += 2;
        }
        else if (value <= ushort.MaxValue)
        {
            BinaryPrimitives.WriteUInt16BigEndian(span.Slice(1), (ushort)value);
            span[0] = 0xcd;
            _written += 3;
        }
        else if (value <= uint.MaxValue)
        {
            BinaryPrimitives.WriteUInt32BigEndian(span.Slice(1), (uint)value);
            span[0] = 0xce;
            _written += 5;
        }
        else
        {
            BinaryPrimitives.WriteUInt64BigEndian(span.Slice(1), value);
            span[0] = 0xcf;
            _written += 9;
        }
    }

    /// <summary>Writes a float32 (5 bytes).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public void Write(float value)
    {
        var span = _span.Slice(_written, 5);
        BinaryPrimitives.WriteSingleBigEndian(span.Slice(1), value);
        span[0] = 0xca;
        _written += 5;
    }

    /// <summary>Writes a float64 (9 bytes).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public void Write(double value)
    {
        var span = _span.Slice(_written, 9);
        BinaryPrimitives.WriteDoubleBigEndian(span.Slice(1), value);
        span[0] = 0xcb;
        _written += 9;
    }

    /// <summary>Writes a string as UTF-8 with the smallest str header, or nil (at most <see cref="MaxLength(string)"/> bytes).</summary>
    public void Write(string? value)
    {
        if (value is null)
        {
            WriteNil();
            return;
        }
        // Encode behind a header sized for the character count; move the bytes only when the byte count needs another header.
        int guess = value.Length <= 31 ? 1 : value.Length <= byte.MaxValue ? 2 : value.Length <= ushort.MaxValue ? 3 : 5;
        var span = _span.Slice(_written);
        int count = Encoding.UTF8.GetBytes(value, span.Slice(guess));
        int header = count <= 31 ? 1 : count <= byte.MaxValue ? 2 : count <= ushort.MaxValue ? 3 : 5;
        if (header != guess) span.Slice(guess, count).CopyTo(span.Slice(header));
        switch (header)
        {
            case 1:
                span[0] = (byte)(0xa0 | count);
                break;
            case 2:
                span[0] = 0xd9;
                span[1] = (byte)count;
                break;
            case 3:
                span[0] = 0xda;
                BinaryPrimitives.WriteUInt16BigEndian(span.Slice(1), (ushort)count);
                break;
            default:
                span[0] = 0xdb;
                BinaryPrimitives.WriteUInt32BigEndian(span.Slice(1), (uint)count);
                break;
        }
        _written += header + count;
    }

    /// <summary>Writes a binary (bin8/16/32) or nil (at most <see cref="MaxLength(byte[])"/> bytes).</summary>
    public void Write(byte[]? value)
    {
        if (value is null)
        {
            WriteNil();
            return;
        }
        var span = _span.Slice(_written);
        int length = value.Length;
        int header;
        if (length <= byte.MaxValue)
        {
            span[0] = 0xc4;
            span[1] = (byte)length;
            header = 2;
        }
        else if (length <= ushort.MaxValue)
        {
            span[0] = 0xc5;
            BinaryPrimitives.WriteUInt16BigEndian(span.Slice(1), (ushort)length);
            header = 3;
        }
        else
        {
            span[0] = 0xc6;
            BinaryPrimitives.WriteInt32BigEndian(span.Slice(1), length);
            header = 5;
        }
        value.CopyTo(span.Slice(header));
        _written += header + length;
    }

    /// <summary>Writes a timestamp (extension -1) in its smallest form, at most 15 bytes; a <c>Local</c> time is converted to UTC first.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public void Write(DateTime value)
    {
        if (value.Kind == DateTimeKind.Local) value = value.ToUniversalTime();
        long seconds = value.Ticks / TimeSpan.TicksPerSecond - BclSecondsAtUnixEpoch;
        long nanoseconds = value.Ticks % TimeSpan.TicksPerSecond * 100;
        var span = _span.Slice(_written);
        if (seconds >> 34 == 0)
        {
            ulong data64 = unchecked((ulong)((nanoseconds << 34) | seconds));
            if ((data64 & 0xffffffff00000000UL) == 0)
            {
                BinaryPrimitives.WriteUInt32BigEndian(span.Slice(2), (uint)data64);
                span[1] = 0xff;
                span[0] = 0xd6;
                _written += 6;
            }
            else
            {
                BinaryPrimitives.WriteUInt64BigEndian(span.Slice(2), data64);
                span[1] = 0xff;
                span[0] = 0xd7;
                _written += 10;
            }
        }
        else
        {
            BinaryPrimitives.WriteUInt32BigEndian(span.Slice(3), (uint)nanoseconds);
            BinaryPrimitives.WriteInt64BigEndian(span.Slice(7), seconds);
            span[2] = 0xff;
            span[1] = 12;
            span[0] = 0xc7;
            _written += 15;
        }
    }
}
