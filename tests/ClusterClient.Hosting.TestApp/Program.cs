using ClusterSharing;
using ClusterSharing.Hosting;
using ClusterSharing.Hosting.TestApp;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Diagnostics.HealthChecks;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

// A Generic Host app as a user would write it, driven by the hosting tests over stdin/stdout:
//   arguments: --ClusterClient:Port=N --ClusterClient:StateDirectory=DIR [--FactoryDelayMs=MS]
//   stdin:     "call" (prints "call <leader pid>" or "call-error <message>"), "stop" (or end of input)
//   stdout:    "started <pid>", "health <status>" on every change, "stopped"
var builder = Host.CreateApplicationBuilder(args);
builder.Logging.ClearProviders();
builder.Logging.AddConsole(o => o.LogToStandardErrorThreshold = LogLevel.Trace);
int factoryDelayMs = builder.Configuration.GetValue("FactoryDelayMs", 0);

builder.Services.AddClusterClient<IGreeter>(_ =>
{
    // Lets a test see the Degraded window of a failover: the new leader builds its real client slowly.
    if (factoryDelayMs > 0) Thread.Sleep(factoryDelayMs);
    return new Greeter();
}, "ClusterClient");
builder.Services.AddHealthChecks().AddClusterClientHealthCheck<IGreeter>();
builder.Services.AddHostedService<HealthReporter>();

using var host = builder.Build();
await host.StartAsync();
Console.WriteLine($"started {Environment.ProcessId}");

var greeter = host.Services.GetRequiredService<IGreeter>();
while (Console.ReadLine() is { } line && line != "stop")
{
    if (line != "call") continue;
    try
    {
        Console.WriteLine($"call {await greeter.WhoAmIAsync()}");
    }
    catch (Exception ex)
    {
        Console.WriteLine($"call-error {ex.GetType().Name}: {ex.Message.ReplaceLineEndings(" ")}");
    }
}

using (var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(20)))
    await host.StopAsync(timeout.Token);
Console.WriteLine("stopped");
return 0;

namespace ClusterSharing.Hosting.TestApp
{
    /// <summary>The contract shared by the test app's processes.</summary>
    [ClusterDelegate]
    public partial interface IGreeter
    {
        /// <summary>The pid of the process holding the real client.</summary>
        Task<int> WhoAmIAsync();
    }

    internal sealed class Greeter : IGreeter
    {
        public Task<int> WhoAmIAsync() => Task.FromResult(Environment.ProcessId);
    }

    /// <summary>Prints the aggregate health status whenever it changes (polled every 25 ms).</summary>
    internal sealed class HealthReporter(HealthCheckService health) : BackgroundService
    {
        protected override async Task ExecuteAsync(CancellationToken stoppingToken)
        {
            HealthStatus? last = null;
            while (!stoppingToken.IsCancellationRequested)
            {
                var report = await health.CheckHealthAsync(stoppingToken);
                if (report.Status != last)
                {
                    last = report.Status;
                    Console.WriteLine($"health {report.Status}");
                }
                try
                {
                    await Task.Delay(25, stoppingToken);
                }
                catch (OperationCanceledException)
                {
                    return;
                }
            }
        }
    }
}
