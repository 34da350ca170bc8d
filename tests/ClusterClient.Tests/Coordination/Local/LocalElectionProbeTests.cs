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

/// <summary>A survivor that finds a new holder starting polls closely for its endpoint.</summary>
public sealed class LocalElectionStartingLeaderTests
{
    [Fact]
    public async Task A_lease_taken_but_not_yet_published_is_polled_again_within_a_millisecond_or_two()
    {
        string directory = Directory.CreateTempSubdirectory("cc-lease-").FullName;
        try
        {
            var options = new ClusterClientOptions { Port = 4244, SingleMode = false, StateDirectory = directory };
            var monitor = new ClusterSharing.Liveness.LivenessMonitor("test monitor");
            await using var election = new LocalElection(options, monitor, Microsoft.Extensions.Logging.Abstractions.NullLogger.Instance);
            // Another process took the lease and is binding its listener: not published yet.
            Assert.True(election.Lease!.TryAcquire(election.Lease.Read().Word, out _));
            var step = await election.NextAsync(mayLead: true, CancellationToken.None);
            var wait = Assert.IsType<ClusterSharing.Coordination.WaitStep>(step);
            Assert.Contains("is starting", wait.Status);
            Assert.True(wait.Delay <= TimeSpan.FromMilliseconds(2), $"polled again after {wait.Delay.TotalMilliseconds} ms");
        }
        finally
        {
            Directory.Delete(directory, recursive: true);
        }
    }
}
