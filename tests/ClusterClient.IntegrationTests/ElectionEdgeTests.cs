using System.Globalization;
using System.Net;
using System.Net.Sockets;

namespace ClusterSharing.IntegrationTests;

/// <summary>Roles, foreign processes on the port, closing, failing factories and single mode.</summary>
public sealed class ElectionEdgeTests
{
    private static string S(int value) => value.ToString(CultureInfo.InvariantCulture);

    [Fact]
    public async Task A_follower_without_a_leader_fails_after_MaxWaitTime_and_never_takes_the_port()
    {
        int port = HostProcess.FreePort();
        await using var host = HostProcess.Start("follower", "--port", S(port), "--role", "follower", "--max-wait-ms", "1500");
        var failed = await HostCluster.WaitReadyFailedAsync(host);
        Assert.True(failed.GetProperty("clusterError").GetBoolean(), failed.GetRawText());
        Assert.Contains(S(port), Replies.Text(failed, "message"));

        Assert.False(Replies.Value(await host.RequestAsync("status")).GetProperty("leader").GetBoolean());
        // The follower never bound the port: we can.
        var listener = new TcpListener(IPAddress.Loopback, port);
        listener.Start();
        listener.Stop();
    }

    [Fact]
    public async Task A_leader_only_worker_fails_after_MaxWaitTime_when_the_port_is_held()
    {
        await using var cluster = new HostCluster("--max-wait-ms", "1500");
        var (leader, _) = await cluster.StartReadyAsync(1);
        var second = cluster.Start("--role", "leader");
        var failed = await HostCluster.WaitReadyFailedAsync(second);
        Assert.True(failed.GetProperty("clusterError").GetBoolean(), failed.GetRawText());
        Assert.Contains(S(cluster.Port), Replies.Text(failed, "message"));
        // The first leader is untouched.
        Assert.Equal(leader.Pid, Replies.Value(await leader.RequestAsync("pid")).GetInt32());
    }

    [Theory]
    [InlineData("silent")]
    [InlineData("garbage")]
    [InlineData("hangup")]
    public async Task A_foreign_process_on_the_port_gives_a_clear_error_naming_the_port(string behaviour)
    {
        await using var foreign = new ForeignListener(behaviour);
        await using var host = HostProcess.Start("worker", "--port", S(foreign.Port), "--max-wait-ms", "2000",
            "--connect-timeout-ms", "1000", "--heartbeat-ms", "300", "--response-timeout-ms", "3000");
        var failed = await HostCluster.WaitReadyFailedAsync(host);
        Assert.True(failed.GetProperty("clusterError").GetBoolean(), failed.GetRawText());
        Assert.Contains(S(foreign.Port), Replies.Text(failed, "message"));
        Assert.Empty(host.Events("factory"));
        // Calls fail typed instead of hanging.
        var reply = await host.RequestAsync("pid");
        Assert.False(reply.GetProperty("ok").GetBoolean(), reply.GetRawText());
        Assert.True(reply.GetProperty("clusterError").GetBoolean(), reply.GetRawText());
    }

    [Fact]
    public async Task Closing_a_handle_twice_is_fine_and_the_last_leader_handle_disposes_the_real_client()
    {
        await using var cluster = new HostCluster("--max-wait-ms", "20000", "--response-timeout-ms", "20000");
        var (leader, followers) = await cluster.StartReadyAsync(3);

        Replies.Value(await followers[0].RequestAsync("close"));
        Replies.Value(await followers[0].RequestAsync("close"));
        Assert.Equal(leader.Pid, Replies.Value(await followers[1].RequestAsync("pid")).GetInt32());
        Assert.Empty(leader.Events("real-client-disposed"));

        Replies.Value(await leader.RequestAsync("close"));
        Replies.Value(await leader.RequestAsync("close"));
        await leader.WaitForEventAsync("real-client-disposed");

        // The remaining follower moves on to a new leader: itself, the only open handle left.
        Assert.Equal(followers[1].Pid, Replies.Value(await followers[1].RequestAsync("pid")).GetInt32());
        Assert.Single(leader.Events("real-client-disposed"));
    }

    [Fact]
    public async Task A_failing_factory_reaches_every_followers_ReadyAsync_and_the_error_is_not_sticky()
    {
        const string message = "upstream refused the login (code 42)";
        string failFile = Path.Combine(Path.GetTempPath(), $"cc-factory-fail-{Guid.NewGuid():N}");
        await File.WriteAllTextAsync(failFile, "fail");
        try
        {
            await using var cluster = new HostCluster("--max-wait-ms", "5000", "--response-timeout-ms", "20000",
                "--factory-fail-file", failFile, "--factory-error", message);
            var hosts = Enumerable.Range(0, 3).Select(_ => cluster.Start()).ToArray();
            await Task.WhenAll(hosts.Select(HostCluster.WaitReadyFailedAsync));

            var leaders = new List<HostProcess>();
            foreach (var h in hosts)
                if (Replies.Value(await h.RequestAsync("status")).GetProperty("leader").GetBoolean()) leaders.Add(h);
            var leader = Assert.Single(leaders);
            Assert.NotEmpty(leader.Events("factory"));
            foreach (var follower in hosts.Where(h => h != leader))
            {
                var failed = Assert.Single(follower.Events("ready-failed"));
                Assert.True(failed.GetProperty("clusterError").GetBoolean(), failed.GetRawText());
                Assert.Contains(message, Replies.Text(failed, "message") + " " + Replies.Text(failed, "remoteMessage"));
                Assert.Empty(follower.Events("factory"));
            }

            File.Delete(failFile);
            foreach (var h in hosts)
            {
                // The leader retries the factory with backoff; a later ReadyAsync succeeds once it does.
                bool ready = false;
                for (int attempt = 0; attempt < 30 && !ready; attempt++)
                {
                    ready = (await h.RequestAsync("ready 20000")).GetProperty("ok").GetBoolean();
                    if (!ready) await Task.Delay(500);
                }
                Assert.True(ready, $"{h.Label} never became ready after the factory recovered.\n{cluster.DescribeAll()}");
                Assert.Equal(leader.Pid, Replies.Value(await h.RequestAsync("pid")).GetInt32());
            }
        }
        finally
        {
            File.Delete(failFile);
        }
    }

    [Fact]
    public async Task Single_mode_shares_the_real_client_in_process_without_a_port()
    {
        await using var host = HostProcess.Start("single", "--single");
        var ready = await HostCluster.WaitReadyAsync(host);
        Assert.True(ready.GetProperty("leader").GetBoolean());
        Assert.Equal(host.Pid, Replies.Value(await host.RequestAsync("pid")).GetInt32());
        Assert.Equal(5, Replies.Value(await host.RequestAsync("add 2 3")).GetInt32());
        Replies.Value(await host.RequestAsync("close"));
        await host.WaitForEventAsync("real-client-disposed");
        Replies.Value(await host.RequestAsync("close"));
    }
}
