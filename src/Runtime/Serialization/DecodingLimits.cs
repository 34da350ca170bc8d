namespace ClusterSharing.Serialization;

/// <summary>
/// Limits every received MessagePack value is checked against, in one pass over its bytes, before any formatter reads it
/// (and so before anything is allocated for it). They add to <c>MessagePackSecurity.UntrustedData</c>, which the
/// formatters run with.
/// </summary>
public sealed class DecodingLimits
{
    /// <summary>Limits for data from other processes: depth 32, 1,048,576 elements, 16 MiB strings and binaries.</summary>
    public static DecodingLimits UntrustedData { get; } = new();

    /// <summary>Maximum nesting of arrays and maps (default 32). Must be at least 1.</summary>
    public int MaxDepth { get; init => field = value >= 1 ? value : throw new ArgumentOutOfRangeException(nameof(MaxDepth), value, "MaxDepth must be at least 1."); } = 32;

    /// <summary>Maximum element count of one array or pair count of one map (default 1,048,576). Must not be negative.</summary>
    public int MaxCollectionLength { get; init => field = NotNegative(value, nameof(MaxCollectionLength)); } = 1 << 20;

    /// <summary>Maximum UTF-8 byte length of one string (default 16 MiB). Must not be negative.</summary>
    public int MaxStringLength { get; init => field = NotNegative(value, nameof(MaxStringLength)); } = 16 * 1024 * 1024;

    /// <summary>Maximum length of one bin or ext value (default 16 MiB). Must not be negative.</summary>
    public int MaxBinaryLength { get; init => field = NotNegative(value, nameof(MaxBinaryLength)); } = 16 * 1024 * 1024;

    private static int NotNegative(int value, string name) =>
        value >= 0 ? value : throw new ArgumentOutOfRangeException(name, value, $"{name} must be zero or more.");
}
