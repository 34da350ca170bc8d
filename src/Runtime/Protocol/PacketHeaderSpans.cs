using ClusterSharing.Serialization;

namespace ClusterSharing.Protocol;

/// <summary>
/// The header objects of every invoke and its result (<see cref="CallHeader"/>, <see cref="ResultHeader"/>) written into
/// and read from a span, byte for byte and value for value as their <see cref="IPacketHeader{TSelf}"/> members through
/// MessagePack-CSharp. Reading checks the header decoding limits itself; whatever it does not recognise (other lengths,
/// formats or values, a limit broken) is left to <see cref="Frame.ReadHeader{THeader}"/>'s validating path, which decides.
/// </summary>
internal static class PacketHeaderSpans
{
    /// <summary>The most bytes <see cref="TryWrite(in CallHeader, ref WireSpanWriter)"/> writes: [epoch, channelId, methodId].</summary>
    public const int MaxDirectLength = 1 + 9 + 5 + 5;

    /// <summary>Writes a call header without trace context; false (nothing written) when it carries one.</summary>
    public static bool TryWrite(in CallHeader header, ref WireSpanWriter span)
    {
        if (header.TraceParent is not null) return false;
        span.WriteArrayHeader(3);
        span.Write(header.Epoch);
        span.Write(header.ChannelId);
        span.Write(header.MethodId);
        return true;
    }

    /// <summary>Writes a result header.</summary>
    public static bool TryWrite(in ResultHeader header, ref WireSpanWriter span)
    {
        span.WriteArrayHeader(2);
        span.Write(header.Epoch);
        span.Write((byte)header.Status);
        return true;
    }

    /// <summary>Reads <c>[epoch, channelId, methodId]</c> or <c>[epoch, channelId, methodId, traceparent, tracestate]</c>.</summary>
    public static bool TryRead(ReadOnlySpan<byte> bytes, DecodingLimits limits, out CallHeader header)
    {
        header = default;
        var span = new WireSpanReader(bytes);
        if (!span.TryReadArrayHeader(out int count) || count > limits.MaxCollectionLength || count is not (3 or 5)
            || !span.TryRead(out long epoch) || !span.TryRead(out int channelId) || !span.TryRead(out uint methodId))
        {
            return false;
        }
        string? traceParent = null;
        string? traceState = null;
        if (count == 5)
        {
            if (!span.TryReadString(out traceParent, limits.MaxStringLength) || !span.TryReadString(out traceState, limits.MaxStringLength))
                return false;
            // HeaderFields.ReadTraceContext's rule: trace context is advisory, a malformed one counts as absent.
            if (traceParent is not { Length: 55 }) (traceParent, traceState) = (null, null);
            else if (traceState is not { Length: <= 512 }) traceState = null;
        }
        if (!span.End) return false;
        header = new CallHeader(epoch, channelId, methodId, traceParent, traceState);
        return true;
    }

    /// <summary>Reads <c>[epoch, status]</c>.</summary>
    public static bool TryRead(ReadOnlySpan<byte> bytes, DecodingLimits limits, out ResultHeader header)
    {
        header = default;
        var span = new WireSpanReader(bytes);
        if (!span.TryReadArrayHeader(2) || limits.MaxCollectionLength < 2 || !span.TryRead(out long epoch) || !span.TryRead(out byte status)
            || status > (byte)ResultStatus.Error || !span.End)
        {
            return false;
        }
        header = new ResultHeader(epoch, (ResultStatus)status);
        return true;
    }
}
