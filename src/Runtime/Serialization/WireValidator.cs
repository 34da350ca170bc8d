using System.Buffers;
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
        var reader = new SequenceReader<byte>(bytes);
        long[]? rented = limits.MaxDepth > StackDepth ? ArrayPool<long>.Shared.Rent(limits.MaxDepth) : null;
        Span<long> stack = rented is not null ? rented : stackalloc long[StackDepth];
        try
        {
            Walk(ref reader, stack, limits);
        }
        finally
        {
            if (rented is not null) ArrayPool<long>.Shared.Return(rented);
        }
        if (!reader.End)
            throw new MessagePackSerializationException($"{reader.Remaining} bytes follow the value; expected exactly one value.");
    }

    private static void Walk(ref SequenceReader<byte> reader, scoped Span<long> stack, DecodingLimits limits)
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
            byte code = Read(ref reader);
            long children = -1;
            switch (code)
            {
                case <= 0x7f or >= 0xe0 or 0xc0 or 0xc2 or 0xc3: break; // fixint, negative fixint, nil, false, true
                case >= 0x80 and <= 0x8f: children = 2L * Count(ref reader, code & 0x0f, 2, limits); break;
                case >= 0x90 and <= 0x9f: children = Count(ref reader, code & 0x0f, 1, limits); break;
                case >= 0xa0 and <= 0xbf: Utf8(ref reader, code & 0x1f, limits); break;
                case 0xc4: Binary(ref reader, ReadLength(ref reader, 1), limits); break;
                case 0xc5: Binary(ref reader, ReadLength(ref reader, 2), limits); break;
                case 0xc6: Binary(ref reader, ReadLength(ref reader, 4), limits); break;
                case 0xc7: Extension(ref reader, ReadLength(ref reader, 1), limits); break;
                case 0xc8: Extension(ref reader, ReadLength(ref reader, 2), limits); break;
                case 0xc9: Extension(ref reader, ReadLength(ref reader, 4), limits); break;
                case 0xca: Skip(ref reader, 4); break;
                case 0xcb: Skip(ref reader, 8); break;
                case 0xcc or 0xd0: Skip(ref reader, 1); break;
                case 0xcd or 0xd1: Skip(ref reader, 2); break;
                case 0xce or 0xd2: Skip(ref reader, 4); break;
                case 0xcf or 0xd3: Skip(ref reader, 8); break;
                case 0xd4: Extension(ref reader, 1, limits); break;
                case 0xd5: Extension(ref reader, 2, limits); break;
                case 0xd6: Extension(ref reader, 4, limits); break;
                case 0xd7: Extension(ref reader, 8, limits); break;
                case 0xd8: Extension(ref reader, 16, limits); break;
                case 0xd9: Utf8(ref reader, ReadLength(ref reader, 1), limits); break;
                case 0xda: Utf8(ref reader, ReadLength(ref reader, 2), limits); break;
                case 0xdb: Utf8(ref reader, ReadLength(ref reader, 4), limits); break;
                case 0xdc: children = Count(ref reader, ReadLength(ref reader, 2), 1, limits); break;
                case 0xdd: children = Count(ref reader, ReadLength(ref reader, 4), 1, limits); break;
                case 0xde: children = 2L * Count(ref reader, ReadLength(ref reader, 2), 2, limits); break;
                case 0xdf: children = 2L * Count(ref reader, ReadLength(ref reader, 4), 2, limits); break;
                default: throw new MessagePackSerializationException($"Format byte 0x{code:x2} is reserved; this is not MessagePack.");
            }
            if (children < 0) continue;
            if (depth >= limits.MaxDepth)
                throw new MessagePackSerializationException($"Nesting exceeds the maximum depth of {limits.MaxDepth}.");
            stack[depth++] = pending;
            pending = children;
        }
    }

    private static byte Read(ref SequenceReader<byte> reader) => reader.TryRead(out byte b) ? b : throw Truncated();

    private static long ReadLength(ref SequenceReader<byte> reader, int size)
    {
        switch (size)
        {
            case 1: return Read(ref reader);
            case 2: return reader.TryReadBigEndian(out short s) ? (ushort)s : throw Truncated();
            default: return reader.TryReadBigEndian(out int i) ? (uint)i : throw Truncated();
        }
    }

    private static void Skip(ref SequenceReader<byte> reader, long count)
    {
        if (count > reader.Remaining) throw Truncated();
        reader.Advance(count);
    }

    private static long Count(ref SequenceReader<byte> reader, long count, int minBytesPerElement, DecodingLimits limits)
    {
        if (count > limits.MaxCollectionLength)
            throw new MessagePackSerializationException($"A collection of {count} elements exceeds the limit of {limits.MaxCollectionLength}.");
        // Every element takes at least one byte: a count larger than what remains is a lie, caught before anything is allocated.
        if (count * minBytesPerElement > reader.Remaining) throw Truncated();
        return count;
    }

    private static void Binary(ref SequenceReader<byte> reader, long length, DecodingLimits limits)
    {
        if (length > limits.MaxBinaryLength)
            throw new MessagePackSerializationException($"A binary of {length} bytes exceeds the limit of {limits.MaxBinaryLength} bytes.");
        Skip(ref reader, length);
    }

    private static void Extension(ref SequenceReader<byte> reader, long length, DecodingLimits limits)
    {
        if (length > limits.MaxBinaryLength)
            throw new MessagePackSerializationException($"An extension of {length} bytes exceeds the limit of {limits.MaxBinaryLength} bytes.");
        sbyte type = unchecked((sbyte)Read(ref reader));
        if (type == ReservedMessagePackExtensionTypeCode.DateTime && length is not (4 or 8 or 12))
            throw new MessagePackSerializationException($"A timestamp extension (type -1) is {length} bytes long; it must be 4, 8 or 12.");
        Skip(ref reader, length);
    }

    private static void Utf8(ref SequenceReader<byte> reader, long length, DecodingLimits limits)
    {
        if (length > limits.MaxStringLength)
            throw new MessagePackSerializationException($"A string of {length} bytes exceeds the limit of {limits.MaxStringLength} bytes.");
        if (length > reader.Remaining) throw Truncated();
        bool valid;
        if (reader.UnreadSpan.Length >= length)
        {
            valid = System.Text.Unicode.Utf8.IsValid(reader.UnreadSpan.Slice(0, (int)length));
        }
        else
        {
            // The string spans buffer segments: check a contiguous copy.
            byte[] copy = ArrayPool<byte>.Shared.Rent((int)length);
            try
            {
                reader.Sequence.Slice(reader.Position, length).CopyTo(copy);
                valid = System.Text.Unicode.Utf8.IsValid(copy.AsSpan(0, (int)length));
            }
            finally
            {
                ArrayPool<byte>.Shared.Return(copy);
            }
        }
        if (!valid) throw new MessagePackSerializationException("A string is not valid UTF-8.");
        reader.Advance(length);
    }

    private static MessagePackSerializationException Truncated() =>
        new("Unexpected end of MessagePack data (truncated input or a length larger than the data).");
}
