using System.Diagnostics.Metrics;
using System.Net;
using System.Net.Sockets;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Diagnostics.HealthChecks;
using Microsoft.Extensions.Hosting;

namespace ClusterSharing.Hosting.Tests;

[Collection(GenericHosts.Name)]
public sealed class HostedClientTests
{
    private static int FreePort()
    {
        var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        int port = ((IPEndPoint)listener.LocalEndpoint).Port;
        listener.Stop();
        return port;
    }

    private static IHost Build(Func<IServiceProvider, IPingService> factory, bool waitForReady)
    {
        var builder = Host.CreateEmptyApplicationBuilder(new HostApplicationBuilderSettings());
        int port = FreePort();
        var registration = builder.Services.AddClusterClient(factory, o =>
        {
            o.Port = port;
            o.SingleMode = true;
            o.MaxWaitTime = TimeSpan.FromSeconds(20);
        });
        if (waitForReady) registration.WaitForReadyOnStart();
        builder.Services.AddHealthChecks().AddClusterClientHealthCheck<IPingService>();
        return builder.Build();
    }

    [Fact]
    public async Task Hosted_client_is_ready_after_a_gated_start_serves_calls_and_is_disposed_on_stop()
    {
        using var host = Build(_ => new PingService(), waitForReady: true);
        await host.StartAsync();
        var client = host.Services.GetRequiredService<ClusterClient<IPingService>>();
        Assert.Equal(ClusterClientState.Ready, client.State);
        Assert.True(client.IsReady);
        Assert.Equal("pong hi", await host.Services.GetRequiredService<IPingService>().PingAsync("hi"));

        var report = await host.Services.GetRequiredService<HealthCheckService>().CheckHealthAsync();
        Assert.Equal(HealthStatus.Healthy, report.Status);
        Assert.Equal("leader", report.Entries["clusterclient-IPingService"].Data["role"]);

        await host.StopAsync();
        Assert.Equal(ClusterClientState.Disposed, client.State);
        Assert.False(client.IsReady);
    }

    [Fact]
    public async Task Health_is_unhealthy_while_the_factory_fails_and_a_gated_start_reports_the_factory_error()
    {
        using var host = Build(_ => FailingFactory.Create(), waitForReady: true);
        var error = await Assert.ThrowsAnyAsync<Exception>(() => host.StartAsync());
        Assert.Contains("the upstream is down", error.ToString());

        var client = host.Services.GetRequiredService<ClusterClient<IPingService>>();
        Assert.Equal(ClusterClientState.Faulted, client.State);
        var report = await host.Services.GetRequiredService<HealthCheckService>().CheckHealthAsync();
        Assert.Equal(HealthStatus.Unhealthy, report.Status);
        await client.DisposeAsync();
    }

    [Fact]
    public async Task Instruments_live_on_the_hosts_meter_factory_while_it_runs()
    {
        var builder = Host.CreateEmptyApplicationBuilder(new HostApplicationBuilderSettings());
        builder.Services.AddMetrics();
        int port = FreePort();
        builder.Services.AddClusterClient<IPingService>(_ => new PingService(), o =>
        {
            o.Port = port;
            o.SingleMode = true;
        }).WaitForReadyOnStart();
        using var host = builder.Build();
        var factory = host.Services.GetRequiredService<IMeterFactory>();

        var epochs = new System.Collections.Concurrent.ConcurrentQueue<(object? Scope, long Value)>();
        using var listener = new MeterListener();
        listener.InstrumentPublished = (instrument, l) =>
        {
            if (instrument.Meter.Name == ClusterClientTelemetry.MeterName && instrument.Name == "clusterclient.epoch") l.EnableMeasurementEvents(instrument);
        };
        listener.SetMeasurementEventCallback<long>((instrument, value, tags, _) =>
        {
            foreach (var tag in tags)
                if (tag.Key == "clusterclient.port" && tag.Value is int p && p == port) epochs.Enqueue((instrument.Meter.Scope, value));
        });
        listener.Start();

        await host.StartAsync();
        Assert.Contains(epochs, e => ReferenceEquals(e.Scope, factory) && e.Value == 1);
        await host.StopAsync();
    }

    [Fact]
    public async Task Health_check_without_a_registered_client_says_what_to_call()
    {
        var builder = Host.CreateEmptyApplicationBuilder(new HostApplicationBuilderSettings());
        builder.Services.AddHealthChecks().AddClusterClientHealthCheck<IPingService>();
        using var host = builder.Build();
        var error = await Assert.ThrowsAsync<InvalidOperationException>(() => host.Services.GetRequiredService<HealthCheckService>().CheckHealthAsync());
        Assert.Contains("call services.AddClusterClient<IPingService>(...) before AddClusterClientHealthCheck<IPingService>()", error.Message);
    }
}
