using System.Net;
using System.Net.Sockets;

namespace ClusterSharing.Hosting.Tests;

/// <summary>Two Generic Host apps (real processes) sharing one client through AddClusterClient.</summary>
public sealed class TwoProcessHostingTests
{
    [Fact]
    public async Task Hosted_apps_elect_serve_report_degraded_across_a_leader_kill_and_stop_cleanly()
    {
        int port = FreePort();
        string state = Directory.CreateTempSubdirectory("cc-hosting-").FullName;
        try
        {
            string[] common = [$"--ClusterClient:Port={port}", $"--ClusterClient:StateDirectory={state}", "--ClusterClient:HeartbeatInterval=00:00:00.500"];
            await using var first = HostedApp.Start("first", common);
            await first.WaitForLineAsync(l => l == "health Healthy", "health Healthy (it leads)");
            // The second builds its real client slowly, so its failover shows a Degraded window before Healthy.
            await using var second = HostedApp.Start("second", [.. common, "--FactoryDelayMs=2000"]);
            var (healthyAt, _) = await second.WaitForLineAsync(l => l == "health Healthy", "health Healthy (it follows)");

            Assert.Equal(first.Pid, await second.CallAsync());
            Assert.Equal(first.Pid, await first.CallAsync());

            first.Kill();
            var (degradedAt, _) = await second.WaitForLineAsync(l => l == "health Degraded", "health Degraded after the leader was killed", healthyAt + 1);
            await second.WaitForLineAsync(l => l == "health Healthy", "health Healthy again as the new leader", degradedAt + 1);
            Assert.Equal(second.Pid, await second.CallAsync());

            Assert.Equal(0, await second.StopAsync());
            Assert.Contains("stopped", second.Lines);
            Assert.DoesNotContain(second.Lines, l => l.StartsWith("call-error", StringComparison.Ordinal));

            // Nothing left behind: the port is free and the lease is released (renewal time zeroed), so a successor
            // need not wait for it to go stale.
            using (var listener = new TcpListener(IPAddress.Loopback, port)) listener.Start();
            Assert.Equal(0, ReadLeaseRenewalMs(Path.Combine(state, $"cc-{port}.lease")));
        }
        finally
        {
            Directory.Delete(state, recursive: true);
        }
    }

    /// <summary>The low 40 bits of the lease word (offset 8, native endian): the holder's last renewal, 0 once released.</summary>
    private static long ReadLeaseRenewalMs(string path)
    {
        using var file = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.ReadWrite);
        var word = new byte[8];
        file.Position = 8;
        file.ReadExactly(word);
        return BitConverter.ToInt64(word) & ((1L << 40) - 1);
    }

    private static int FreePort()
    {
        var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        int port = ((IPEndPoint)listener.LocalEndpoint).Port;
        listener.Stop();
        return port;
    }
}
