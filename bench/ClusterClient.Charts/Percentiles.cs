namespace ClusterSharing.Charts;

/// <summary>Nearest-rank percentiles, the way every table in docs/ reports them.</summary>
public static class Percentiles
{
    /// <summary>The <paramref name="p"/>-th percentile of <paramref name="sorted"/> (ascending); NaN when it is empty.</summary>
    public static double NearestRank(IReadOnlyList<double> sorted, double p)
    {
        if (sorted.Count == 0) return double.NaN;
        int rank = (int)Math.Ceiling(p / 100.0 * sorted.Count);
        return sorted[Math.Clamp(rank - 1, 0, sorted.Count - 1)];
    }

    /// <summary>The values in ascending order, as a new list.</summary>
    public static List<double> Sorted(IEnumerable<double> values)
    {
        var list = values.ToList();
        list.Sort();
        return list;
    }
}
