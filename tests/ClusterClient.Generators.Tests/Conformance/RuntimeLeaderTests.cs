using System.Net;
using System.Net.Sockets;
using ClusterSharing.Generators.Tests.Support;

namespace ClusterSharing.Generators.Tests.Conformance;

/// <summary>
/// Both contracts behind the real runtime: a leader process (this test) created through <see cref="ClusterClient.Create{T}(Func{T}, Action{ClusterClientOptions}?)"/>
/// with each proxy mode, exercising the runtime's own invoker for every member kind.
/// </summary>
public sealed class RuntimeLeaderTests
{
    private static int FreePort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }

    [Theory]
    [InlineData(ProxyGenerationMode.AlwaysGenerated)]
    [InlineData(ProxyGenerationMode.AlwaysDynamic)]
    public async Task Every_member_kind_works_through_the_runtime(ProxyGenerationMode mode)
    {
        var service = new ConformanceService();
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(60));
        await using var handle = await ClusterClient.Create<IConformance>(() => service, o =>
        {
            o.Port = FreePort();
            o.Role = ClusterRole.Leader;
            o.ProxyGeneration = mode;
        }).ReadyAsync(timeout.Token);
        Assert.True(handle.IsLeader);
        Assert.Equal(Castle.DynamicProxy.ProxyUtil.IsProxy(handle.Client), mode == ProxyGenerationMode.AlwaysDynamic);
        var client = handle.Client;

        Assert.Equal(5, await client.AddAsync(2, 3));
        Structural.Equal(ProxyConformanceTests.SampleOrder(), await client.EchoOrderAsync(ProxyConformanceTests.SampleOrder()));
        // The leader's own calls reach the real client directly, so its exception arrives as itself.
        Assert.Equal("boom", (await Assert.ThrowsAsync<InvalidOperationException>(() => client.FailAsync("boom"))).Message);
        client.Record("r");
        Assert.Contains("r", service.Recorded);

        var received = new List<Notice>();
        var query = new Query("q", 1);
        Action<Notice> listener = n => { lock (received) received.Add(n); };
        client.Subscribe(query, listener);
        await Eventually.TrueAsync(() => service.ListenerCount == 1, "the real client is subscribed");
        service.Emit(query, new Notice("q", 1, "v"));
        await Eventually.TrueAsync(() => { lock (received) return received.Count == 1; }, "the value reaches the listener");
        client.Unsubscribe(query, listener);
        await Eventually.TrueAsync(() => service.ListenerCount == 0, "the real client is unsubscribed");

        string? renamed = null;
        client.Renamed += (_, name) => Volatile.Write(ref renamed, name);
        await Eventually.TrueAsync(() => service.RenamedHandlerCount == 1, "the real event has a handler");
        service.RaiseRenamed("r2");
        await Eventually.TrueAsync(() => Volatile.Read(ref renamed) == "r2", "the event reaches the handler");

        var counted = new List<int>();
        await foreach (var value in client.SubscribeCounter(7, timeout.Token)) counted.Add(value);
        Assert.Equal([7, 8, 9], counted);

        client.Publish(new Notice("p", 1, null));
        await Eventually.TrueAsync(() => !service.Published.IsEmpty, "the publication reaches the real client");
    }
}
