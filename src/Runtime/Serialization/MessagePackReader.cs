using System.Buffers;
using System.Buffers.Binary;
using System.Runtime.CompilerServices;
using System.Text;

namespace ClusterSharing.Serialization;

/// <summary>
/// Reads MessagePack from a <see cref="ReadOnlySequence{T}"/>. Every length is checked against
/// <see cref="MessagePackReaderOptions"/> and against the bytes that remain before anything is allocated;
/// any violation or malformed input throws <see cref="MessagePackSerializationException"/>.
/// </summary>
public ref struct MessagePackReader
{
    private SequenceReader<byte> _reader;
    private readonly MessagePackReaderOptions _options;

    /// <summary>Creates a reader over <paramref name="sequence"/>.</summary>
    public MessagePackReader(ReadOnlySequence<byte> sequence, MessagePackReaderOptions? options = null)
    {
        _reader = new SequenceReader<byte>(sequence);
        _options = options ?? MessagePackReaderOptions.UntrustedData;
        Depth = 0;
    }

    /// <summary>Creates a reader over <paramref name="memory"/>.</summary>
    public MessagePackReader(ReadOnlyMemory<byte> memory, MessagePackReaderOptions? options = null)
        : this(new ReadOnlySequence<byte>(memory), options) { }

    /// <summary>The limits in force.</summary>
    public readonly MessagePackReaderOptions Options => _options;

    /// <summary>Current nesting depth, maintained by <see cref="EnterNested"/> and <see cref="ExitNested"/>.</summary>
    public int Depth { get; private set; }

    /// <summary>True when every byte has been read.</summary>
    public readonly bool End => _reader.End;

    /// <summary>Bytes read so far.</summary>
    public readonly long Consumed => _reader.Consumed;

    /// <summary>Bytes not read yet.</summary>
    public readonly long Remaining => _reader.Remaining;

    /// <summary>The whole sequence being read.</summary>
    public readonly ReadOnlySequence<byte> Sequence => _reader.Sequence;

    /// <summary>The position of the next byte.</summary>
    public readonly SequencePosition Position => _reader.Position;

    /// <summary>Call before reading the members of a nested object; throws past <see cref="MessagePackReaderOptions.MaxDepth"/>.</summary>
    public void EnterNested()
    {
        if (Depth >= _options.MaxDepth)
            throw new MessagePackSerializationException($"Nesting exceeds the maximum depth of {_options.MaxDepth}.");
        Depth++;
    }

    /// <summary>Call after reading the members of a nested object.</summary>
    public void ExitNested()
    {
        // An unbalanced call would silently raise the effective depth limit.
        if (Depth == 0) throw new InvalidOperationException("ExitNested was called without a matching EnterNested.");
        Depth--;
    }

    /// <summary>The format byte of the next value.</summary>
    public readonly byte NextCode
    {
        get
        {
            if (!_reader.TryPeek(out byte code)) throw EndOfData();
            return code;
        }
    }

    /// <summary>The kind of the next value.</summary>
    public readonly MessagePackType NextMessagePackType => TypeOf(NextCode);

    /// <summary>The kind of value a format byte starts.</summary>
    public static MessagePackType TypeOf(byte code) => code switch
    {
        <= MessagePackCode.MaxFixInt => MessagePackType.Integer,
        <= MessagePackCode.MaxFixMap => MessagePackType.Map,
        <= MessagePackCode.MaxFixArray => MessagePackType.Array,
        <= MessagePackCode.MaxFixStr => MessagePackType.String,
        MessagePackCode.Nil => MessagePackType.Nil,
        MessagePackCode.False or MessagePackCode.True => MessagePackType.Boolean,
        MessagePackCode.Bin8 or MessagePackCode.Bin16 or MessagePackCode.Bin32 => MessagePackType.Binary,
        MessagePackCode.Ext8 or MessagePackCode.Ext16 or MessagePackCode.Ext32 => MessagePackType.Extension,
        MessagePackCode.Float32 or MessagePackCode.Float64 => MessagePackType.Float,
        >= MessagePackCode.UInt8 and <= MessagePackCode.Int64 => MessagePackType.Integer,
        >= MessagePackCode.FixExt1 and <= MessagePackCode.FixExt16 => MessagePackType.Extension,
        MessagePackCode.Str8 or MessagePackCode.Str16 or MessagePackCode.Str32 => MessagePackType.String,
        MessagePackCode.Array16 or MessagePackCode.Array32 => MessagePackType.Array,
        MessagePackCode.Map16 or MessagePackCode.Map32 => MessagePackType.Map,
        >= MessagePackCode.MinNegativeFixInt => MessagePackType.Integer,
        _ => MessagePackType.Unknown,
    };

    /// <summary>Reads nil if it is next and returns true; otherwise reads nothing and returns false.</summary>
    public bool TryReadNil()
    {
        if (NextCode != MessagePackCode.Nil) return false;
        _reader.Advance(1);
        return true;
    }

    /// <summary>Reads nil.</summary>
    public void ReadNil()
    {
        byte code = ReadCode();
        if (code != MessagePackCode.Nil) throw Unexpected(code, "nil");
    }

    /// <summary>Reads a boolean.</summary>
    public bool ReadBoolean()
    {
        byte code = ReadCode();
        return code switch
        {
            MessagePackCode.True => true,
            MessagePackCode.False => false,
            _ => throw Unexpected(code, "a boolean"),
        };
    }

    /// <summary>Reads any integer format as a 64-bit signed integer; throws if it does not fit.</summary>
    public long ReadInt64()
    {
        // Fast path: the whole value is in the current segment, so read it from the span and advance once.
        var span = _reader.UnreadSpan;
        if (span.Length > 0)
        {
            byte first = span[0];
            if (first <= MessagePackCode.MaxFixInt) { _reader.Advance(1); return first; }
            if (first >= MessagePackCode.MinNegativeFixInt) { _reader.Advance(1); return unchecked((sbyte)first); }
            if (span.Length >= 9)
            {
                long value;
                int size;
                switch (first)
                {
                    case MessagePackCode.UInt8: value = span[1]; size = 2; break;
                    case MessagePackCode.UInt16: value = BinaryPrimitives.ReadUInt16BigEndian(span.Slice(1)); size = 3; break;
                    case MessagePackCode.UInt32: value = BinaryPrimitives.ReadUInt32BigEndian(span.Slice(1)); size = 5; break;
                    case MessagePackCode.Int8: value = unchecked((sbyte)span[1]); size = 2; break;
                    case MessagePackCode.Int16: value = BinaryPrimitives.ReadInt16BigEndian(span.Slice(1)); size = 3; break;
                    case MessagePackCode.Int32: value = BinaryPrimitives.ReadInt32BigEndian(span.Slice(1)); size = 5; break;
                    case MessagePackCode.Int64: value = BinaryPrimitives.ReadInt64BigEndian(span.Slice(1)); size = 9; break;
                    default: return ReadInt64Slow();
                }
                _reader.Advance(size);
                return value;
            }
        }
        return ReadInt64Slow();
    }

    private long ReadInt64Slow()
    {
        byte code = ReadCode();
        if (code <= MessagePackCode.MaxFixInt) return code;
        if (code >= MessagePackCode.MinNegativeFixInt) return unchecked((sbyte)code);
        switch (code)
        {
            case MessagePackCode.UInt8: return ReadByteRaw();
            case MessagePackCode.UInt16: return (ushort)ReadInt16Raw();
            case MessagePackCode.UInt32: return (uint)ReadInt32Raw();
            case MessagePackCode.UInt64:
                {
                    ulong v = (ulong)ReadInt64Raw();
                    if (v > long.MaxValue) throw Overflow("Int64");
                    return (long)v;
                }
            case MessagePackCode.Int8: return unchecked((sbyte)ReadByteRaw());
            case MessagePackCode.Int16: return ReadInt16Raw();
            case MessagePackCode.Int32: return ReadInt32Raw();
            case MessagePackCode.Int64: return ReadInt64Raw();
            default: throw Unexpected(code, "an integer");
        }
    }

    /// <summary>Reads any integer format as a 64-bit unsigned integer; throws if it is negative.</summary>
    public ulong ReadUInt64() => ReadUnsigned("UInt64");

    private ulong ReadUnsigned(string target)
    {
        if (NextCode == MessagePackCode.UInt64)
        {
            _reader.Advance(1);
            return (ulong)ReadInt64Raw();
        }
        long v = ReadInt64();
        if (v < 0) throw Overflow(target);
        return (ulong)v;
    }

    /// <summary>Reads an integer that must fit in <see cref="int"/>.</summary>
    public int ReadInt32() { long v = ReadInt64(); if (v is < int.MinValue or > int.MaxValue) throw Overflow("Int32"); return (int)v; }
    /// <summary>Reads an integer that must fit in <see cref="uint"/>.</summary>
    public uint ReadUInt32() { ulong v = ReadUnsigned("UInt32"); if (v > uint.MaxValue) throw Overflow("UInt32"); return (uint)v; }
    /// <summary>Reads an integer that must fit in <see cref="short"/>.</summary>
    public short ReadInt16() { long v = ReadInt64(); if (v is < short.MinValue or > short.MaxValue) throw Overflow("Int16"); return (short)v; }
    /// <summary>Reads an integer that must fit in <see cref="ushort"/>.</summary>
    public ushort ReadUInt16() { ulong v = ReadUnsigned("UInt16"); if (v > ushort.MaxValue) throw Overflow("UInt16"); return (ushort)v; }
    /// <summary>Reads an integer that must fit in <see cref="sbyte"/>.</summary>
    public sbyte ReadSByte() { long v = ReadInt64(); if (v is < sbyte.MinValue or > sbyte.MaxValue) throw Overflow("SByte"); return (sbyte)v; }
    /// <summary>Reads an integer that must fit in <see cref="byte"/>.</summary>
    public byte ReadByte() { ulong v = ReadUnsigned("Byte"); if (v > byte.MaxValue) throw Overflow("Byte"); return (byte)v; }
    /// <summary>Reads a character written as its UTF-16 code unit.</summary>
    public char ReadChar() { ulong v = ReadUnsigned("Char"); if (v > char.MaxValue) throw Overflow("Char"); return (char)v; }

    /// <summary>Reads a float64, float32 or integer as a double.</summary>
    public double ReadDouble()
    {
        var span = _reader.UnreadSpan;
        if (span.Length >= 9 && span[0] == MessagePackCode.Float64)
        {
            double value = BinaryPrimitives.ReadDoubleBigEndian(span.Slice(1));
            _reader.Advance(9);
            return value;
        }
        byte code = NextCode;
        if (code == MessagePackCode.Float64) { _reader.Advance(1); return BitConverter.Int64BitsToDouble(ReadInt64Raw()); }
        if (code == MessagePackCode.Float32) { _reader.Advance(1); return BitConverter.Int32BitsToSingle(ReadInt32Raw()); }
        if (code == MessagePackCode.UInt64) return ReadUInt64();
        if (TypeOf(code) == MessagePackType.Integer) return ReadInt64();
        _reader.Advance(1);
        throw Unexpected(code, "a float");
    }

    /// <summary>Reads a float32, float64 or integer as a single.</summary>
    public float ReadSingle()
    {
        if (NextCode == MessagePackCode.Float32) { _reader.Advance(1); return BitConverter.Int32BitsToSingle(ReadInt32Raw()); }
        return (float)ReadDouble();
    }

    /// <summary>Reads a string (or nil, returning null).</summary>
    public string? ReadString()
    {
        if (TryReadNil()) return null;
        int length = ReadStringHeader();
        if (_reader.UnreadSpan.Length >= length)
        {
            var s = DecodeUtf8(_reader.UnreadSpan.Slice(0, length));
            _reader.Advance(length);
            return s;
        }
        return ReadStringSlow(length);
    }

    private string ReadStringSlow(int length)
    {
        var sequence = _reader.Sequence.Slice(_reader.Position, length);
        _reader.Advance(length);
        try { return StrictUtf8.GetString(sequence); }
        catch (DecoderFallbackException e) { throw new MessagePackSerializationException("A string is not valid UTF-8.", e); }
    }

    private static readonly UTF8Encoding StrictUtf8 = new(encoderShouldEmitUTF8Identifier: false, throwOnInvalidBytes: true);

    private static string DecodeUtf8(ReadOnlySpan<byte> bytes)
    {
        try { return StrictUtf8.GetString(bytes); }
        catch (DecoderFallbackException e) { throw new MessagePackSerializationException("A string is not valid UTF-8.", e); }
    }

    /// <summary>Reads a string header and returns its UTF-8 byte length, checked against the limits and the remaining bytes.</summary>
    public int ReadStringHeader()
    {
        byte code = ReadCode();
        long length;
        if (code is >= MessagePackCode.MinFixStr and <= MessagePackCode.MaxFixStr) length = code & 0x1f;
        else if (code == MessagePackCode.Str8) length = ReadByteRaw();
        else if (code == MessagePackCode.Str16) length = (ushort)ReadInt16Raw();
        else if (code == MessagePackCode.Str32) length = (uint)ReadInt32Raw();
        else throw Unexpected(code, "a string");
        return CheckLength(length, _options.MaxStringLength, "string");
    }

    /// <summary>Reads the UTF-8 bytes of a string (or nil, returning null) without decoding them.</summary>
    public ReadOnlySequence<byte>? ReadStringSequence()
    {
        if (TryReadNil()) return null;
        int length = ReadStringHeader();
        return ReadRaw(length);
    }

    /// <summary>Reads a bin (or nil, returning null) as a slice of the input, without copying.</summary>
    public ReadOnlySequence<byte>? ReadBytes()
    {
        if (TryReadNil()) return null;
        int length = ReadBinaryHeader();
        return ReadRaw(length);
    }

    /// <summary>Reads a bin (or nil, returning null) into a new array.</summary>
    public byte[]? ReadByteArray() => ReadBytes() is { } bytes ? bytes.ToArray() : null;

    /// <summary>Reads a bin header and returns its length, checked against the limits and the remaining bytes.</summary>
    public int ReadBinaryHeader()
    {
        byte code = ReadCode();
        long length = code switch
        {
            MessagePackCode.Bin8 => ReadByteRaw(),
            MessagePackCode.Bin16 => (ushort)ReadInt16Raw(),
            MessagePackCode.Bin32 => (uint)ReadInt32Raw(),
            _ => throw Unexpected(code, "binary"),
        };
        return CheckLength(length, _options.MaxBinaryLength, "binary");
    }

    /// <summary>Reads an array header; the count is checked against the limits and the remaining bytes.</summary>
    public int ReadArrayHeader()
    {
        byte code = ReadCode();
        long count;
        if (code is >= MessagePackCode.MinFixArray and <= MessagePackCode.MaxFixArray) count = code & 0x0f;
        else if (code == MessagePackCode.Array16) count = (ushort)ReadInt16Raw();
        else if (code == MessagePackCode.Array32) count = (uint)ReadInt32Raw();
        else throw Unexpected(code, "an array");
        return CheckCount(count, 1);
    }

    /// <summary>Reads an array header, or nil (returning -1).</summary>
    public int ReadArrayHeaderOrNil() => TryReadNil() ? -1 : ReadArrayHeader();

    /// <summary>Reads a map header; the pair count is checked against the limits and the remaining bytes.</summary>
    public int ReadMapHeader()
    {
        byte code = ReadCode();
        long count;
        if (code is >= MessagePackCode.MinFixMap and <= MessagePackCode.MaxFixMap) count = code & 0x0f;
        else if (code == MessagePackCode.Map16) count = (ushort)ReadInt16Raw();
        else if (code == MessagePackCode.Map32) count = (uint)ReadInt32Raw();
        else throw Unexpected(code, "a map");
        return CheckCount(count, 2);
    }

    /// <summary>Reads a map header, or nil (returning -1).</summary>
    public int ReadMapHeaderOrNil() => TryReadNil() ? -1 : ReadMapHeader();

    /// <summary>Reads an ext header; the length is checked against the limits and the remaining bytes.</summary>
    public ExtensionHeader ReadExtensionHeader()
    {
        byte code = ReadCode();
        long length;
        switch (code)
        {
            case MessagePackCode.FixExt1: length = 1; break;
            case MessagePackCode.FixExt2: length = 2; break;
            case MessagePackCode.FixExt4: length = 4; break;
            case MessagePackCode.FixExt8: length = 8; break;
            case MessagePackCode.FixExt16: length = 16; break;
            case MessagePackCode.Ext8: length = ReadByteRaw(); break;
            case MessagePackCode.Ext16: length = (ushort)ReadInt16Raw(); break;
            case MessagePackCode.Ext32: length = (uint)ReadInt32Raw(); break;
            default: throw Unexpected(code, "an extension");
        }
        sbyte type = unchecked((sbyte)ReadByteRaw());
        return new ExtensionHeader(type, (uint)CheckLength(length, _options.MaxBinaryLength, "extension"));
    }

    /// <summary>Reads a timestamp (ext -1, any of its three forms) as a UTC <see cref="DateTime"/>.</summary>
    public DateTime ReadDateTime()
    {
        var (seconds, nanoseconds) = ReadTimestamp();
        const long minSeconds = -62135596800L, maxSeconds = 253402300799L; // 0001-01-01 .. 9999-12-31T23:59:59
        if (seconds < minSeconds || seconds > maxSeconds)
            throw new MessagePackSerializationException($"Timestamp {seconds}s is outside the range of DateTime.");
        return DateTime.UnixEpoch.AddTicks(seconds * TimeSpan.TicksPerSecond + nanoseconds / 100);
    }

    /// <summary>Reads a timestamp (ext -1) as seconds since the Unix epoch and nanoseconds.</summary>
    public (long Seconds, uint Nanoseconds) ReadTimestamp()
    {
        // Fast path for the two common forms when they lie in the current segment.
        var span = _reader.UnreadSpan;
        if (span.Length >= 6 && span[1] == 0xff)
        {
            if (span[0] == MessagePackCode.FixExt4)
            {
                uint seconds = BinaryPrimitives.ReadUInt32BigEndian(span.Slice(2));
                _reader.Advance(6);
                return (seconds, 0);
            }
            if (span[0] == MessagePackCode.FixExt8 && span.Length >= 10)
            {
                var timestamp = Timestamp64(BinaryPrimitives.ReadUInt64BigEndian(span.Slice(2)));
                _reader.Advance(10);
                return timestamp;
            }
        }
        return ReadTimestampSlow();
    }

    private static (long Seconds, uint Nanoseconds) Timestamp64(ulong data)
    {
        uint nanos = (uint)(data >> 34);
        if (nanos > 999_999_999) throw new MessagePackSerializationException("Timestamp nanoseconds exceed 999999999.");
        return ((long)(data & 0x3_ffff_ffffUL), nanos);
    }

    private (long Seconds, uint Nanoseconds) ReadTimestampSlow()
    {
        var header = ReadExtensionHeader();
        if (header.TypeCode != MessagePackCode.TimestampExtensionType)
            throw new MessagePackSerializationException($"Expected a timestamp (ext -1) but found ext {header.TypeCode}.");
        switch (header.Length)
        {
            case 4:
                return ((uint)ReadInt32Raw(), 0);
            case 8:
                return Timestamp64((ulong)ReadInt64Raw());
            case 12:
                {
                    uint nanos = (uint)ReadInt32Raw();
                    if (nanos > 999_999_999) throw new MessagePackSerializationException("Timestamp nanoseconds exceed 999999999.");
                    return (ReadInt64Raw(), nanos);
                }
            default:
                throw new MessagePackSerializationException($"A timestamp must be 4, 8 or 12 bytes long, not {header.Length}.");
        }
    }

    /// <summary>Returns the next <paramref name="length"/> bytes as a slice of the input and moves past them.</summary>
    public ReadOnlySequence<byte> ReadRaw(long length)
    {
        if (length < 0 || length > _reader.Remaining) throw EndOfData();
        var slice = _reader.Sequence.Slice(_reader.Position, length);
        _reader.Advance(length);
        return slice;
    }

    /// <summary>Returns the next complete value as a slice of the input and moves past it.</summary>
    public ReadOnlySequence<byte> ReadRaw()
    {
        var start = _reader.Position;
        Skip();
        return _reader.Sequence.Slice(start, _reader.Position);
    }

    /// <summary>Moves past the next complete value, checking depth and lengths as it goes.</summary>
    public void Skip()
    {
        // Iterative with an explicit stack of pending counts, so hostile nesting cannot overflow the call stack.
        int maxNesting = _options.MaxDepth - Depth;
        long[]? rented = maxNesting > 64 ? ArrayPool<long>.Shared.Rent(maxNesting) : null;
        Span<long> stack = rented is not null ? rented : stackalloc long[64];
        try
        {
            SkipValues(stack, maxNesting);
        }
        finally
        {
            if (rented is not null) ArrayPool<long>.Shared.Return(rented);
        }
    }

    private void SkipValues(scoped Span<long> stack, int maxNesting)
    {
        long pending = 1;
        int depth = 0;
        while (true)
        {
            while (pending == 0)
            {
                if (depth == 0) return;
                pending = stack[--depth];
            }
            pending--;
            byte code = NextCode;
            switch (TypeOf(code))
            {
                case MessagePackType.Integer: ReadInt64OrUInt64(); break;
                case MessagePackType.Nil:
                case MessagePackType.Boolean: _reader.Advance(1); break;
                case MessagePackType.Float: _reader.Advance(1); Advance(code == MessagePackCode.Float32 ? 4 : 8); break;
                case MessagePackType.String: Advance(ReadStringHeader()); break;
                case MessagePackType.Binary: Advance(ReadBinaryHeader()); break;
                case MessagePackType.Extension: Advance(ReadExtensionHeader().Length); break;
                case MessagePackType.Array:
                case MessagePackType.Map:
                    {
                        long children = TypeOf(code) == MessagePackType.Array ? ReadArrayHeader() : 2L * ReadMapHeader();
                        if (depth >= maxNesting)
                            throw new MessagePackSerializationException($"Nesting exceeds the maximum depth of {_options.MaxDepth}.");
                        stack[depth++] = pending;
                        pending = children;
                        break;
                    }
                default:
                    _reader.Advance(1);
                    throw Unexpected(code, "a value");
            }
        }
    }

    private void ReadInt64OrUInt64()
    {
        if (NextCode == MessagePackCode.UInt64) { _reader.Advance(1); Advance(8); }
        else ReadInt64();
    }

    private void Advance(long count)
    {
        if (count > _reader.Remaining) throw EndOfData();
        _reader.Advance(count);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private byte ReadCode()
    {
        if (!_reader.TryRead(out byte code)) throw EndOfData();
        return code;
    }

    private byte ReadByteRaw()
    {
        if (!_reader.TryRead(out byte b)) throw EndOfData();
        return b;
    }

    private short ReadInt16Raw()
    {
        if (!_reader.TryReadBigEndian(out short v)) throw EndOfData();
        return v;
    }

    private int ReadInt32Raw()
    {
        if (!_reader.TryReadBigEndian(out int v)) throw EndOfData();
        return v;
    }

    private long ReadInt64Raw()
    {
        if (!_reader.TryReadBigEndian(out long v)) throw EndOfData();
        return v;
    }

    private readonly int CheckLength(long length, int max, string what)
    {
        if (length > max)
            throw new MessagePackSerializationException($"A {what} of {length} bytes exceeds the limit of {max} bytes.");
        if (length > _reader.Remaining) throw EndOfData();
        return (int)length;
    }

    private readonly int CheckCount(long count, int minBytesPerElement)
    {
        if (count > _options.MaxCollectionLength)
            throw new MessagePackSerializationException($"A collection of {count} elements exceeds the limit of {_options.MaxCollectionLength}.");
        // Every element takes at least one byte: a count larger than what remains is a lie, caught before allocating.
        if (count * minBytesPerElement > _reader.Remaining) throw EndOfData();
        return (int)count;
    }

    private static MessagePackSerializationException EndOfData() =>
        new("Unexpected end of MessagePack data (truncated input or a length larger than the data).");

    private static MessagePackSerializationException Unexpected(byte code, string expected) =>
        new($"Expected {expected} but found format byte 0x{code:x2} ({TypeOf(code)}).");

    private static MessagePackSerializationException Overflow(string type) =>
        new($"An integer does not fit in {type}.");
}
