namespace ClusterSharing.Serialization;

/// <summary>
/// Limits a <see cref="MessagePackReader"/> enforces before it allocates, for data that comes from other processes.
/// </summary>
public sealed class MessagePackReaderOptions
{
    /// <summary>Limits for data from other processes: depth 32, 1,048,576 elements, 16 MiB strings and binaries.</summary>
    public static MessagePackReaderOptions UntrustedData { get; } = new();

    /// <summary>Maximum nesting of arrays, maps and objects (default 32). Must not be negative.</summary>
    public int MaxDepth { get; init => field = NotNegative(value, nameof(MaxDepth)); } = 32;

    /// <summary>Maximum element count of one array or map (default 1,048,576). Must not be negative.</summary>
    public int MaxCollectionLength { get; init => field = NotNegative(value, nameof(MaxCollectionLength)); } = 1 << 20;

    /// <summary>Maximum UTF-8 byte length of one string (default 16 MiB). Must not be negative.</summary>
    public int MaxStringLength { get; init => field = NotNegative(value, nameof(MaxStringLength)); } = 16 * 1024 * 1024;

    /// <summary>Maximum length of one bin or ext value (default 16 MiB). Must not be negative.</summary>
    public int MaxBinaryLength { get; init => field = NotNegative(value, nameof(MaxBinaryLength)); } = 16 * 1024 * 1024;

    private static int NotNegative(int value, string name) =>
        value >= 0 ? value : throw new ArgumentOutOfRangeException(name, value, $"{name} must be zero or more.");
}
