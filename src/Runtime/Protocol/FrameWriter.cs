using System.Buffers;
using System.Runtime.CompilerServices;
using ClusterSharing.Serialization;
using MessagePack;
using MessagePack.Formatters;

namespace ClusterSharing.Protocol;

/// <summary>Writes a frame body straight into the frame being built.</summary>
/// <typeparam name="TState">Whatever the callback needs.</typeparam>
public delegate void FrameBodyWriter<TState>(ref MessagePackWriter writer, in TState state);

/// <summary>
/// Writes complete frames (header, header object, body) into an <see cref="IBufferWriter{T}"/>. A frame is committed to
/// the output all at once at the end, so a body serializer that throws leaves the output untouched.
/// </summary>
/// <remarks>
/// The header object and body are serialized straight into a span borrowed from the output, behind a 24-byte slot
/// that is back-filled with the lengths once they are known. Only a frame that outgrows that span takes the slow
/// path: it continues in a pooled scratch buffer and is copied to the output once.
/// </remarks>
public static class FrameWriter
{
    /// <summary>Writes a frame whose body is already-encoded MessagePack (possibly empty).</summary>
    /// <returns>The frame's length in bytes.</returns>
    /// <exception cref="ProtocolException">The frame would exceed <paramref name="limits"/>; nothing was written.</exception>
    public static int WriteFrame<THeader>(IBufferWriter<byte> output, PacketType type, long requestId, in THeader header,
        ReadOnlySpan<byte> body, ProtocolLimits limits, int timeoutMilliseconds = 0, PacketFlags flags = PacketFlags.None)
        where THeader : struct, IPacketHeader<THeader>
        => WriteFrameCore(output, type, requestId, header, new RawFrameBody(body), limits, timeoutMilliseconds, flags);

    /// <summary>Writes a frame whose body is <paramref name="body"/> serialized by <paramref name="bodyFormatter"/> with <paramref name="options"/>.</summary>
    /// <returns>The frame's length in bytes.</returns>
    /// <exception cref="ProtocolException">The frame would exceed <paramref name="limits"/>; nothing was written.</exception>
    public static int WriteFrame<THeader, TBody>(IBufferWriter<byte> output, PacketType type, long requestId, in THeader header,
        in TBody body, IMessagePackFormatter<TBody> bodyFormatter, MessagePackSerializerOptions options, ProtocolLimits limits,
        int timeoutMilliseconds = 0, PacketFlags flags = PacketFlags.None)
        where THeader : struct, IPacketHeader<THeader>
        => WriteFrameCore(output, type, requestId, header, new FormattedFrameBody<TBody>(in body, bodyFormatter, options), limits, timeoutMilliseconds, flags);

    /// <summary>Writes a frame whose body is produced by <paramref name="bodyWriter"/> (nothing written means an empty body).</summary>
    /// <returns>The frame's length in bytes.</returns>
    /// <exception cref="ProtocolException">The frame would exceed <paramref name="limits"/>; nothing was written.</exception>
    public static int WriteFrame<THeader, TState>(IBufferWriter<byte> output, PacketType type, long requestId, in THeader header,
        in TState state, FrameBodyWriter<TState> bodyWriter, ProtocolLimits limits, int timeoutMilliseconds = 0,
        PacketFlags flags = PacketFlags.None)
        where THeader : struct, IPacketHeader<THeader>
        => WriteFrameCore(output, type, requestId, header, new CallbackFrameBody<TState>(in state, bodyWriter), limits, timeoutMilliseconds, flags);

    /// <summary>The one implementation behind every overload; <typeparamref name="TBody"/> is specialized, so nothing is boxed.</summary>
    internal static int WriteFrameCore<THeader, TBody>(IBufferWriter<byte> output, PacketType type, long requestId, in THeader header,
        scoped in TBody body, ProtocolLimits limits, int timeoutMilliseconds, PacketFlags flags)
        where THeader : struct, IPacketHeader<THeader>
        where TBody : IFrameBody, allows ref struct
    {
        ArgumentNullException.ThrowIfNull(output);
        ArgumentNullException.ThrowIfNull(limits);
        if (!PacketTypes.IsDefined(type)) throw new ArgumentOutOfRangeException(nameof(type), type, "Not a defined packet type.");
        if (!THeader.IsHeaderOf(type))
            throw new ArgumentException($"A {type} frame does not carry a {typeof(THeader).Name}.", nameof(type));
        if (timeoutMilliseconds < 0)
            throw new ArgumentOutOfRangeException(nameof(timeoutMilliseconds), timeoutMilliseconds, "The timeout must be 0 (none) or positive.");
        if ((flags & ~PacketTypes.KnownFlags) != 0)
            throw new ArgumentOutOfRangeException(nameof(flags), flags, "Unknown flag bits.");

        var builder = FrameBuilder.Rent();
        try
        {
            builder.Begin(output, limits, body.KnownLength);
            if (!builder.TryWriteHeaderObject(in header))
            {
                var headerWriter = new MessagePackWriter(builder);
                header.Write(ref headerWriter);
                headerWriter.Flush();
            }
            int headerLength = builder.EndHeaderObject();
            body.Write(builder);
            return builder.Complete(type, requestId, timeoutMilliseconds, flags, headerLength);
        }
        finally
        {
            FrameBuilder.Return(builder);
        }
    }
}

/// <summary>A frame body as <see cref="FrameWriter"/> consumes it.</summary>
internal interface IFrameBody
{
    /// <summary>The encoded length when known in advance, otherwise -1.</summary>
    int KnownLength { get; }

    /// <summary>Writes the body into <paramref name="output"/> (the frame being built).</summary>
    void Write(IBufferWriter<byte> output);
}

internal readonly ref struct RawFrameBody(ReadOnlySpan<byte> bytes) : IFrameBody
{
    private readonly ReadOnlySpan<byte> _bytes = bytes;

    public int KnownLength => _bytes.Length;

    public void Write(IBufferWriter<byte> output)
    {
        if (_bytes.IsEmpty) return;
        _bytes.CopyTo(output.GetSpan(_bytes.Length));
        output.Advance(_bytes.Length);
    }
}

internal readonly ref struct FormattedFrameBody<T> : IFrameBody
{
    private readonly ref readonly T _value;
    private readonly IMessagePackFormatter<T> _formatter;
    private readonly MessagePackSerializerOptions _options;

    public FormattedFrameBody(ref readonly T value, IMessagePackFormatter<T> formatter, MessagePackSerializerOptions options)
    {
        ArgumentNullException.ThrowIfNull(formatter);
        ArgumentNullException.ThrowIfNull(options);
        _value = ref value;
        _formatter = formatter;
        _options = options;
    }

    public int KnownLength => -1;

    public void Write(IBufferWriter<byte> output)
    {
        var writer = new MessagePackWriter(output);
        _formatter.Serialize(ref writer, _value, _options);
        writer.Flush();
    }
}

internal readonly ref struct CallbackFrameBody<TState> : IFrameBody
{
    private readonly ref readonly TState _state;
    private readonly FrameBodyWriter<TState> _writer;

    public CallbackFrameBody(ref readonly TState state, FrameBodyWriter<TState> writer)
    {
        ArgumentNullException.ThrowIfNull(writer);
        _state = ref state;
        _writer = writer;
    }

    public int KnownLength => -1;

    public void Write(IBufferWriter<byte> output)
    {
        var writer = new MessagePackWriter(output);
        _writer(ref writer, _state);
        writer.Flush();
    }
}

/// <summary>
/// The <see cref="IBufferWriter{T}"/> a frame's header object and body are serialized into. Nothing is advanced on the
/// real output until <see cref="Complete"/>, because an <see cref="IBufferWriter{T}"/> does not promise that memory
/// stays writable after <see cref="IBufferWriter{T}.Advance"/> (an <see cref="ArrayBufferWriter{T}"/> may reallocate).
/// </summary>
internal sealed class FrameBuilder : IBufferWriter<byte>
{
    // Big enough for the header slot plus the 256 bytes MessagePackWriter asks for, small enough that a Pipe rarely
    // has to start a new segment for it.
    private const int DefaultDirectSize = 512;
    private const int MaxDirectSize = 1024 * 1024;

    [ThreadStatic] private static FrameBuilder? t_cached;

    private IBufferWriter<byte>? _output;
    private ProtocolLimits _limits = ProtocolLimits.Default;
    private Memory<byte> _direct;
    private int _position;          // next free byte in _direct (starts after the header slot)
    private byte[]? _scratch;       // content (header object + body) once it outgrew _direct
    private int _scratchLength;

    public static FrameBuilder Rent()
    {
        var builder = t_cached ?? new FrameBuilder();
        t_cached = null; // a body formatter that writes a nested frame gets its own builder
        return builder;
    }

    public static void Return(FrameBuilder builder)
    {
        builder.Reset();
        t_cached = builder;
    }

    public void Begin(IBufferWriter<byte> output, ProtocolLimits limits, int knownBodyLength)
    {
        _output = output;
        _limits = limits;
        int size = knownBodyLength < 0 ? DefaultDirectSize
            : (int)Math.Min(MaxDirectSize, (long)DefaultDirectSize + knownBodyLength);
        _direct = output.GetMemory(size);
        if (_direct.Length < FrameHeader.Size) throw new InvalidOperationException("The buffer writer returned less memory than requested.");
        _position = FrameHeader.Size;
    }

    private int ContentLength => _scratch is null ? _position - FrameHeader.Size : _scratchLength;

    /// <summary>
    /// Writes the header objects of the invoke path (<see cref="CallHeader"/> without trace context, <see cref="ResultHeader"/>)
    /// straight into the span behind the frame header, as <see cref="IPacketHeader{TSelf}.Write"/> would write them;
    /// false for every other header, which then goes through a <see cref="MessagePackWriter"/>.
    /// </summary>
    public bool TryWriteHeaderObject<THeader>(in THeader header) where THeader : struct, IPacketHeader<THeader>
    {
        // Both tests are constants once THeader is known, so each instantiation keeps at most one branch.
        if (typeof(THeader) != typeof(CallHeader) && typeof(THeader) != typeof(ResultHeader)) return false;
        if (_scratch is not null || _direct.Length - _position < PacketHeaderSpans.MaxDirectLength) return false;
        var span = new WireSpanWriter(_direct.Span.Slice(_position));
        bool written = typeof(THeader) == typeof(CallHeader)
            ? PacketHeaderSpans.TryWrite(in Unsafe.As<THeader, CallHeader>(ref Unsafe.AsRef(in header)), ref span)
            : PacketHeaderSpans.TryWrite(in Unsafe.As<THeader, ResultHeader>(ref Unsafe.AsRef(in header)), ref span);
        _position += span.Written;
        return written;
    }

    public int EndHeaderObject()
    {
        int length = ContentLength;
        if (length > _limits.MaxHeaderSize)
            throw new ProtocolException(ProtocolErrorReason.HeaderObjectTooLarge,
                $"The header object is {length} bytes; MaxHeaderSize is {_limits.MaxHeaderSize}.");
        return length;
    }

    public int Complete(PacketType type, long requestId, int timeoutMilliseconds, PacketFlags flags, int headerLength)
    {
        int content = ContentLength;
        var header = new FrameHeader(type, requestId, timeoutMilliseconds, headerLength, content - headerLength, flags);
        int frameLength = FrameHeader.Size + content;
        if (_scratch is null)
        {
            header.Write(_direct.Span);
            _output!.Advance(frameLength);
            return frameLength;
        }
        var output = _output!;
        header.Write(output.GetSpan(FrameHeader.Size));
        output.Advance(FrameHeader.Size);
        var remaining = _scratch.AsSpan(0, _scratchLength);
        while (!remaining.IsEmpty)
        {
            var target = output.GetSpan(Math.Min(remaining.Length, 64 * 1024));
            int n = Math.Min(target.Length, remaining.Length);
            remaining.Slice(0, n).CopyTo(target);
            output.Advance(n);
            remaining = remaining.Slice(n);
        }
        return frameLength;
    }

    public void Advance(int count)
    {
        if (count < 0) throw new ArgumentOutOfRangeException(nameof(count));
        if (_scratch is null)
        {
            if (count > _direct.Length - _position) throw new InvalidOperationException("Advanced past the memory handed out.");
            _position += count;
        }
        else
        {
            if (count > _scratch.Length - _scratchLength) throw new InvalidOperationException("Advanced past the memory handed out.");
            _scratchLength += count;
        }
        if ((long)FrameHeader.Size + ContentLength > _limits.MaxFrameSize)
            throw new ProtocolException(ProtocolErrorReason.FrameTooLarge,
                $"The frame being written exceeds MaxFrameSize ({_limits.MaxFrameSize} bytes); the receiver would reject it. Send less per call or raise ClusterClientOptions.MaxFrameSize on every process.");
    }

    public Memory<byte> GetMemory(int sizeHint = 0)
    {
        sizeHint = Math.Max(sizeHint, 1);
        if (_scratch is null)
        {
            if (_direct.Length - _position >= sizeHint) return _direct.Slice(_position);
            MoveToScratch(sizeHint);
        }
        else if (_scratch.Length - _scratchLength < sizeHint)
        {
            GrowScratch(sizeHint);
        }
        return _scratch.AsMemory(_scratchLength);
    }

    public Span<byte> GetSpan(int sizeHint = 0) => GetMemory(sizeHint).Span;

    private void MoveToScratch(int sizeHint)
    {
        int content = _position - FrameHeader.Size;
        _scratch = ArrayPool<byte>.Shared.Rent(Math.Max(4096, checked(content + sizeHint)));
        _direct.Span.Slice(FrameHeader.Size, content).CopyTo(_scratch);
        _scratchLength = content;
    }

    private void GrowScratch(int sizeHint)
    {
        long wanted = Math.Max((long)_scratch!.Length * 2, (long)_scratchLength + sizeHint);
        if (wanted > Array.MaxLength)
        {
            if ((long)_scratchLength + sizeHint > Array.MaxLength)
                throw new ProtocolException(ProtocolErrorReason.FrameTooLarge, "The frame being written exceeds the largest possible buffer.");
            wanted = Array.MaxLength;
        }
        var bigger = ArrayPool<byte>.Shared.Rent((int)wanted);
        _scratch.AsSpan(0, _scratchLength).CopyTo(bigger);
        ArrayPool<byte>.Shared.Return(_scratch);
        _scratch = bigger;
    }

    private void Reset()
    {
        if (_scratch is not null) ArrayPool<byte>.Shared.Return(_scratch);
        _scratch = null;
        _scratchLength = 0;
        _direct = default;
        _position = 0;
        _output = null;
        _limits = ProtocolLimits.Default;
    }
}
