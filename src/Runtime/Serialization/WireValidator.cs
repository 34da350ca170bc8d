using System.Buffers;
using System.Buffers.Binary;
using System.Runtime.CompilerServices;
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
    [SkipLocalsInit] // the depth stack is written before it is read; zeroing its 512 bytes cost more than the walk of a small value
    public static void ValidateOne(ReadOnlySpan<byte> bytes, DecodingLimits limits)
    {
        int end = limits.MaxDepth <= StackDepth ? Walk(bytes, stackalloc long[StackDepth], limits) : WalkRented(bytes, limits);
        if (end != bytes.Length)
            throw new MessagePackSerializationException($"{bytes.Length - end} bytes follow the value; expected exactly one value.");
    }

    /// <summary>A depth limit beyond the stack-allocated 64 levels: the depth stack comes from the pool.</summary>
    private static int WalkRented(ReadOnlySpan<byte> bytes, DecodingLimits limits)
    {
        long[] rented = ArrayPool<long>.Shared.Rent(limits.MaxDepth);
        try
        {
            return Walk(bytes, rented, limits);
        }
        finally
        {
            ArrayPool<long>.Shared.Return(rented);
        }
    }

    /// <summary>
    /// Walks one value from the start of <paramref name="bytes"/> and returns the position after it. One loop with its state
    /// in locals: the scalars an invoke carries (fixints, floats, short strings) cost a few instructions each.
    /// </summary>
    private static int Walk(ReadOnlySpan<byte> bytes, scoped Span<long> stack, DecodingLimits limits)
    {
        int position = 0;
        long pending = 1;
        int depth = 0;
        while (true)
        {
            while (pending == 0)
            {
                if (depth == 0) return position;
                pending = stack[--depth];
            }
            pending--;
            if ((uint)position >= (uint)bytes.Length) throw Truncated();
            byte code = bytes[position++];
            if (code <= 0x7f || code >= 0xe0 || code is 0xc0 or 0xc2 or 0xc3) continue; // fixint, negative fixint, nil, false, true
            long children;
            switch (code)
            {
                case >= 0xa0 and <= 0xbf: position = Utf8(bytes, position, code & 0x1f, limits); continue;
                case >= 0x80 and <= 0x8f: children = 2L * Count(bytes, position, code & 0x0f, 2, limits); break;
                case >= 0x90 and <= 0x9f: children = Count(bytes, position, code & 0x0f, 1, limits); break;
                case 0xca: position = Skip(bytes, position, 4); continue;
                case 0xcb: position = Skip(bytes, position, 8); continue;
                case 0xcc or 0xd0: position = Skip(bytes, position, 1); continue;
                case 0xcd or 0xd1: position = Skip(bytes, position, 2); continue;
                case 0xce or 0xd2: position = Skip(bytes, position, 4); continue;
                case 0xcf or 0xd3: position = Skip(bytes, position, 8); continue;
                case 0xd4: position = Extension(bytes, position, 1, limits); continue;
                case 0xd5: position = Extension(bytes, position, 2, limits); continue;
                case 0xd6: position = Extension(bytes, position, 4, limits); continue;
                case 0xd7: position = Extension(bytes, position, 8, limits); continue;
                case 0xd8: position = Extension(bytes, position, 16, limits); continue;
                case 0xc4: position = Binary(bytes, position + 1, ReadLength(bytes, position, 1), limits); continue;
                case 0xc5: position = Binary(bytes, position + 2, ReadLength(bytes, position, 2), limits); continue;
                case 0xc6: position = Binary(bytes, position + 4, ReadLength(bytes, position, 4), limits); continue;
                case 0xc7: position = Extension(bytes, position + 1, ReadLength(bytes, position, 1), limits); continue;
                case 0xc8: position = Extension(bytes, position + 2, ReadLength(bytes, position, 2), limits); continue;
                case 0xc9: position = Extension(bytes, position + 4, ReadLength(bytes, position, 4), limits); continue;
                case 0xd9: position = Utf8(bytes, position + 1, ReadLength(bytes, position, 1), limits); continue;
                case 0xda: position = Utf8(bytes, position + 2, ReadLength(bytes, position, 2), limits); continue;
                case 0xdb: position = Utf8(bytes, position + 4, ReadLength(bytes, position, 4), limits); continue;
                case 0xdc: children = Count(bytes, position + 2, ReadLength(bytes, position, 2), 1, limits); position += 2; break;
                case 0xdd: children = Count(bytes, position + 4, ReadLength(bytes, position, 4), 1, limits); position += 4; break;
                case 0xde: children = 2L * Count(bytes, position + 2, ReadLength(bytes, position, 2), 2, limits); position += 2; break;
                case 0xdf: children = 2L * Count(bytes, position + 4, ReadLength(bytes, position, 4), 2, limits); position += 4; break;
                default: throw new MessagePackSerializationException($"Format byte 0x{code:x2} is reserved; this is not MessagePack.");
            }
            if (depth >= limits.MaxDepth)
                throw new MessagePackSerializationException($"Nesting exceeds the maximum depth of {limits.MaxDepth}.");
            stack[depth++] = pending;
            pending = children;
        }
    }

    /// <summary>The big-endian length of <paramref name="size"/> bytes at <paramref name="position"/>.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static long ReadLength(ReadOnlySpan<byte> bytes, int position, int size)
    {
        if (size > bytes.Length - position) throw Truncated();
        return size switch
        {
            1 => bytes[position],
            2 => BinaryPrimitives.ReadUInt16BigEndian(bytes.Slice(position)),
            _ => BinaryPrimitives.ReadUInt32BigEndian(bytes.Slice(position)),
        };
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static int Skip(ReadOnlySpan<byte> bytes, int position, long count) =>
        count <= bytes.Length - position ? position + (int)count : throw Truncated();

    private static long Count(ReadOnlySpan<byte> bytes, int position, long count, int minBytesPerElement, DecodingLimits limits)
    {
        if (count > limits.MaxCollectionLength)
            throw new MessagePackSerializationException($"A collection of {count} elements exceeds the limit of {limits.MaxCollectionLength}.");
        // Every element takes at least one byte: a count larger than what remains is a lie, caught before anything is allocated.
        if (count * minBytesPerElement > bytes.Length - position) throw Truncated();
        return count;
    }

    private static int Binary(ReadOnlySpan<byte> bytes, int position, long length, DecodingLimits limits)
    {
        if (length > limits.MaxBinaryLength)
            throw new MessagePackSerializationException($"A binary of {length} bytes exceeds the limit of {limits.MaxBinaryLength} bytes.");
        return Skip(bytes, position, length);
    }

    private static int Extension(ReadOnlySpan<byte> bytes, int position, long length, DecodingLimits limits)
    {
        if (length > limits.MaxBinaryLength)
            throw new MessagePackSerializationException($"An extension of {length} bytes exceeds the limit of {limits.MaxBinaryLength} bytes.");
        if ((uint)position >= (uint)bytes.Length) throw Truncated();
        sbyte type = unchecked((sbyte)bytes[position++]);
        if (type == ReservedMessagePackExtensionTypeCode.DateTime && length is not (4 or 8 or 12))
            throw new MessagePackSerializationException($"A timestamp extension (type -1) is {length} bytes long; it must be 4, 8 or 12.");
        return Skip(bytes, position, length);
    }

    private static int Utf8(ReadOnlySpan<byte> bytes, int position, long length, DecodingLimits limits)
    {
        if (length > limits.MaxStringLength)
            throw new MessagePackSerializationException($"A string of {length} bytes exceeds the limit of {limits.MaxStringLength} bytes.");
        if (length > bytes.Length - position) throw Truncated();
        var text = bytes.Slice(position, (int)length);
        // ASCII (the common case) is checked by the vectorized IsValid as fast as a copy would be.
        if (!System.Text.Unicode.Utf8.IsValid(text)) throw new MessagePackSerializationException("A string is not valid UTF-8.");
        return position + (int)length;
    }

    private static MessagePackSerializationException Truncated() =>
        new("Unexpected end of MessagePack data (truncated input or a length larger than the data).");
}
