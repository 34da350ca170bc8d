using System.Diagnostics;

namespace ClusterSharing.Tests.Node;

/// <summary>
/// What a failing call looks like: one exception shape on every role (with <see cref="LeaderCallMode.SameAsFollowers"/>),
/// factory errors with their type, message and code, ClusterClient's own failures as its own types, and errors that say
/// which leader, which method and which limit.
/// </summary>
public sealed class ErrorShapeTests
{
    [Fact]
    public async Task With_SameAsFollowers_the_leader_and_a_follower_catch_the_same_ClusterRemoteException()
    {
        await using var cluster = new TestCluster();
        var (_, leader) = cluster.Start(configure: o => { o.Role = ClusterRole.Leader; o.LeaderCalls = LeaderCallMode.SameAsFollowers; });
        await leader.ReadyAsync();
        var (_, follower) = cluster.Start(configure: o => { o.Role = ClusterRole.Follower; o.LeaderCalls = LeaderCallMode.SameAsFollowers; });
        await follower.ReadyAsync();

        var atLeader = await Assert.ThrowsAsync<ClusterRemoteException>(() => leader.Client.FailAsync("disk full"));
        var atFollower = await Assert.ThrowsAsync<ClusterRemoteException>(() => follower.Client.FailAsync("disk full"));
        Assert.Equal(atFollower.Message, atLeader.Message);
        Assert.Equal((atFollower.RemoteType, atFollower.RemoteMessage, atFollower.Code), (atLeader.RemoteType, atLeader.RemoteMessage, atLeader.Code));
        Assert.Equal("E42", atLeader.Code);
        // The leader also has the real exception itself.
        Assert.Equal("disk full", Assert.IsType<InvalidOperationException>(atLeader.InnerException).Message);
        Assert.Null(atFollower.InnerException);
        Assert.Equal(3, await leader.Client.AddAsync(1, 2));
    }

    [Fact]
    public async Task With_Direct_the_leader_gets_the_real_exception_and_a_follower_a_ClusterRemoteException()
    {
        await using var cluster = new TestCluster();
        var (_, leader) = cluster.Start(configure: o => o.Role = ClusterRole.Leader);
        await leader.ReadyAsync();
        var (_, follower) = cluster.Start(configure: o => o.Role = ClusterRole.Follower);
        await follower.ReadyAsync();

        Assert.Equal("disk full", (await Assert.ThrowsAsync<InvalidOperationException>(() => leader.Client.FailAsync("disk full"))).Message);
        var atFollower = await Assert.ThrowsAsync<ClusterRemoteException>(() => follower.Client.FailAsync("disk full"));
        Assert.Equal(typeof(InvalidOperationException).FullName, atFollower.RemoteType);
    }

    [Fact]
    public async Task A_factory_error_carries_its_type_message_and_code_on_the_leader_and_on_followers()
    {
        await using var cluster = new TestCluster();
        Func<ICalculator> factory = () => throw new TimeoutException("upstream unreachable") { Data = { ["Code"] = "UPSTREAM_7" } };
        var (_, leader) = cluster.Start(factory, o => o.Role = ClusterRole.Leader);
        var (_, follower) = cluster.Start(factory, o => o.Role = ClusterRole.Follower);

        var atLeader = await Assert.ThrowsAsync<ClusterFactoryException>(() => leader.ReadyAsync());
        var atFollower = await Assert.ThrowsAsync<ClusterFactoryException>(() => follower.ReadyAsync());
        foreach (var error in new[] { atLeader, atFollower })
        {
            Assert.Equal(typeof(TimeoutException).FullName, error.RemoteType);
            Assert.Equal("upstream unreachable", error.RemoteMessage);
            Assert.Equal("UPSTREAM_7", error.Code);
            Assert.Equal(leader.Name, error.Channel);
        }
        Assert.Equal(atLeader.Message, atFollower.Message);
        Assert.IsType<TimeoutException>(atLeader.InnerException);
        // A call fails with the same shape.
        var callError = await Assert.ThrowsAsync<ClusterFactoryException>(() => follower.Client.AddAsync(1, 2));
        Assert.Equal("UPSTREAM_7", callError.Code);
    }

    [Fact]
    public async Task A_follower_with_no_leader_fails_a_call_within_MaxWaitTime_saying_no_leader_was_reachable_and_where_it_looked()
    {
        await using var cluster = new TestCluster();
        var (_, follower) = cluster.Start(configure: o =>
        {
            o.Role = ClusterRole.Follower;
            o.MaxWaitTime = TimeSpan.FromSeconds(1);
            o.ResponseTimeout = TimeSpan.FromSeconds(60);
        });

        var watch = Stopwatch.StartNew();
        var error = await Assert.ThrowsAsync<ClusterNoLeaderException>(() => follower.Client.AddAsync(1, 2));
        watch.Stop();
        Assert.True(watch.Elapsed < TimeSpan.FromSeconds(30), $"Waited {watch.Elapsed} (MaxWaitTime 1 s, ResponseTimeout 60 s).");
        Assert.Equal("AddAsync", error.Method);
        Assert.Contains("no leader was reachable", error.Message);
        Assert.Contains($"127.0.0.1:{cluster.Port}", error.Search);
        Assert.Contains(error.Search, error.Message);
        // Still a timeout for code that catches those.
        Assert.IsAssignableFrom<ClusterTimeoutException>(error);
    }

    [Fact]
    public async Task A_timeout_names_the_method_the_timeout_and_the_leader_endpoint()
    {
        await using var cluster = new TestCluster();
        var (_, leader) = cluster.Start();
        await leader.ReadyAsync();
        var (_, follower) = cluster.Start(configure: o => o.ResponseTimeout = TimeSpan.FromMilliseconds(300));
        await follower.ReadyAsync();

        var error = await Assert.ThrowsAsync<ClusterTimeoutException>(() => follower.Client.WaitForCancellationAsync(11, CancellationToken.None));
        Assert.Contains("'WaitForCancellationAsync'", error.Message);
        Assert.Contains("300 ms", error.Message);
        Assert.Contains($"127.0.0.1:{cluster.Port}", error.Message);
        Assert.Equal($"127.0.0.1:{cluster.Port}", error.Leader);
    }

    [Fact]
    public async Task Arguments_too_large_for_a_frame_fail_with_ClusterFrameTooLargeException_naming_the_public_option()
    {
        await using var cluster = new TestCluster();
        var (_, leader) = cluster.Start();
        await leader.ReadyAsync();
        var (_, follower) = cluster.Start(configure: o => { o.MaxFrameSize = 4096; o.MaxHeaderSize = 1024; o.MaxBufferedReceiveBytes = 64 * 1024; });
        await follower.ReadyAsync();

        var error = await Assert.ThrowsAsync<ClusterFrameTooLargeException>(() => follower.Client.EchoAsync(new string('x', 10_000)));
        Assert.Contains("ClusterClientOptions.MaxFrameSize", error.Message);
        Assert.DoesNotContain("ProtocolLimits", error.Message);
        Assert.DoesNotContain("leader's client threw", error.Message);
        Assert.Equal("ok", await follower.Client.EchoAsync("ok"));
    }

    [Fact]
    public async Task A_subscription_the_leader_refuses_reaches_the_follower_as_ClusterClients_own_error()
    {
        await using var cluster = new TestCluster();
        var (_, leader) = cluster.Start(configure: o => { o.Role = ClusterRole.Leader; o.MaxSubscriptionsPerFollower = 1; });
        await leader.ReadyAsync();
        var (_, follower) = cluster.Start(configure: o => o.Role = ClusterRole.Follower);
        await follower.ReadyAsync();
        var errors = new System.Collections.Concurrent.ConcurrentQueue<Exception>();
        follower.ListenerError += (_, e) => errors.Enqueue(e.Exception);

        follower.Client.Subscribe("first", _ => { });
        follower.Client.Subscribe("second", _ => { });

        await TestCluster.WaitUntilAsync(() => !errors.IsEmpty, "the refused subscription to be reported");
        var error = Assert.Single(errors);
        Assert.IsType<ClusterClientException>(error);
        Assert.Contains("MaxSubscriptionsPerFollower", error.Message);
        Assert.DoesNotContain("leader's client threw", error.Message);
    }
}
