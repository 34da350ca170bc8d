namespace ClusterSharing.IntegrationTests;

/// <summary>Shared-secret authentication between real processes.</summary>
public sealed class AuthTests
{
    private const string Secret = "correct horse battery staple 42";

    [Fact]
    public async Task Processes_with_the_same_secret_share_one_leader_and_others_are_rejected_with_a_clear_error()
    {
        await using var cluster = new HostCluster("--max-wait-ms", "20000", "--response-timeout-ms", "20000", "--log");
        var (leader, followers) = await cluster.StartReadyAsync(2, "--secret", Secret);
        Assert.Equal(leader.Pid, Replies.Value(await followers[0].RequestAsync("pid")).GetInt32());

        // 8 s, not less: on a loaded 2-core machine a refused process's handshakes may all be slower than a short wait,
        // and then its ReadyAsync reports the wait, not the refusal (seen at load ~45).
        var wrong = cluster.Start("--secret", "another secret, also long enough", "--max-wait-ms", "8000", "--role", "follower");
        var none = cluster.Start("--open", "--max-wait-ms", "8000", "--role", "follower");
        foreach (var (host, expected) in new[] { (wrong, "different secrets"), (none, "requires a shared secret") })
        {
            var failed = await HostCluster.WaitReadyFailedAsync(host);
            string message = Replies.Text(failed, "message");
            Assert.True(Replies.Text(failed, "error") == "ClusterClientException", failed.GetRawText());
            Assert.Contains("authentication failed", message);
            Assert.Contains(expected, message);
            Assert.DoesNotContain(Secret, message);
        }
        // The leader logged why; it kept serving the genuine follower throughout.
        await TestWait.UntilAsync(() => leader.Describe().Contains("failed authentication", StringComparison.Ordinal), "the leader to log the rejection");
        Assert.Equal(leader.Pid, Replies.Value(await followers[0].RequestAsync("pid")).GetInt32());
        Assert.DoesNotContain(Secret, leader.Describe());
    }

    [Fact]
    public async Task A_follower_with_a_secret_refuses_a_leader_without_one()
    {
        await using var cluster = new HostCluster("--max-wait-ms", "3000", "--response-timeout-ms", "20000");
        var leader = cluster.Start("--open");
        await HostCluster.WaitReadyAsync(leader);
        var follower = cluster.Start("--secret", Secret, "--role", "follower");
        var failed = await HostCluster.WaitReadyFailedAsync(follower);
        Assert.Contains("authentication failed", Replies.Text(failed, "message"));
        Assert.Contains("does not use a shared secret", Replies.Text(failed, "message"));
    }
}

/// <summary>Bounded polling for conditions without an event.</summary>
internal static class TestWait
{
    public static async Task UntilAsync(Func<bool> condition, string what, int timeoutMs = 30_000)
    {
        var watch = System.Diagnostics.Stopwatch.StartNew();
        while (!condition())
        {
            if (watch.ElapsedMilliseconds > timeoutMs) throw new TimeoutException($"Timed out waiting for {what}.");
            await Task.Delay(20);
        }
    }
}
