namespace ClusterSharing.Serialization;

/// <summary>
/// Limits a <see cref="MessagePackReader"/> enforces before it allocates, for data that comes from other processes.
/// </summary>
public sealed class MessagePackReaderOptions
{
    /// <summary>Limits for data from other processes: depth 32, 1,048,576 elements, 16 MiB strings and binaries.</summary>
    public static MessagePackReaderOptions UntrustedData { get; } = new();

    /// <summary>Maximum nesting of arrays, maps and objects.</summary>
    public int MaxDepth { get; init; } = 32;

    /// <summary>Maximum element count of one array or map.</summary>
    public int MaxCollectionLength { get; init; } = 1 << 20;

    /// <summary>Maximum UTF-8 byte length of one string.</summary>
    public int MaxStringLength { get; init; } = 16 * 1024 * 1024;

    /// <summary>Maximum length of one bin or ext value.</summary>
    public int MaxBinaryLength { get; init; } = 16 * 1024 * 1024;
}
