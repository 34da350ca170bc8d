using System.Buffers.Binary;
using System.ComponentModel;
using System.Runtime.CompilerServices;
using System.Text;
using MessagePack;

namespace ClusterSharing.Serialization;

/// <summary>
/// Reads the built-in scalar types straight from a span, for generated formatters and the runtime's own header objects.
/// Every method is a Try: it reads the common encodings of a value and answers false for anything else (another format,
/// a value out of range, too few bytes); after a false the reader is abandoned and the caller reads the same value again
/// from its start with MessagePack-CSharp's formatters, which give their own result or exception. So for every input
/// this reader either yields exactly what those formatters yield, or leaves the decision to them.
/// </summary>
/// <remarks>
/// What it accepts mirrors <c>MessagePackReader</c>: integers in any integer format that fits the target type, floats
/// from float32, float64 or any integer, strings as str8/16/32 or fixstr (nil for null), binaries as bin8/16/32 (nil for
/// null), timestamps as the 32-, 64- or 96-bit extension -1. It does not check UTF-8 or the decoding limits: bodies and
/// header objects reach it only after <see cref="WireValidator"/> (or check them themselves, see
/// <see cref="TryReadString(out string?, int)"/>).
/// </remarks>
[EditorBrowsable(EditorBrowsableState.Never)]
public ref struct WireSpanReader
{
    private const long UnixEpochTicks = 621355968000000000; // DateTime.UnixEpoch.Ticks
    private const long MaxSeconds = 315537897599;           // DateTime.MaxValue.Ticks / TimeSpan.TicksPerSecond

    private readonly ReadOnlySpan<byte> _bytes;
    private int _position;

    /// <summary>A reader at the start of <paramref name="bytes"/>.</summary>
    public WireSpanReader(ReadOnlySpan<byte> bytes)
    {
        _bytes = bytes;
        _position = 0;
    }

    /// <summary>
    /// A span reader at the position of <paramref name="reader"/> when the rest of its data is one contiguous span and one
    /// more level of nesting is within <paramref name="options"/>' depth; false otherwise (read with <paramref name="reader"/>).
    /// </summary>
    public static bool TryCreate(ref MessagePackReader reader, MessagePackSerializerOptions options, out WireSpanReader span)
    {
        var sequence = reader.Sequence;
        if (!sequence.IsSingleSegment || reader.Depth >= options.Security.MaximumObjectGraphDepth)
        {
            span = default;
            return false;
        }
        span = new WireSpanReader(sequence.FirstSpan.Slice((int)reader.Consumed));
        return true;
    }

    /// <summary>Bytes read so far: what to move the <c>MessagePackReader</c> this reader was created from past (<c>ReadRaw(Consumed)</c>).</summary>
    public readonly int Consumed => _position;

    /// <summary>True when every byte has been read.</summary>
    public readonly bool End => _position == _bytes.Length;

    /// <summary>Reads an array header of exactly <paramref name="count"/> elements.</summary>
    public bool TryReadArrayHeader(int count) => TryReadArrayHeader(out int actual) && actual == count;

    /// <summary>Reads an array header (fixarray or array16).</summary>
    public bool TryReadArrayHeader(out int count)
    {
        var bytes = _bytes;
        int p = _position;
        if ((uint)p < (uint)bytes.Length)
        {
            byte code = bytes[p];
            if (code is >= 0x90 and <= 0x9f)
            {
                count = code & 0x0f;
                _position = p + 1;
                return true;
            }
            if (code == 0xdc && bytes.Length - p >= 3)
            {
                count = BinaryPrimitives.ReadUInt16BigEndian(bytes.Slice(p + 1));
                _position = p + 3;
                return true;
            }
        }
        count = 0;
        return false;
    }

    /// <summary>Reads nil if it is next.</summary>
    public bool TryReadNil()
    {
        if ((uint)_position < (uint)_bytes.Length && _bytes[_position] == 0xc0)
        {
            _position++;
            return true;
        }
        return false;
    }

    /// <summary>Reads true or false.</summary>
    public bool TryRead(out bool value)
    {
        if ((uint)_position < (uint)_bytes.Length)
        {
            byte code = _bytes[_position];
            if (code is 0xc2 or 0xc3)
            {
                value = code == 0xc3;
                _position++;
                return true;
            }
        }
        value = false;
        return false;
    }

    /// <summary>Reads an integer of any integer format that fits an <see cref="sbyte"/>.</summary>
    public bool TryRead(out sbyte value)
    {
        bool ok = TryReadInteger(out long v) && v is >= sbyte.MinValue and <= sbyte.MaxValue;
        value = (sbyte)v;
        return ok;
    }

    /// <summary>Reads an integer of any integer format that fits a <see cref="byte"/>.</summary>
    public bool TryRead(out byte value)
    {
        bool ok = TryReadInteger(out long v) && v is >= 0 and <= byte.MaxValue;
        value = (byte)v;
        return ok;
    }

    /// <summary>Reads an integer of any integer format that fits a <see cref="short"/>.</summary>
    public bool TryRead(out short value)
    {
        bool ok = TryReadInteger(out long v) && v is >= short.MinValue and <= short.MaxValue;
        value = (short)v;
        return ok;
    }

    /// <summary>Reads an integer of any integer format that fits a <see cref="ushort"/>.</summary>
    public bool TryRead(out ushort value)
    {
        bool ok = TryReadInteger(out long v) && v is >= 0 and <= ushort.MaxValue;
        value = (ushort)v;
        return ok;
    }

    /// <summary>Reads a character written as its UTF-16 code unit (an integer that fits a <see cref="ushort"/>).</summary>
    public bool TryRead(out char value)
    {
        bool ok = TryRead(out ushort v);
        value = (char)v;
        return ok;
    }

    /// <summary>Reads an integer of any integer format that fits an <see cref="int"/>.</summary>
    public bool TryRead(out int value)
    {
        bool ok = TryReadInteger(out long v) && v is >= int.MinValue and <= int.MaxValue;
        value = (int)v;
        return ok;
    }

    /// <summary>Reads an integer of any integer format that fits a <see cref="uint"/>.</summary>
    public bool TryRead(out uint value)
    {
        bool ok = TryReadInteger(out long v) && v is >= 0 and <= uint.MaxValue;
        value = (uint)v;
        return ok;
    }

    /// <summary>Reads an integer of any integer format that fits a <see cref="long"/>.</summary>
    public bool TryRead(out long value) => TryReadInteger(out value);

    /// <summary>Reads an integer of any integer format that fits a <see cref="ulong"/>.</summary>
    public bool TryRead(out ulong value)
    {
        if ((uint)_position < (uint)_bytes.Length && _bytes[_position] == 0xcf)
        {
            if (_bytes.Length - _position < 9)
            {
                value = 0;
                return false;
            }
            value = BinaryPrimitives.ReadUInt64BigEndian(_bytes.Slice(_position + 1));
            _position += 9;
            return true;
        }
        bool ok = TryReadInteger(out long v) && v >= 0;
        value = (ulong)v;
        return ok;
    }

    /// <summary>Reads a float32, a float64 (narrowed) or any integer as a <see cref="float"/>.</summary>
    public bool TryRead(out float value)
    {
        if ((uint)_position < (uint)_bytes.Length)
        {
            byte code = _bytes[_position];
            if (code == 0xca && _bytes.Length - _position >= 5)
            {
                value = BinaryPrimitives.ReadSingleBigEndian(_bytes.Slice(_position + 1));
                _position += 5;
                return true;
            }
            if (code == 0xcb && _bytes.Length - _position >= 9)
            {
                value = (float)BinaryPrimitives.ReadDoubleBigEndian(_bytes.Slice(_position + 1));
                _position += 9;
                return true;
            }
            if (code == 0xcf && _bytes.Length - _position >= 9)
            {
                value = BinaryPrimitives.ReadUInt64BigEndian(_bytes.Slice(_position + 1));
                _position += 9;
                return true;
            }
        }
        bool ok = TryReadInteger(out long v);
        value = v;
        return ok;
    }

    /// <summary>Reads a float64, a float32 (widened) or any integer as a <see cref="double"/>.</summary>
    public bool TryRead(out double value)
    {
        if ((uint)_position < (uint)_bytes.Length)
        {
            byte code = _bytes[_position];
            if (code == 0xcb && _bytes.Length - _position >= 9)
            {
                value = BinaryPrimitives.ReadDoubleBigEndian(_bytes.Slice(_position + 1));
                _position += 9;
                return true;
            }
            if (code == 0xca && _bytes.Length - _position >= 5)
            {
                value = BinaryPrimitives.ReadSingleBigEndian(_bytes.Slice(_position + 1));
                _position += 5;
                return true;
            }
            if (code == 0xcf && _bytes.Length - _position >= 9)
            {
                value = BinaryPrimitives.ReadUInt64BigEndian(_bytes.Slice(_position + 1));
                _position += 9;
                return true;
            }
        }
        bool ok = TryReadInteger(out long v);
        value = v;
        return ok;
    }

    /// <summary>Reads a string (nil: null); the bytes were validated as UTF-8 before.</summary>
    public bool TryRead(out string? value)
    {
        if (!TryReadStringBytes(out var utf8, out bool nil))
        {
            value = null;
            return false;
        }
        value = nil ? null : utf8.IsEmpty ? string.Empty : Encoding.UTF8.GetString(utf8);
        return true;
    }

    /// <summary>
    /// Reads a string (nil: null) from bytes nobody validated: false unless it is at most <paramref name="maxByteLength"/>
    /// bytes of valid UTF-8, so the caller's validating path decides about anything else.
    /// </summary>
    public bool TryReadString(out string? value, int maxByteLength)
    {
        if (!TryReadStringBytes(out var utf8, out bool nil) || utf8.Length > maxByteLength || !System.Text.Unicode.Utf8.IsValid(utf8))
        {
            value = null;
            return false;
        }
        value = nil ? null : utf8.IsEmpty ? string.Empty : Encoding.UTF8.GetString(utf8);
        return true;
    }

    /// <summary>Reads a timestamp (extension -1 of 4, 8 or 12 bytes) as a UTC <see cref="DateTime"/>.</summary>
    public bool TryRead(out DateTime value)
    {
        var bytes = _bytes;
        int p = _position;
        value = default;
        if ((uint)p >= (uint)bytes.Length) return false;
        long seconds;
        long nanoseconds;
        int size;
        switch (bytes[p])
        {
            case 0xd6 when bytes.Length - p >= 6 && bytes[p + 1] == 0xff:
                seconds = BinaryPrimitives.ReadUInt32BigEndian(bytes.Slice(p + 2));
                nanoseconds = 0;
                size = 6;
                break;
            case 0xd7 when bytes.Length - p >= 10 && bytes[p + 1] == 0xff:
                ulong data64 = BinaryPrimitives.ReadUInt64BigEndian(bytes.Slice(p + 2));
                seconds = (long)(data64 & 0x00000003ffffffffUL);
                nanoseconds = (long)(data64 >> 34);
                size = 10;
                break;
            case 0xc7 when bytes.Length - p >= 15 && bytes[p + 1] == 12 && bytes[p + 2] == 0xff:
                nanoseconds = BinaryPrimitives.ReadUInt32BigEndian(bytes.Slice(p + 3));
                seconds = BinaryPrimitives.ReadInt64BigEndian(bytes.Slice(p + 7));
                size = 15;
                break;
            default:
                return false;
        }
        // MessagePack-CSharp computes UnixEpoch.AddSeconds(seconds).AddTicks(nanoseconds / 100); either step throws when it
        // leaves DateTime's range, which is left to it.
        if (seconds is > MaxSeconds or < -MaxSeconds) return false;
        long ticks = UnixEpochTicks + seconds * TimeSpan.TicksPerSecond;
        if ((ulong)ticks > (ulong)DateTime.MaxValue.Ticks) return false;
        ticks += nanoseconds / 100;
        if ((ulong)ticks > (ulong)DateTime.MaxValue.Ticks) return false;
        value = new DateTime(ticks, DateTimeKind.Utc);
        _position = p + size;
        return true;
    }

    /// <summary>Reads a binary (bin8/16/32; nil: null) as a new array.</summary>
    public bool TryRead(out byte[]? value)
    {
        var bytes = _bytes;
        int p = _position;
        value = null;
        if ((uint)p >= (uint)bytes.Length) return false;
        int header;
        long length;
        switch (bytes[p])
        {
            case 0xc0:
                _position = p + 1;
                return true;
            case 0xc4 when bytes.Length - p >= 2:
                header = 2;
                length = bytes[p + 1];
                break;
            case 0xc5 when bytes.Length - p >= 3:
                header = 3;
                length = BinaryPrimitives.ReadUInt16BigEndian(bytes.Slice(p + 1));
                break;
            case 0xc6 when bytes.Length - p >= 5:
                header = 5;
                length = BinaryPrimitives.ReadUInt32BigEndian(bytes.Slice(p + 1));
                break;
            default:
                return false;
        }
        if (length > bytes.Length - p - header) return false;
        value = bytes.Slice(p + header, (int)length).ToArray();
        _position = p + header + (int)length;
        return true;
    }

    /// <summary>Any integer format whose value fits a <see cref="long"/> (uint64 above <see cref="long.MaxValue"/> does not).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private bool TryReadInteger(out long value)
    {
        var bytes = _bytes;
        int p = _position;
        if ((uint)p < (uint)bytes.Length)
        {
            byte code = bytes[p];
            if (code <= 0x7f)
            {
                value = code;
                _position = p + 1;
                return true;
            }
            if (code >= 0xe0)
            {
                value = (sbyte)code;
                _position = p + 1;
                return true;
            }
            return TryReadIntegerFormat(code, out value);
        }
        value = 0;
        return false;
    }

    private bool TryReadIntegerFormat(byte code, out long value)
    {
        var rest = _bytes.Slice(_position + 1);
        int size;
        switch (code)
        {
            case 0xcc when rest.Length >= 1: value = rest[0]; size = 1; break;
            case 0xcd when rest.Length >= 2: value = BinaryPrimitives.ReadUInt16BigEndian(rest); size = 2; break;
            case 0xce when rest.Length >= 4: value = BinaryPrimitives.ReadUInt32BigEndian(rest); size = 4; break;
            case 0xcf when rest.Length >= 8:
                ulong unsigned = BinaryPrimitives.ReadUInt64BigEndian(rest);
                value = (long)unsigned;
                if (unsigned > long.MaxValue) return false;
                size = 8;
                break;
            case 0xd0 when rest.Length >= 1: value = (sbyte)rest[0]; size = 1; break;
            case 0xd1 when rest.Length >= 2: value = BinaryPrimitives.ReadInt16BigEndian(rest); size = 2; break;
            case 0xd2 when rest.Length >= 4: value = BinaryPrimitives.ReadInt32BigEndian(rest); size = 4; break;
            case 0xd3 when rest.Length >= 8: value = BinaryPrimitives.ReadInt64BigEndian(rest); size = 8; break;
            default: value = 0; return false;
        }
        _position += 1 + size;
        return true;
    }

    /// <summary>A str8/16/32 or fixstr's UTF-8 bytes, or nil.</summary>
    private bool TryReadStringBytes(out ReadOnlySpan<byte> utf8, out bool nil)
    {
        var bytes = _bytes;
        int p = _position;
        utf8 = default;
        nil = false;
        if ((uint)p >= (uint)bytes.Length) return false;
        byte code = bytes[p];
        int header;
        long length;
        if (code is >= 0xa0 and <= 0xbf)
        {
            header = 1;
            length = code & 0x1f;
        }
        else
        {
            switch (code)
            {
                case 0xc0:
                    nil = true;
                    _position = p + 1;
                    return true;
                case 0xd9 when bytes.Length - p >= 2:
                    header = 2;
                    length = bytes[p + 1];
                    break;
                case 0xda when bytes.Length - p >= 3:
                    header = 3;
                    length = BinaryPrimitives.ReadUInt16BigEndian(bytes.Slice(p + 1));
                    break;
                case 0xdb when bytes.Length - p >= 5:
                    header = 5;
                    length = BinaryPrimitives.ReadUInt32BigEndian(bytes.Slice(p + 1));
                    break;
                default:
                    return false;
            }
        }
        if (length > bytes.Length - p - header) return false;
        utf8 = bytes.Slice(p + header, (int)length);
        _position = p + header + (int)length;
        return true;
    }
}
