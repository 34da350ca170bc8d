using System.Buffers;
using ClusterSharing.Serialization;
using MessagePack;

namespace ClusterSharing.Leader;

/// <summary>
/// One encoding per registration: MessagePack allows several encodings of one value (an integer or a string length
/// in a wider format than needed, a timestamp in a longer form), and the leader keys real subscriptions on the bytes.
/// Re-encoding every value in its smallest format makes equal registrations equal bytes, so a follower cannot
/// multiply one topic into many real subscriptions by re-encoding it.
/// </summary>
internal static class CanonicalRegistration
{
    /// <summary>The canonical bytes of <paramref name="registration"/> (a sequence of MessagePack values).</summary>
    /// <exception cref="MessagePackSerializationException">The bytes are not valid MessagePack within the untrusted-data limits.</exception>
    public static byte[] Of(ReadOnlyMemory<byte> registration)
    {
        var reader = WireSerializer.CreateReader(new ReadOnlySequence<byte>(registration), DecodingLimits.UntrustedData);
        var buffer = new ArrayBufferWriter<byte>(Math.Max(16, registration.Length));
        var writer = new MessagePackWriter(buffer);
        while (!reader.End) Copy(ref reader, ref writer);
        writer.Flush();
        return buffer.WrittenSpan.ToArray();
    }

    private static void Copy(ref MessagePackReader reader, ref MessagePackWriter writer)
    {
        switch (reader.NextMessagePackType)
        {
            case MessagePackType.Nil:
                reader.ReadNil();
                writer.WriteNil();
                break;
            case MessagePackType.Boolean:
                writer.Write(reader.ReadBoolean());
                break;
            case MessagePackType.Integer:
                // Only uint64 above long.MaxValue needs the unsigned read; every other integer fits a long.
                if (reader.NextCode == MessagePackCode.UInt64) writer.Write(reader.ReadUInt64());
                else writer.Write(reader.ReadInt64());
                break;
            case MessagePackType.Float:
                if (reader.NextCode == MessagePackCode.Float32) writer.Write(reader.ReadSingle());
                else writer.Write(reader.ReadDouble());
                break;
            case MessagePackType.String:
                var text = reader.ReadStringSequence()!.Value;
                writer.WriteStringHeader(checked((int)text.Length));
                writer.WriteRaw(text);
                break;
            case MessagePackType.Binary:
                var bytes = reader.ReadBytes()!.Value;
                writer.WriteBinHeader(checked((int)bytes.Length));
                writer.WriteRaw(bytes);
                break;
            case MessagePackType.Array:
                int items = reader.ReadArrayHeader();
                writer.WriteArrayHeader(items);
                reader.Depth++;
                for (int i = 0; i < items; i++) Copy(ref reader, ref writer);
                reader.Depth--;
                break;
            case MessagePackType.Map:
                int entries = reader.ReadMapHeader();
                writer.WriteMapHeader(entries);
                reader.Depth++;
                for (int i = 0; i < 2 * entries; i++) Copy(ref reader, ref writer);
                reader.Depth--;
                break;
            case MessagePackType.Extension:
                CopyExtension(ref reader, ref writer);
                break;
            default:
                throw new MessagePackSerializationException($"A registration holds the unknown MessagePack code 0x{reader.NextCode:x2}.");
        }
    }

    private static void CopyExtension(ref MessagePackReader reader, ref MessagePackWriter writer)
    {
        var peek = reader.CreatePeekReader();
        if (peek.ReadExtensionFormatHeader().TypeCode == ReservedMessagePackExtensionTypeCode.DateTime)
        {
            writer.Write(reader.ReadDateTime());
            return;
        }
        var header = reader.ReadExtensionFormatHeader();
        writer.WriteExtensionFormatHeader(header);
        writer.WriteRaw(reader.ReadRaw(header.Length));
    }
}
