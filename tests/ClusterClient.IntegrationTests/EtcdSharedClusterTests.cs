using ClusterSharing.EngineTests.Coordination.Etcd;

namespace ClusterSharing.IntegrationTests;

/// <summary>One etcd and three "machines" (127.0.0.1, .2, .3), started once for the tests that leave them as they found them.</summary>
public sealed class EtcdClusterFixture : IAsyncLifetime
{
    private EtcdServer? _etcd;

    public HostCluster Cluster { get; private set; } = null!;

    public HostProcess Leader { get; private set; } = null!;

    public HostProcess[] Followers { get; private set; } = [];

    public async Task InitializeAsync()
    {
        _etcd = await EtcdServer.StartAsync();
        Cluster = new HostCluster(EtcdMachines.Arguments(_etcd));
        (Leader, Followers) = await EtcdMachines.StartThreeAsync(Cluster);
    }

    public async Task DisposeAsync()
    {
        if (Cluster is not null) await Cluster.DisposeAsync();
        if (_etcd is not null) await _etcd.DisposeAsync();
    }
}

/// <summary>
/// What works on one machine works across machines: oneways, cancellation, publications and events between workers on
/// distinct loopback addresses whose one leader was elected on etcd and is reached over TLS.
/// </summary>
public sealed class EtcdSharedClusterTests(EtcdClusterFixture fixture) : IClassFixture<EtcdClusterFixture>
{
    private HostProcess Leader => fixture.Leader;
    private HostProcess[] Followers => fixture.Followers;
    private HostProcess[] Everyone => [fixture.Leader, .. fixture.Followers];

    [Fact]
    public async Task Oneway_calls_from_other_machines_reach_the_leader()
    {
        long before = Replies.Value(await Leader.RequestAsync("recorded")).GetInt64();
        foreach (var f in Followers)
            for (int i = 0; i < 5; i++)
                Replies.Value(await f.RequestAsync("record 3"));
        long expected = before + Followers.Length * 5 * 3;
        // Oneways have no reply: poll the counter, bounded in count and time.
        long seen = before;
        for (int attempt = 0; attempt < 200 && seen != expected; attempt++)
        {
            seen = Replies.Value(await Followers[^1].RequestAsync("recorded")).GetInt64();
            if (seen != expected) await Task.Delay(100);
        }
        Assert.Equal(expected, seen);
    }

    [Fact]
    public async Task Cancelling_a_call_on_another_machine_cancels_the_real_call_on_the_leader()
    {
        int from = Leader.LineCount;
        // Waits 30 s on the leader, cancelled on the follower's machine after 1 s.
        var reply = await Followers[0].RequestAsync("slow 30000 1000");
        Replies.Error(reply, nameof(OperationCanceledException), nameof(TaskCanceledException));
        await Leader.WaitForEventAsync("real-call-cancelled", l => Replies.Text(l, "method") == "SlowAsync", from: from);
    }

    [Fact]
    public async Task A_leader_side_exception_reaches_another_machine_with_its_type_and_message()
    {
        var reply = Replies.Error(await Followers[1].RequestAsync("fail upstream said no"), "ClusterRemoteException");
        Assert.Equal("upstream said no", Replies.Text(reply, "remoteMessage"));
        Assert.Equal(typeof(InvalidOperationException).FullName, Replies.Text(reply, "remoteType"));
    }

    [Fact]
    public async Task A_publication_from_one_machine_reaches_the_subscribers_on_every_machine_through_one_real_subscription()
    {
        const string topic = "shared-news";
        foreach (var host in Everyone) Replies.Value(await host.RequestAsync($"sub {topic}"));
        await Leader.WaitForEventAsync("real-subscribed", l => Replies.Text(l, "topic") == topic);
        // The followers' Subscribe frames precede these calls on their connections: once answered, the leader has them.
        foreach (var f in Followers) Replies.Value(await f.RequestAsync("echo subscribed"));

        Replies.Value(await Followers[1].RequestAsync($"publish {topic} hello"));
        foreach (var host in Everyone) await host.WaitForAsync(l => EtcdMachines.IsValue(l, topic, "hello"), "the value 'hello'");
        Assert.Single(Leader.Events("real-subscribed"), l => Replies.Text(l, "topic") == topic);
        Assert.Single(Leader.Events("real-published"), l => Replies.Text(l, "value") == "hello");
    }

    [Fact]
    public async Task Events_raised_by_the_real_client_reach_handlers_on_every_machine()
    {
        foreach (var host in Everyone) Replies.Value(await host.RequestAsync("on-notice"));
        await EtcdMachines.RaiseUntilHeardAsync(Followers[0], Everyone, fixture.Cluster);
        Assert.All(Followers, f => Assert.Empty(f.Events("real-raised")));
        Assert.NotEmpty(Leader.Events("real-raised"));
    }
}
