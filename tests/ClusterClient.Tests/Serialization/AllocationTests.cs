using System.Buffers;
using ClusterSharing.Serialization;
using ClusterSharing.Serialization.Formatters;

namespace ClusterSharing.Tests.Serialization;

/// <summary>Hot-path primitives allocate nothing once warm.</summary>
public class AllocationTests
{
    private static readonly byte[] Name = "short name"u8.ToArray();

    private static void WriteAndRead(ArrayBufferWriter<byte> buffer, int i)
    {
        buffer.ResetWrittenCount();
        var writer = new MessagePackWriter(buffer);
        writer.WriteArrayHeader(6);
        writer.Write(i);
        writer.Write((long)i << 33);
        writer.Write(i * 0.5);
        writer.Write((i & 1) == 0);
        writer.Write("short name");
        Int32Formatter.Instance.Serialize(ref writer, -i);
        writer.Flush();

        var reader = new MessagePackReader(buffer.WrittenMemory);
        if (reader.ReadArrayHeader() != 6) throw new InvalidOperationException("header");
        if (reader.ReadInt32() != i) throw new InvalidOperationException("int");
        if (reader.ReadInt64() != (long)i << 33) throw new InvalidOperationException("long");
        if (reader.ReadDouble() != i * 0.5) throw new InvalidOperationException("double");
        if (reader.ReadBoolean() != ((i & 1) == 0)) throw new InvalidOperationException("bool");
        // Reading a string as string allocates the string itself; the bytes can be compared without allocating.
        if (reader.ReadStringSequence() is not { } name || !name.FirstSpan.SequenceEqual(Name)) throw new InvalidOperationException("string");
        if (Int32Formatter.Instance.Deserialize(ref reader) != -i) throw new InvalidOperationException("formatter");
        if (!reader.End) throw new InvalidOperationException("end");
    }

    [Fact]
    public void Writing_and_reading_primitives_allocates_nothing()
    {
        var buffer = new ArrayBufferWriter<byte>(256);
        for (int i = 0; i < 100; i++) WriteAndRead(buffer, i);
        long before = GC.GetAllocatedBytesForCurrentThread();
        for (int i = 0; i < 1000; i++) WriteAndRead(buffer, i);
        long allocated = GC.GetAllocatedBytesForCurrentThread() - before;
        Assert.Equal(0, allocated);
    }

    [Fact]
    public void Skipping_nested_data_allocates_nothing()
    {
        var buffer = new ArrayBufferWriter<byte>();
        var writer = new MessagePackWriter(buffer);
        writer.WriteArrayHeader(3);
        writer.WriteMapHeader(1); writer.Write("k"); writer.WriteArrayHeader(2); writer.Write(1.5); writer.Write(new byte[] { 1, 2 });
        writer.Write(DateTime.UnixEpoch);
        writer.WriteArrayHeader(0);
        writer.Flush();
        var memory = buffer.WrittenMemory;
        for (int i = 0; i < 10; i++) { var r = new MessagePackReader(memory); r.Skip(); }
        long before = GC.GetAllocatedBytesForCurrentThread();
        for (int i = 0; i < 1000; i++) { var r = new MessagePackReader(memory); r.Skip(); }
        Assert.Equal(0, GC.GetAllocatedBytesForCurrentThread() - before);
    }
}
