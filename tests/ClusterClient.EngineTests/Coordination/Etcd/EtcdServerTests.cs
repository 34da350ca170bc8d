namespace ClusterSharing.EngineTests.Coordination.Etcd;

public sealed class EtcdServerTests
{
    [Fact]
    public async Task Etcd_starts_on_loopback_stops_by_pid_and_restarts_on_the_same_port()
    {
        await using var etcd = await EtcdServer.StartAsync();
        using var http = new HttpClient { Timeout = TimeSpan.FromSeconds(5) };
        Assert.Contains("\"health\":\"true\"", await http.GetStringAsync($"{etcd.ClientUrl}/health"));
        int pid = Assert.NotNull(etcd.ProcessId);

        await etcd.StopAsync();
        Assert.Null(etcd.ProcessId);
        Assert.Throws<ArgumentException>(() => System.Diagnostics.Process.GetProcessById(pid));
        await Assert.ThrowsAnyAsync<HttpRequestException>(() => http.GetStringAsync($"{etcd.ClientUrl}/health"));

        await etcd.RestartAsync();
        Assert.Contains("\"health\":\"true\"", await http.GetStringAsync($"{etcd.ClientUrl}/health"));
    }
}
