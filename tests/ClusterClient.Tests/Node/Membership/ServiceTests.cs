using System.Collections.Concurrent;
using ClusterSharing.Node.Membership;

namespace ClusterSharing.Tests.Node.Membership;

public sealed class ServiceTrackerTests
{
    private static ClusterMember WithServices(string id, params (string Name, bool Ready)[] services) =>
        new(id, "host", 1, null, 0, true, ReadOnlyMemory<byte>.Empty, false, DateTimeOffset.UnixEpoch, DateTimeOffset.UnixEpoch, 0,
            [.. services.Select(s => new ClusterService(s.Name, s.Ready, ReadOnlyMemory<byte>.Empty))]);

    [Fact]
    public void Ready_instances_of_needed_services_are_discovered_once_and_the_last_ones_loss_is_reported()
    {
        var tracker = new ServiceTracker();
        tracker.Need("db");
        tracker.Need("cache");
        var changes = tracker.Update([WithServices("a", ("db", false)), WithServices("b", ("web", true))]);
        Assert.Empty(changes.Discovered);
        Assert.False(changes.BecameReady);

        changes = tracker.Update([WithServices("a", ("db", true)), WithServices("b", ("cache", true))]);
        Assert.Equal(["a", "b"], changes.Discovered.Select(i => i.Member.Id).Order());
        Assert.True(changes.BecameReady);

        changes = tracker.Update([WithServices("a", ("db", true)), WithServices("b", ("cache", true)), WithServices("c", ("db", true))]);
        Assert.Equal("c", Assert.Single(changes.Discovered).Member.Id);
        Assert.False(changes.BecameReady);
        Assert.Empty(changes.Lost);

        changes = tracker.Update([WithServices("c", ("db", true))]);
        Assert.Equal(["cache"], changes.Lost);
        Assert.False(tracker.IsReady);
        changes = tracker.Update([WithServices("c", ("db", true)), WithServices("d", ("cache", true))]);
        Assert.True(changes.BecameReady);
    }
}

/// <summary>Services between in-process nodes: advertise, need, setup, ready, lost.</summary>
public sealed class ServiceTests
{
    [Fact]
    public async Task Setup_runs_once_per_ready_instance_then_services_are_ready_and_losing_the_last_instance_is_reported()
    {
        await using var cluster = new TestCluster();
        var (_, consumer) = cluster.Start();
        await consumer.ReadyAsync();
        var (providerNode, provider) = cluster.Start();
        await provider.Membership.ReadyAsync();

        var setups = new ConcurrentQueue<string>();
        var lost = new ConcurrentQueue<string>();
        int readyEvents = 0;
        var members = consumer.Membership;
        members.ServicesReady += (_, _) => Interlocked.Increment(ref readyEvents);
        members.ServiceLost += (_, e) => lost.Enqueue(e.Service);
        members.Setup("service.db", (instance, _) =>
        {
            setups.Enqueue($"{instance.Member.Id}:{instance.Service.ReadConfig<string>()}");
            return ValueTask.CompletedTask;
        });
        members.Need("service.cache");

        provider.Membership.AdvertiseService("service.db", ready: false, "db-config");
        provider.Membership.AdvertiseService("service.cache", ready: true);
        await TestCluster.WaitUntilAsync(() => members.Find(provider.Membership.LocalId)?.Services.Count == 2, "the services to be seen");
        await Task.Delay(200);
        Assert.Empty(setups);
        Assert.False(members.WhenServicesReadyAsync().IsCompleted);

        provider.Membership.AdvertiseService("service.db", ready: true, "db-config");
        await members.WhenServicesReadyAsync().WaitAsync(TimeSpan.FromSeconds(20));
        Assert.Equal([$"{provider.Membership.LocalId}:db-config"], setups);
        await TestCluster.WaitUntilAsync(() => Volatile.Read(ref readyEvents) == 1, "one ServicesReady event");
        Assert.Single(members.FindServices("service.db"));

        await providerNode.DisposeAsync();
        await TestCluster.WaitUntilAsync(() => lost.Count == 2, "both services to be reported lost");
        Assert.Equal(["service.cache", "service.db"], lost.Order());
        Assert.False(members.WhenServicesReadyAsync().IsCompleted);
    }

    [Fact]
    public async Task Bad_service_names_and_large_configurations_are_refused()
    {
        var options = new ClusterClientOptions { Port = TestCluster.FreePort(), SingleMode = true };
        await using var membership = new NodeMembership(options, Microsoft.Extensions.Logging.Abstractions.NullLogger.Instance);
        Assert.Throws<ArgumentException>(() => membership.AdvertiseService("has space", true, []));
        Assert.Throws<ArgumentException>(() => membership.AdvertiseService("db", true, new byte[5000]));
    }
}
