using System.Net;
using System.Net.Sockets;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;

namespace ClusterSharing.Hosting.Tests;

[Collection(GenericHosts.Name)]
public sealed class LeaderWorkHostingTests
{
    /// <summary>Leader work as a DI service: records its runs and the client's state when its token fired.</summary>
    public sealed class PollingWork(ClusterClient<IPingService> client) : ILeaderWork
    {
        public readonly TaskCompletionSource<string> Started = new(TaskCreationOptions.RunContinuationsAsynchronously);
        public ClusterClientState? StateWhenCancelled;
        public int Runs;

        public async Task RunAsync(CancellationToken leadershipLost)
        {
            Interlocked.Increment(ref Runs);
            Started.TrySetResult(await client.Client.PingAsync("work"));
            try
            {
                await Task.Delay(Timeout.Infinite, leadershipLost);
            }
            finally
            {
                StateWhenCancelled = client.State;
            }
        }
    }

    private static int FreePort()
    {
        var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        int port = ((IPEndPoint)listener.LocalEndpoint).Port;
        listener.Stop();
        return port;
    }

    [Fact]
    public async Task Leader_work_starts_with_the_host_and_is_cancelled_and_awaited_on_stop_before_the_client_is_disposed()
    {
        var builder = Host.CreateEmptyApplicationBuilder(new HostApplicationBuilderSettings());
        int port = FreePort();
        var lambdaStarted = new TaskCompletionSource<bool>(TaskCreationOptions.RunContinuationsAsynchronously);
        bool lambdaReturned = false;
        builder.Services.AddClusterClient<IPingService>(_ => new PingService(), o =>
            {
                o.Port = port;
                o.SingleMode = true;
            })
            .AddLeaderWork<PollingWork>()
            .AddLeaderWork(async (services, token) =>
            {
                lambdaStarted.TrySetResult(services.GetRequiredService<ClusterClient<IPingService>>().IsLeader);
                try
                {
                    await Task.Delay(Timeout.Infinite, token);
                }
                finally
                {
                    lambdaReturned = true;
                }
            }, o => o.GracePeriod = TimeSpan.FromSeconds(5));
        using var host = builder.Build();
        await host.StartAsync();

        var work = host.Services.GetRequiredService<PollingWork>();
        Assert.Equal("pong work", await work.Started.Task.WaitAsync(TimeSpan.FromSeconds(30)));
        Assert.True(await lambdaStarted.Task.WaitAsync(TimeSpan.FromSeconds(30)));

        await host.StopAsync();
        Assert.True(lambdaReturned);
        // The work saw its token while the client was still usable: shutdown stops work before disposing the client.
        Assert.Equal(ClusterClientState.Ready, work.StateWhenCancelled);
        Assert.Equal(1, work.Runs);
        Assert.Equal(ClusterClientState.Disposed, host.Services.GetRequiredService<ClusterClient<IPingService>>().State);
    }

    [Fact]
    public async Task Invalid_leader_work_options_fail_host_start_with_the_option_name()
    {
        var builder = Host.CreateEmptyApplicationBuilder(new HostApplicationBuilderSettings());
        int port = FreePort();
        builder.Services.AddClusterClient<IPingService>(_ => new PingService(), o =>
            {
                o.Port = port;
                o.SingleMode = true;
            })
            .AddLeaderWork((_, _) => Task.CompletedTask, o => o.GracePeriod = TimeSpan.FromSeconds(-1));
        using var host = builder.Build();
        var error = await Assert.ThrowsAsync<ArgumentOutOfRangeException>(() => host.StartAsync());
        Assert.Contains("GracePeriod", error.Message, StringComparison.Ordinal);
        await host.Services.GetRequiredService<ClusterClient<IPingService>>().DisposeAsync();
    }
}
