using System.Buffers;
using System.Buffers.Binary;
using MessagePack;

namespace ClusterSharing.Serialization;

/// <summary>
/// Walks received MessagePack once, without recursion and without allocating, and rejects what MessagePack-CSharp's
/// reader would accept or only notice late: nesting past <see cref="DecodingLimits.MaxDepth"/>, counts and lengths past
/// the limits or past the bytes that remain (an array32 header claiming 2^31 elements in a 10-byte message), truncated
/// values, invalid UTF-8, the reserved format byte 0xc1, a timestamp extension of the wrong size and trailing bytes.
/// </summary>
internal static class WireValidator
{
    private const int StackDepth = 64;

    /// <summary>Checks that <paramref name="bytes"/> is exactly one well-formed value within <paramref name="limits"/>.</summary>
    /// <exception cref="MessagePackSerializationException">The bytes break a rule; the message says which.</exception>
    public static void ValidateOne(in ReadOnlySequence<byte> bytes, DecodingLimits limits)
    {
        if (bytes.IsSingleSegment)
        {
            ValidateOne(bytes.FirstSpan, limits);
            return;
        }
        // A value split across buffer segments (a large frame): walk a contiguous copy, so there is one walker over a span.
        if (bytes.Length > int.MaxValue) throw new MessagePackSerializationException($"A value of {bytes.Length} bytes is too large to decode.");
        int length = (int)bytes.Length;
        byte[] copy = ArrayPool<byte>.Shared.Rent(length);
        try
        {
            bytes.CopyTo(copy);
            ValidateOne(copy.AsSpan(0, length), limits);
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(copy);
        }
    }

    /// <summary>Checks that <paramref name="bytes"/> is exactly one well-formed value within <paramref name="limits"/>.</summary>
    /// <exception cref="MessagePackSerializationException">The bytes break a rule; the message says which.</exception>
    public static void ValidateOne(ReadOnlySpan<byte> bytes, DecodingLimits limits)
    {
        long[]? rented = limits.MaxDepth > StackDepth ? ArrayPool<long>.Shared.Rent(limits.MaxDepth) : null;
        Span<long> stack = rented is not null ? rented : stackalloc long[StackDepth];
        var reader = new Cursor(bytes);
        try
        {
            Walk(ref reader, stack, limits);
        }
        finally
        {
            if (rented is not null) ArrayPool<long>.Shared.Return(rented);
        }
        if (reader.Remaining != 0)
            throw new MessagePackSerializationException($"{reader.Remaining} bytes follow the value; expected exactly one value.");
    }

    /// <summary>A read position in a span: the walker's only state besides its stack.</summary>
    private ref struct Cursor(ReadOnlySpan<byte> bytes)
    {
        private readonly ReadOnlySpan<byte> _bytes = bytes;
        private int _position;

        public readonly int Remaining => _bytes.Length - _position;

        public byte Read() => _position < _bytes.Length ? _bytes[_position++] : throw Truncated();

        public long ReadLength(int size)
        {
            if (size > Remaining) throw Truncated();
            var span = _bytes.Slice(_position, size);
            _position += size;
            return size switch
            {
                1 => span[0],
                2 => BinaryPrimitives.ReadUInt16BigEndian(span),
                _ => BinaryPrimitives.ReadUInt32BigEndian(span),
            };
        }

        public void Skip(long count)
        {
            if (count > Remaining) throw Truncated();
            _position += (int)count;
        }

        public readonly ReadOnlySpan<byte> Peek(long count) => count > Remaining ? throw Truncated() : _bytes.Slice(_position, (int)count);
    }

    private static void Walk(ref Cursor reader, scoped Span<long> stack, DecodingLimits limits)
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
            byte code = reader.Read();
            long children = -1;
            switch (code)
            {
                case <= 0x7f or >= 0xe0 or 0xc0 or 0xc2 or 0xc3: break; // fixint, negative fixint, nil, false, true
                case >= 0x80 and <= 0x8f: children = 2L * Count(ref reader, code & 0x0f, 2, limits); break;
                case >= 0x90 and <= 0x9f: children = Count(ref reader, code & 0x0f, 1, limits); break;
                case >= 0xa0 and <= 0xbf: Utf8(ref reader, code & 0x1f, limits); break;
                case 0xc4: Binary(ref reader, reader.ReadLength(1), limits); break;
                case 0xc5: Binary(ref reader, reader.ReadLength(2), limits); break;
                case 0xc6: Binary(ref reader, reader.ReadLength(4), limits); break;
                case 0xc7: Extension(ref reader, reader.ReadLength(1), limits); break;
                case 0xc8: Extension(ref reader, reader.ReadLength(2), limits); break;
                case 0xc9: Extension(ref reader, reader.ReadLength(4), limits); break;
                case 0xca: reader.Skip(4); break;
                case 0xcb: reader.Skip(8); break;
                case 0xcc or 0xd0: reader.Skip(1); break;
                case 0xcd or 0xd1: reader.Skip(2); break;
                case 0xce or 0xd2: reader.Skip(4); break;
                case 0xcf or 0xd3: reader.Skip(8); break;
                case 0xd4: Extension(ref reader, 1, limits); break;
                case 0xd5: Extension(ref reader, 2, limits); break;
                case 0xd6: Extension(ref reader, 4, limits); break;
                case 0xd7: Extension(ref reader, 8, limits); break;
                case 0xd8: Extension(ref reader, 16, limits); break;
                case 0xd9: Utf8(ref reader, reader.ReadLength(1), limits); break;
                case 0xda: Utf8(ref reader, reader.ReadLength(2), limits); break;
                case 0xdb: Utf8(ref reader, reader.ReadLength(4), limits); break;
                case 0xdc: children = Count(ref reader, reader.ReadLength(2), 1, limits); break;
                case 0xdd: children = Count(ref reader, reader.ReadLength(4), 1, limits); break;
                case 0xde: children = 2L * Count(ref reader, reader.ReadLength(2), 2, limits); break;
                case 0xdf: children = 2L * Count(ref reader, reader.ReadLength(4), 2, limits); break;
                default: throw new MessagePackSerializationException($"Format byte 0x{code:x2} is reserved; this is not MessagePack.");
            }
            if (children < 0) continue;
            if (depth >= limits.MaxDepth)
                throw new MessagePackSerializationException($"Nesting exceeds the maximum depth of {limits.MaxDepth}.");
            stack[depth++] = pending;
            pending = children;
        }
    }

    private static long Count(ref Cursor reader, long count, int minBytesPerElement, DecodingLimits limits)
    {
        if (count > limits.MaxCollectionLength)
            throw new MessagePackSerializationException($"A collection of {count} elements exceeds the limit of {limits.MaxCollectionLength}.");
        // Every element takes at least one byte: a count larger than what remains is a lie, caught before anything is allocated.
        if (count * minBytesPerElement > reader.Remaining) throw Truncated();
        return count;
    }

    private static void Binary(ref Cursor reader, long length, DecodingLimits limits)
    {
        if (length > limits.MaxBinaryLength)
            throw new MessagePackSerializationException($"A binary of {length} bytes exceeds the limit of {limits.MaxBinaryLength} bytes.");
        reader.Skip(length);
    }

    private static void Extension(ref Cursor reader, long length, DecodingLimits limits)
    {
        if (length > limits.MaxBinaryLength)
            throw new MessagePackSerializationException($"An extension of {length} bytes exceeds the limit of {limits.MaxBinaryLength} bytes.");
        sbyte type = unchecked((sbyte)reader.Read());
        if (type == ReservedMessagePackExtensionTypeCode.DateTime && length is not (4 or 8 or 12))
            throw new MessagePackSerializationException($"A timestamp extension (type -1) is {length} bytes long; it must be 4, 8 or 12.");
        reader.Skip(length);
    }

    private static void Utf8(ref Cursor reader, long length, DecodingLimits limits)
    {
        if (length > limits.MaxStringLength)
            throw new MessagePackSerializationException($"A string of {length} bytes exceeds the limit of {limits.MaxStringLength} bytes.");
        // ASCII (the common case) is checked by the vectorized IsValid as fast as a copy would be.
        if (!System.Text.Unicode.Utf8.IsValid(reader.Peek(length))) throw new MessagePackSerializationException("A string is not valid UTF-8.");
        reader.Skip(length);
    }

    private static MessagePackSerializationException Truncated() =>
        new("Unexpected end of MessagePack data (truncated input or a length larger than the data).");
}
