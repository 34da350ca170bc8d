using ClusterSharing.Serialization;

namespace ClusterSharing.Protocol;

/// <summary>
/// Limits checked on every received frame before anything is allocated for it. The defaults suit data from other
/// processes on the same machine; both sides of a connection should use the same values.
/// </summary>
public sealed class ProtocolLimits
{
    /// <summary>16 MiB frames, 64 KiB header objects, <see cref="DecodingLimits.UntrustedData"/> for bodies.</summary>
    public static ProtocolLimits Default { get; } = new();

    /// <summary>Largest accepted frame, 24-byte header included. Default 16 MiB.</summary>
    public int MaxFrameSize { get; init; } = 16 * 1024 * 1024;

    /// <summary>Largest accepted header object. Default 64 KiB.</summary>
    public int MaxHeaderSize { get; init; } = 64 * 1024;

    /// <summary>Limits for decoding header objects: they are small fixed arrays, so the limits are tight.</summary>
    public DecodingLimits HeaderDecodingLimits { get; init; } = new()
    {
        MaxDepth = 4,
        MaxCollectionLength = 64,
        MaxStringLength = 16 * 1024,
        MaxBinaryLength = 1024,
    };

    /// <summary>Limits for decoding bodies (arguments, results, values).</summary>
    public DecodingLimits BodyDecodingLimits { get; init; } = DecodingLimits.UntrustedData;

    /// <summary>Throws <see cref="ArgumentOutOfRangeException"/> when the limits cannot work together.</summary>
    public void Validate()
    {
        if (MaxHeaderSize < 1)
            throw new ArgumentOutOfRangeException(nameof(MaxHeaderSize), MaxHeaderSize, "MaxHeaderSize must be at least 1 byte.");
        if (MaxFrameSize < FrameHeader.Size + MaxHeaderSize)
            throw new ArgumentOutOfRangeException(nameof(MaxFrameSize), MaxFrameSize,
                $"MaxFrameSize must be at least the 24-byte frame header plus MaxHeaderSize ({MaxHeaderSize}).");
        ArgumentNullException.ThrowIfNull(HeaderDecodingLimits);
        ArgumentNullException.ThrowIfNull(BodyDecodingLimits);
    }
}
