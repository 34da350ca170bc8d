using System.Diagnostics;
using ClusterSharing.Coordination.Local;

namespace ClusterSharing.Tests.Coordination.Local;

/// <summary>How the machine election tells a killed leader from a stopped one quickly.</summary>
public sealed class LocalElectionProbeTests
{
    [Fact]
    public void A_suspect_is_probed_at_once_then_after_short_gaps_growing_to_100_ms()
    {
        double[] gaps = [.. Enumerable.Range(0, 8).Select(p => LocalElection.ProbeGap(p).TotalMilliseconds)];
        Assert.Equal([0, 5, 10, 20, 40, 80, 100, 100], gaps);
        Assert.Equal(100, LocalElection.ProbeGap(int.MaxValue).TotalMilliseconds);
    }

    [Fact]
    public void A_zombie_process_counts_as_gone_and_a_running_one_as_alive()
    {
        if (!OperatingSystem.IsLinux()) return;
        // The shell starts a child that exits after 0.3 s, and has by then become 'sleep', which never reaps it: a zombie for 20 s.
        using var parent = Process.Start(new ProcessStartInfo("/bin/sh", ["-c", "sleep 0.3 & echo $!; exec sleep 20"]) { RedirectStandardOutput = true })!;
        try
        {
            int zombie = int.Parse(parent.StandardOutput.ReadLine()!, System.Globalization.CultureInfo.InvariantCulture);
            var deadline = Stopwatch.StartNew();
            while (!File.ReadAllText($"/proc/{zombie}/stat").Contains(") Z ", StringComparison.Ordinal) && deadline.Elapsed < TimeSpan.FromSeconds(10))
                Thread.Sleep(10);
            Assert.True(Directory.Exists($"/proc/{zombie}"), "the zombie must still have its /proc entry for this test to mean anything");
            Assert.False(LocalElection.IsProcessAlive(zombie));
            Assert.True(LocalElection.IsProcessAlive(parent.Id));
            Assert.True(LocalElection.IsProcessAlive(Environment.ProcessId));
        }
        finally
        {
            parent.Kill();
            parent.WaitForExit(10_000);
        }
    }
}
