namespace ClusterSharing.Node.Membership.Keys;

/// <summary>A member as the key assignment sees it: its id and its weight (at least 1).</summary>
internal readonly record struct KeyCandidate(string Id, ulong IdHash, double Weight)
{
    /// <summary>A candidate from a member id and its membership weight (weights below 1 count as 1).</summary>
    public static KeyCandidate Of(string id, int weight) => new(id, RendezvousHashing.Hash(id), Math.Max(1, weight));
}

/// <summary>
/// Weighted rendezvous (highest random weight) hashing: a key goes to the candidate with the highest
/// <c>-weight / ln(u)</c>, where <c>u</c> in (0, 1) is a hash of (key, member id). Deterministic on every process
/// (FNV-1a over the UTF-16 code units, then a SplitMix64 finalizer; no per-process seed), so every leader computes
/// the same assignment; adding or removing one of N members moves about K/N of K keys, and a member with weight w
/// gets about w / (sum of weights) of them.
/// </summary>
internal static class RendezvousHashing
{
    /// <summary>The winner for <paramref name="key"/> among <paramref name="candidates"/> (ties: the smaller id), or null when there are none.</summary>
    public static string? Owner(string key, ReadOnlySpan<KeyCandidate> candidates)
    {
        if (candidates.Length == 0) return null;
        ulong keyHash = Hash(key);
        string? best = null;
        double bestScore = double.NegativeInfinity;
        foreach (var candidate in candidates)
        {
            double score = Score(keyHash, candidate);
            if (score > bestScore || (score == bestScore && string.CompareOrdinal(candidate.Id, best) < 0))
            {
                best = candidate.Id;
                bestScore = score;
            }
        }
        return best;
    }

    /// <summary>The score of one candidate for a key hash: <c>-weight / ln(u)</c>.</summary>
    public static double Score(ulong keyHash, in KeyCandidate candidate)
    {
        ulong h = Mix(keyHash ^ Mix(candidate.IdHash + 0x9E3779B97F4A7C15UL));
        // 53 random bits, shifted off 0 and 1: u in (0, 1), so ln(u) < 0 and the score is positive and finite.
        double u = ((h >> 11) + 0.5) / (1UL << 53);
        return -candidate.Weight / Math.Log(u);
    }

    /// <summary>A stable 64-bit hash of a string (the same on every process and machine).</summary>
    public static ulong Hash(string text)
    {
        ulong h = 14695981039346656037UL;
        foreach (char c in text)
        {
            h ^= c;
            h *= 1099511628211UL;
        }
        return Mix(h);
    }

    private static ulong Mix(ulong z)
    {
        z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9UL;
        z = (z ^ (z >> 27)) * 0x94D049BB133111EBUL;
        return z ^ (z >> 31);
    }
}
