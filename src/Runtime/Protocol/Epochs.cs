namespace ClusterSharing.Protocol;

/// <summary>
/// Range checks for epochs read from the wire. An epoch is a term counter: it starts at 0 and grows by one per
/// election, so any value outside [0, <see cref="Max"/>] is forged or corrupt, and refusing it keeps every later
/// <c>epoch + 1</c> far from overflow.
/// </summary>
internal static class Epochs
{
    /// <summary>The largest epoch accepted from a peer (2^48, more terms than any cluster can hold).</summary>
    public const long Max = 1L << 48;

    /// <summary>Returns <paramref name="epoch"/> when it is in range.</summary>
    /// <exception cref="ProtocolException">It is negative or above <see cref="Max"/>.</exception>
    public static long Check(long epoch, string source)
    {
        if (epoch is < 0 or > Max)
            throw new ProtocolException(ProtocolErrorReason.InvalidField, $"The epoch {epoch} in {source} is outside 0..{Max}; the peer is forged or corrupt.");
        return epoch;
    }

    /// <summary>The epoch after <paramref name="epoch"/>, checked.</summary>
    public static long Next(long epoch) => checked(Check(epoch, "an epoch") + 1);
}
