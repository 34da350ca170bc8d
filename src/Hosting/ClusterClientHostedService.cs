using System.Diagnostics.Metrics;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Options;

namespace ClusterSharing.Hosting;

/// <summary>
/// Joins the election when the host starts (by creating the <see cref="ClusterClient{T}"/>), registers the leader work
/// added with <c>AddLeaderWork</c>, optionally waits until it is ready, and stops the work and disposes the client when
/// the host stops, so a leader releases its port and lease before the process exits.
/// </summary>
/// <typeparam name="T">The contract interface.</typeparam>
internal sealed class ClusterClientHostedService<T>(IServiceProvider services, IOptionsMonitor<ClusterClientHostOptions> hostOptions) : IHostedService
    where T : class
{
    private ClusterClient<T>? _client;
    private IMeterFactory? _meterFactory;
    private readonly List<LeaderWorkRegistration> _leaderWork = new();

    public async Task StartAsync(CancellationToken cancellationToken)
    {
        // The runtime's instruments live on a meter from DI's factory while this host runs (process-wide, last host wins).
        _meterFactory = services.GetService<IMeterFactory>();
        if (_meterFactory is not null) ClusterClientTelemetry.UseMeterFactory(_meterFactory);
        _client = services.GetRequiredService<ClusterClient<T>>();
        foreach (var descriptor in services.GetServices<LeaderWorkDescriptor<T>>())
        {
            var work = descriptor.Work;
            _leaderWork.Add(_client.WhenLeader(token => work(services, token), descriptor.CreateOptions()));
        }
        if (hostOptions.Get(ClusterClientServiceCollectionExtensions.OptionsName<T>()).WaitForReadyOnStart)
            await _client.ReadyAsync(cancellationToken).ConfigureAwait(false);
    }

    public async Task StopAsync(CancellationToken cancellationToken)
    {
        // Leader work first, while the real client still exists; each waits at most its grace period.
        await Task.WhenAll(_leaderWork.Select(w => w.DisposeAsync().AsTask())).WaitAsync(cancellationToken).ConfigureAwait(false);
        _leaderWork.Clear();
        if (_client is { } client) await client.DisposeAsync().AsTask().WaitAsync(cancellationToken).ConfigureAwait(false);
        // The factory's meters are disposed with the host; later non-hosted use goes back to the static meter.
        if (_meterFactory is not null) ClusterClientTelemetry.UseMeterFactory(null);
    }
}
