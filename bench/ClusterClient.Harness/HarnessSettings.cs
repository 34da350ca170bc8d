namespace ClusterSharing.Harness;

/// <summary>Command line of the coordinator.</summary>
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
    public HashSet<string> Parts { get; init; } = ["cc", "mem", "raw", "node"];

    public bool Runs(string part) => Parts.Contains(part);

    public static HarnessSettings Parse(string[] args)
    {
        var s = new HarnessSettings();
        for (int i = 0; i < args.Length; i++)
        {
            string Next() => i + 1 < args.Length ? args[++i] : throw new ArgumentException($"{args[i]} needs a value");
            s = args[i] switch
            {
                "--quick" => s with { Quick = true, SequentialCalls = 2_000, Warmup = 500, ThroughputSeconds = 1, Publications = 300, Kills = 3, CrowdSize = 32 },
                "--followers" => s with { Followers = int.Parse(Next()) },
                "--kills" => s with { Kills = int.Parse(Next()) },
                "--crowd" => s with { CrowdSize = int.Parse(Next()) },
                "--seconds" => s with { ThroughputSeconds = double.Parse(Next(), System.Globalization.CultureInfo.InvariantCulture) },
                "--calls" => s with { SequentialCalls = int.Parse(Next()) },
                "--no-node" => s with { Node = false },
                "--only" => s with { Parts = [.. Next().Split(',', StringSplitOptions.RemoveEmptyEntries)] },
                "--verbose" => s with { Verbose = true },
                "--out" => s with { Output = Next() },
                "--help" or "-h" => throw new ArgumentException(Usage),
                _ => throw new ArgumentException($"unknown option {args[i]}\n{Usage}"),
            };
        }
        if (s.Followers < 1 || s.Followers > 64) throw new ArgumentException("--followers must be 1..64");
        return s;
    }

    public const string Usage = "usage: ClusterClient.Harness [--quick] [--followers N] [--kills N] [--crowd N] [--seconds S] [--calls N] [--no-node] [--only cc,mem,raw,node] [--verbose] [--out file.md]";
}
