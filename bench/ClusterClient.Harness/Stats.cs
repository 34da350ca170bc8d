namespace ClusterSharing.Harness;

internal static class Stats
{
    /// <summary>Nearest-rank percentile of <paramref name="sorted"/> (ascending).</summary>
    public static double Percentile(IReadOnlyList<double> sorted, double p)
    {
        if (sorted.Count == 0) return double.NaN;
        int rank = (int)Math.Ceiling(p / 100.0 * sorted.Count);
        return sorted[Math.Clamp(rank - 1, 0, sorted.Count - 1)];
    }

    public static List<double> Sorted(IEnumerable<double> values)
    {
        var list = values.ToList();
        list.Sort();
        return list;
    }

    /// <summary>Reads one latency in ns a line and returns microseconds.</summary>
    public static IEnumerable<double> ReadMicroseconds(string path) =>
        File.ReadLines(path).Where(l => l.Length > 0).Select(l => long.Parse(l) / 1000.0);
}
