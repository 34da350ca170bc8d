using System.Diagnostics;

namespace ClusterSharing.IntegrationTests;

/// <summary>What a failing call looks like in each process: the same type on every role, and messages that say what happened.</summary>
public sealed class ErrorShapeTests
{
    [Theory]
    [InlineData("same", "generated")]
    [InlineData("same", "dynamic")]
    [InlineData("direct", "generated")]
    public async Task A_follower_and_the_leader_catch_the_documented_type_for_the_same_failing_call(string leaderCalls, string proxy)
    {
        await using var cluster = new HostCluster("--max-wait-ms", "20000", "--response-timeout-ms", "20000",
            "--leader-calls", leaderCalls, "--proxy", proxy);
        var (leader, followers) = await cluster.StartReadyAsync(2);

        var atLeader = Replies.Error(await leader.RequestAsync("fail quota exceeded"), "ClusterRemoteException", "InvalidOperationException");
        var atFollower = Replies.Error(await followers[0].RequestAsync("fail quota exceeded"), "ClusterRemoteException");
        Assert.Equal(typeof(InvalidOperationException).FullName, Replies.Text(atFollower, "remoteType"));
        if (leaderCalls == "same")
        {
            // One shape: the same type, message and remote details; the leader also holds the real exception.
            Assert.Equal("ClusterRemoteException", Replies.Text(atLeader, "error"));
            Assert.Equal(Replies.Text(atFollower, "message"), Replies.Text(atLeader, "message"));
            Assert.Equal(Replies.Text(atFollower, "remoteType"), Replies.Text(atLeader, "remoteType"));
            Assert.Equal("InvalidOperationException", Replies.Text(atLeader, "innerError"));
        }
        else
        {
            // Direct (the default): the leader's own call reaches the real client, whose exception arrives as itself.
            Assert.Equal("InvalidOperationException", Replies.Text(atLeader, "error"));
        }
    }

    [Fact]
    public async Task A_follower_with_no_leader_fails_a_call_within_MaxWaitTime_saying_no_leader_was_reachable()
    {
        await using var cluster = new HostCluster("--role", "follower", "--max-wait-ms", "2000", "--response-timeout-ms", "60000");
        var follower = cluster.Start();
        await HostCluster.WaitReadyFailedAsync(follower);

        var watch = Stopwatch.StartNew();
        var reply = Replies.Error(await follower.RequestAsync("add 1 2"), "ClusterNoLeaderException");
        watch.Stop();
        // Bounded by MaxWaitTime (2 s), not by ResponseTimeout (60 s); generous for a loaded machine.
        Assert.True(watch.Elapsed < TimeSpan.FromSeconds(30), $"The call took {watch.Elapsed}.\n{follower.Describe()}");
        string message = Replies.Text(reply, "message");
        Assert.Contains("'AddAsync' found no leader", message);
        Assert.Contains("no leader was reachable", message);
        Assert.Contains($"127.0.0.1:{cluster.Port}", message);
    }

    [Theory]
    [InlineData("generated")]
    [InlineData("dynamic")]
    public async Task A_result_too_large_for_a_frame_fails_on_the_follower_as_ClusterFrameTooLargeException_naming_the_public_option(string proxy)
    {
        await using var cluster = new HostCluster("--max-wait-ms", "20000", "--response-timeout-ms", "20000",
            "--max-frame-size", "65536", "--proxy", proxy);
        var (leader, followers) = await cluster.StartReadyAsync(2);

        var reply = Replies.Error(await followers[0].RequestAsync("big 100000"), "ClusterFrameTooLargeException");
        string message = Replies.Text(reply, "message");
        Assert.Contains("The result of 'BigAsync'", message);
        Assert.Contains("ClusterClientOptions.MaxFrameSize", message);
        Assert.DoesNotContain("ProtocolLimits", message);
        Assert.DoesNotContain("leader's client threw", message);
        // The connection stays up, and the leader's own call has no frame to fit in.
        Assert.Equal(5, Replies.Value(await followers[0].RequestAsync("add 2 3")).GetInt32());
        Assert.Equal(100000, Replies.Value(await leader.RequestAsync("big 100000")).GetInt32());
    }

    [Fact]
    public async Task A_factory_error_reaches_followers_with_its_type_message_and_code()
    {
        await using var cluster = new HostCluster("--max-wait-ms", "10000", "--response-timeout-ms", "20000",
            "--factory-fails", "1000", "--factory-error", "login refused", "--factory-code", "AUTH_401");
        var (leader, follower) = (cluster.Start("--role", "leader"), cluster.Start("--role", "follower"));
        await HostCluster.WaitReadyFailedAsync(leader);
        var failed = await HostCluster.WaitReadyFailedAsync(follower);

        Assert.Equal("ClusterFactoryException", Replies.Text(failed, "error"));
        Assert.Equal(typeof(InvalidOperationException).FullName, Replies.Text(failed, "remoteType"));
        Assert.Equal("login refused", Replies.Text(failed, "remoteMessage"));
        Assert.Equal("AUTH_401", Replies.Text(failed, "code"));
        var atLeader = Assert.Single(leader.Events("ready-failed"));
        Assert.Equal("ClusterFactoryException", Replies.Text(atLeader, "error"));
        Assert.Equal("AUTH_401", Replies.Text(atLeader, "code"));
        Assert.Empty(follower.Events("factory"));
    }
}
