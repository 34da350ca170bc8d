namespace ClusterSharing.Harness;

/// <summary>What the coordinator runs (see <see cref="HarnessCommandLine"/>).</summary>
internal sealed record HarnessSettings
{
    public bool Quick { get; init; }
    public int Followers { get; init; } = 4;
    public int SequentialCalls { get; init; } = 20_000;
    public int Warmup { get; init; } = 2_000;
    public double ThroughputSeconds { get; init; } = 5;
    public int InFlight { get; init; } = 64;
    public int Publications { get; init; } = 1_000;
    public int PublishIntervalUs { get; init; } = 1000;
    public int Kills { get; init; } = 20;
    public int CrowdSize { get; init; } = 256;
    public bool Node { get; init; } = true;
    public string? Output { get; init; }
    public bool Verbose { get; init; }
    public IReadOnlySet<string> Parts { get; init; } = AllParts;

    /// <summary>Where the charts go; null draws none.</summary>
    public string? ChartsDirectory { get; init; }

    public static readonly IReadOnlySet<string> AllParts = new HashSet<string>(["cc", "mem", "raw", "node"], StringComparer.Ordinal);

    /// <summary>The shorter run of <c>--quick</c>: the same scenarios with fewer samples.</summary>
    public static readonly HarnessSettings QuickDefaults = new()
    {
        Quick = true, SequentialCalls = 2_000, Warmup = 500, ThroughputSeconds = 1, Publications = 300, Kills = 3, CrowdSize = 32,
    };

    public bool Runs(string part) => Parts.Contains(part);
}
