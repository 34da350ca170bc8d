using System.Buffers;
using System.Buffers.Binary;
using System.Runtime.CompilerServices;
using System.Text;

namespace ClusterSharing.Serialization;

/// <summary>
/// Writes MessagePack into an <see cref="IBufferWriter{T}"/>. Bytes are written to a span borrowed from the
/// output and committed in bulk: call <see cref="Flush"/> when done. Always uses the smallest encoding.
/// </summary>
public ref struct MessagePackWriter
{
    private readonly IBufferWriter<byte> _output;
    private Span<byte> _span;
    private int _buffered;

    /// <summary>Creates a writer over <paramref name="output"/>.</summary>
    public MessagePackWriter(IBufferWriter<byte> output)
    {
        _output = output ?? throw new ArgumentNullException(nameof(output));
        _span = default;
        _buffered = 0;
    }

    /// <summary>Commits the bytes written so far to the output.</summary>
    public void Flush()
    {
        if (_buffered > 0) _output.Advance(_buffered);
        // A borrowed span is invalid once the output moves on, so never keep one across a flush.
        _buffered = 0;
        _span = default;
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private Span<byte> Reserve(int count)
    {
        if (_span.Length - _buffered < count) Grow(count);
        return _span.Slice(_buffered, count);
    }

    [MethodImpl(MethodImplOptions.NoInlining)]
    private void Grow(int count)
    {
        Flush();
        _span = _output.GetSpan(Math.Max(count, 256));
        if (_span.Length < count) throw new InvalidOperationException("The buffer writer returned a span smaller than requested.");
    }

    /// <summary>Writes nil.</summary>
    public void WriteNil() { Reserve(1)[0] = MessagePackCode.Nil; _buffered++; }

    /// <summary>Writes a boolean.</summary>
    public void Write(bool value) { Reserve(1)[0] = value ? MessagePackCode.True : MessagePackCode.False; _buffered++; }

    /// <summary>Writes an integer in its smallest format.</summary>
    public void Write(sbyte value) => Write((long)value);
    /// <summary>Writes an integer in its smallest format.</summary>
    public void Write(short value) => Write((long)value);
    /// <summary>Writes an integer in its smallest format.</summary>
    public void Write(int value) => Write((long)value);
    /// <summary>Writes an integer in its smallest format.</summary>
    public void Write(byte value) => Write((ulong)value);
    /// <summary>Writes an integer in its smallest format.</summary>
    public void Write(ushort value) => Write((ulong)value);
    /// <summary>Writes an integer in its smallest format.</summary>
    public void Write(uint value) => Write((ulong)value);
    /// <summary>Writes a character as its UTF-16 code unit (an integer).</summary>
    public void Write(char value) => Write((ulong)value);

    /// <summary>Writes an integer in its smallest format.</summary>
    public void Write(long value)
    {
        if (value >= 0) { Write((ulong)value); return; }
        if (value >= -32) { Reserve(1)[0] = unchecked((byte)value); _buffered += 1; }
        else if (value >= sbyte.MinValue) { var s = Reserve(2); s[0] = MessagePackCode.Int8; s[1] = unchecked((byte)value); _buffered += 2; }
        else if (value >= short.MinValue) { var s = Reserve(3); s[0] = MessagePackCode.Int16; BinaryPrimitives.WriteInt16BigEndian(s.Slice(1), (short)value); _buffered += 3; }
        else if (value >= int.MinValue) { var s = Reserve(5); s[0] = MessagePackCode.Int32; BinaryPrimitives.WriteInt32BigEndian(s.Slice(1), (int)value); _buffered += 5; }
        else { var s = Reserve(9); s[0] = MessagePackCode.Int64; BinaryPrimitives.WriteInt64BigEndian(s.Slice(1), value); _buffered += 9; }
    }

    /// <summary>Writes an integer in its smallest format.</summary>
    public void Write(ulong value)
    {
        if (value <= MessagePackCode.MaxFixInt) { Reserve(1)[0] = (byte)value; _buffered += 1; }
        else if (value <= byte.MaxValue) { var s = Reserve(2); s[0] = MessagePackCode.UInt8; s[1] = (byte)value; _buffered += 2; }
        else if (value <= ushort.MaxValue) { var s = Reserve(3); s[0] = MessagePackCode.UInt16; BinaryPrimitives.WriteUInt16BigEndian(s.Slice(1), (ushort)value); _buffered += 3; }
        else if (value <= uint.MaxValue) { var s = Reserve(5); s[0] = MessagePackCode.UInt32; BinaryPrimitives.WriteUInt32BigEndian(s.Slice(1), (uint)value); _buffered += 5; }
        else { var s = Reserve(9); s[0] = MessagePackCode.UInt64; BinaryPrimitives.WriteUInt64BigEndian(s.Slice(1), value); _buffered += 9; }
    }

    /// <summary>Writes a float32.</summary>
    public void Write(float value) { var s = Reserve(5); s[0] = MessagePackCode.Float32; BinaryPrimitives.WriteSingleBigEndian(s.Slice(1), value); _buffered += 5; }

    /// <summary>Writes a float64.</summary>
    public void Write(double value) { var s = Reserve(9); s[0] = MessagePackCode.Float64; BinaryPrimitives.WriteDoubleBigEndian(s.Slice(1), value); _buffered += 9; }

    /// <summary>Writes a string as UTF-8, or nil when <paramref name="value"/> is null.</summary>
    public void Write(string? value)
    {
        if (value is null) { WriteNil(); return; }
        WriteString(value.AsSpan());
    }

    /// <summary>Writes characters as a UTF-8 string. Lone surrogates are written as U+FFFD.</summary>
    public void WriteString(scoped ReadOnlySpan<char> value)
    {
        if (value.Length > 4096)
        {
            // Long strings: count exactly rather than reserving three bytes per character.
            int count = Encoding.UTF8.GetByteCount(value);
            WriteStringHeader(count);
            var target = Reserve(count);
            Encoding.UTF8.GetBytes(value, target);
            _buffered += count;
            return;
        }
        // Short strings: reserve for the worst case so the string is encoded once, straight into the output.
        int max = Encoding.UTF8.GetMaxByteCount(value.Length);
        int headerMax = StringHeaderSize(max);
        var s = Reserve(headerMax + max);
        int written = Encoding.UTF8.GetBytes(value, s.Slice(headerMax));
        int header = StringHeaderSize(written);
        if (header != headerMax) s.Slice(headerMax, written).CopyTo(s.Slice(header));
        WriteStringHeaderInto(s, written);
        _buffered += header + written;
    }

    private static int StringHeaderSize(int byteCount) =>
        byteCount <= 31 ? 1 : byteCount <= byte.MaxValue ? 2 : byteCount <= ushort.MaxValue ? 3 : 5;

    /// <summary>Writes bytes that are already UTF-8 as a string.</summary>
    public void WriteStringUtf8(scoped ReadOnlySpan<byte> utf8)
    {
        WriteStringHeader(utf8.Length);
        WriteRaw(utf8);
    }

    /// <summary>Writes the header of a string of <paramref name="byteCount"/> UTF-8 bytes.</summary>
    public void WriteStringHeader(int byteCount)
    {
        if (byteCount < 0) throw new ArgumentOutOfRangeException(nameof(byteCount));
        int header = StringHeaderSize(byteCount);
        WriteStringHeaderInto(Reserve(header), byteCount);
        _buffered += header;
    }

    private static void WriteStringHeaderInto(Span<byte> s, int length)
    {
        if (length <= 31) s[0] = (byte)(MessagePackCode.MinFixStr | length);
        else if (length <= byte.MaxValue) { s[0] = MessagePackCode.Str8; s[1] = (byte)length; }
        else if (length <= ushort.MaxValue) { s[0] = MessagePackCode.Str16; BinaryPrimitives.WriteUInt16BigEndian(s.Slice(1), (ushort)length); }
        else { s[0] = MessagePackCode.Str32; BinaryPrimitives.WriteUInt32BigEndian(s.Slice(1), (uint)length); }
    }

    /// <summary>Writes bytes as bin, or nil when <paramref name="value"/> is null.</summary>
    public void Write(byte[]? value)
    {
        if (value is null) { WriteNil(); return; }
        WriteBinary(value);
    }

    /// <summary>Writes bytes as bin.</summary>
    public void WriteBinary(scoped ReadOnlySpan<byte> value)
    {
        WriteBinaryHeader(value.Length);
        WriteRaw(value);
    }

    /// <summary>Writes the header of a bin of <paramref name="length"/> bytes.</summary>
    public void WriteBinaryHeader(int length)
    {
        if (length < 0) throw new ArgumentOutOfRangeException(nameof(length));
        if (length <= byte.MaxValue) { var s = Reserve(2); s[0] = MessagePackCode.Bin8; s[1] = (byte)length; _buffered += 2; }
        else if (length <= ushort.MaxValue) { var s = Reserve(3); s[0] = MessagePackCode.Bin16; BinaryPrimitives.WriteUInt16BigEndian(s.Slice(1), (ushort)length); _buffered += 3; }
        else { var s = Reserve(5); s[0] = MessagePackCode.Bin32; BinaryPrimitives.WriteUInt32BigEndian(s.Slice(1), (uint)length); _buffered += 5; }
    }

    /// <summary>Writes an array header; the elements follow.</summary>
    public void WriteArrayHeader(int count)
    {
        if (count < 0) throw new ArgumentOutOfRangeException(nameof(count));
        if (count <= 15) { Reserve(1)[0] = (byte)(MessagePackCode.MinFixArray | count); _buffered += 1; }
        else if (count <= ushort.MaxValue) { var s = Reserve(3); s[0] = MessagePackCode.Array16; BinaryPrimitives.WriteUInt16BigEndian(s.Slice(1), (ushort)count); _buffered += 3; }
        else { var s = Reserve(5); s[0] = MessagePackCode.Array32; BinaryPrimitives.WriteUInt32BigEndian(s.Slice(1), (uint)count); _buffered += 5; }
    }

    /// <summary>Writes a map header; <paramref name="count"/> key/value pairs follow.</summary>
    public void WriteMapHeader(int count)
    {
        if (count < 0) throw new ArgumentOutOfRangeException(nameof(count));
        if (count <= 15) { Reserve(1)[0] = (byte)(MessagePackCode.MinFixMap | count); _buffered += 1; }
        else if (count <= ushort.MaxValue) { var s = Reserve(3); s[0] = MessagePackCode.Map16; BinaryPrimitives.WriteUInt16BigEndian(s.Slice(1), (ushort)count); _buffered += 3; }
        else { var s = Reserve(5); s[0] = MessagePackCode.Map32; BinaryPrimitives.WriteUInt32BigEndian(s.Slice(1), (uint)count); _buffered += 5; }
    }

    /// <summary>Writes an ext header (fixext when the length allows); the data follows.</summary>
    public void WriteExtensionHeader(sbyte typeCode, int length)
    {
        if (length < 0) throw new ArgumentOutOfRangeException(nameof(length));
        byte type = unchecked((byte)typeCode);
        switch (length)
        {
            case 1: { var s = Reserve(2); s[0] = MessagePackCode.FixExt1; s[1] = type; _buffered += 2; return; }
            case 2: { var s = Reserve(2); s[0] = MessagePackCode.FixExt2; s[1] = type; _buffered += 2; return; }
            case 4: { var s = Reserve(2); s[0] = MessagePackCode.FixExt4; s[1] = type; _buffered += 2; return; }
            case 8: { var s = Reserve(2); s[0] = MessagePackCode.FixExt8; s[1] = type; _buffered += 2; return; }
            case 16: { var s = Reserve(2); s[0] = MessagePackCode.FixExt16; s[1] = type; _buffered += 2; return; }
        }
        if (length <= byte.MaxValue) { var s = Reserve(3); s[0] = MessagePackCode.Ext8; s[1] = (byte)length; s[2] = type; _buffered += 3; }
        else if (length <= ushort.MaxValue) { var s = Reserve(4); s[0] = MessagePackCode.Ext16; BinaryPrimitives.WriteUInt16BigEndian(s.Slice(1), (ushort)length); s[3] = type; _buffered += 4; }
        else { var s = Reserve(6); s[0] = MessagePackCode.Ext32; BinaryPrimitives.WriteUInt32BigEndian(s.Slice(1), (uint)length); s[5] = type; _buffered += 6; }
    }

    /// <summary>Writes a complete ext value.</summary>
    public void WriteExtension(sbyte typeCode, scoped ReadOnlySpan<byte> data)
    {
        WriteExtensionHeader(typeCode, data.Length);
        WriteRaw(data);
    }

    /// <summary>
    /// Writes a timestamp (ext -1) in the smallest of its 32, 64 and 96-bit forms.
    /// The value is converted to UTC first; <see cref="DateTimeKind.Unspecified"/> is taken as UTC.
    /// </summary>
    public void Write(DateTime value)
    {
        if (value.Kind == DateTimeKind.Local) value = value.ToUniversalTime();
        long ticks = value.Ticks - DateTime.UnixEpoch.Ticks;
        long seconds = Math.DivRem(ticks, TimeSpan.TicksPerSecond, out long remainder);
        if (remainder < 0) { seconds--; remainder += TimeSpan.TicksPerSecond; }
        WriteTimestamp(seconds, (uint)(remainder * 100));
    }

    /// <summary>Writes a timestamp (ext -1) of <paramref name="seconds"/> since the Unix epoch plus <paramref name="nanoseconds"/>.</summary>
    public void WriteTimestamp(long seconds, uint nanoseconds)
    {
        if (nanoseconds > 999_999_999) throw new ArgumentOutOfRangeException(nameof(nanoseconds));
        if ((seconds >> 34) == 0)
        {
            ulong data64 = ((ulong)nanoseconds << 34) | (ulong)seconds;
            if ((data64 & 0xffffffff00000000UL) == 0)
            {
                var s = Reserve(6); s[0] = MessagePackCode.FixExt4; s[1] = 0xff;
                BinaryPrimitives.WriteUInt32BigEndian(s.Slice(2), (uint)data64); _buffered += 6;
            }
            else
            {
                var s = Reserve(10); s[0] = MessagePackCode.FixExt8; s[1] = 0xff;
                BinaryPrimitives.WriteUInt64BigEndian(s.Slice(2), data64); _buffered += 10;
            }
        }
        else
        {
            var s = Reserve(15); s[0] = MessagePackCode.Ext8; s[1] = 12; s[2] = 0xff;
            BinaryPrimitives.WriteUInt32BigEndian(s.Slice(3), nanoseconds);
            BinaryPrimitives.WriteInt64BigEndian(s.Slice(7), seconds); _buffered += 15;
        }
    }

    /// <summary>Writes bytes that are already MessagePack (or the data of an ext/bin/str whose header was written).</summary>
    public void WriteRaw(scoped ReadOnlySpan<byte> bytes)
    {
        if (bytes.Length <= _span.Length - _buffered)
        {
            bytes.CopyTo(_span.Slice(_buffered));
            _buffered += bytes.Length;
            return;
        }
        Flush();
        while (bytes.Length > 0)
        {
            var target = _output.GetSpan(Math.Min(bytes.Length, 64 * 1024));
            int n = Math.Min(target.Length, bytes.Length);
            bytes.Slice(0, n).CopyTo(target);
            _output.Advance(n);
            bytes = bytes.Slice(n);
        }
    }

    /// <summary>Writes bytes that are already MessagePack.</summary>
    public void WriteRaw(in ReadOnlySequence<byte> bytes)
    {
        foreach (var segment in bytes) WriteRaw(segment.Span);
    }
}
