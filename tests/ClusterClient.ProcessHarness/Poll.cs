using System.Diagnostics;

namespace ClusterSharing.ProcessHarness;

/// <summary>Waiting on state that child processes update in the background.</summary>
public static class Poll
{
    /// <summary>Checks <paramref name="condition"/> every 5 ms until it holds (true) or <paramref name="timeout"/> passes (false).</summary>
    public static async Task<bool> UntilAsync(Func<bool> condition, TimeSpan timeout, CancellationToken cancellationToken = default)
    {
        var watch = Stopwatch.StartNew();
        while (!condition())
        {
            if (watch.Elapsed > timeout) return false;
            await Task.Delay(5, cancellationToken).ConfigureAwait(false);
        }
        return true;
    }
}
