using System.Net;
using System.Net.Sockets;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;

namespace ClusterSharing.Hosting.Tests;

/// <summary>
/// <c>AddClusterClient</c> with an asynchronous factory. Not run alongside other tests: a host installs its meter factory
/// process-wide, which would race the metrics tests.
/// </summary>
[Collection(GenericHosts.Name)]
public sealed class AsyncFactoryHostingTests
{
    [Fact]
    public async Task An_async_factory_gets_the_service_provider_and_is_awaited_before_a_gated_start_completes()
    {
        var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        int port = ((IPEndPoint)listener.LocalEndpoint).Port;
        listener.Stop();

        var builder = Host.CreateEmptyApplicationBuilder(new HostApplicationBuilderSettings());
        builder.Services.AddSingleton(new PingService());
        int calls = 0;
        builder.Services.AddClusterClient<IPingService>(async (provider, ct) =>
        {
            Interlocked.Increment(ref calls);
            await Task.Delay(200, ct);
            return provider.GetRequiredService<PingService>();
        }, o =>
        {
            o.Port = port;
            o.SingleMode = true;
            o.MaxWaitTime = TimeSpan.FromSeconds(20);
        }).WaitForReadyOnStart();
        using var host = builder.Build();

        await host.StartAsync();
        Assert.True(host.Services.GetRequiredService<ClusterClient<IPingService>>().IsReady);
        Assert.Equal("pong hi", await host.Services.GetRequiredService<IPingService>().PingAsync("hi"));
        Assert.Equal(1, Volatile.Read(ref calls));
        await host.StopAsync();
    }
}
