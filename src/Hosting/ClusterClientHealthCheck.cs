using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Diagnostics.HealthChecks;

namespace ClusterSharing.Hosting;

/// <summary>
/// Reports a <see cref="ClusterClient{T}"/>'s <see cref="ClusterClient{T}.State"/>: Healthy when ready, Degraded while
/// starting or failing over (calls wait for the leader), and the registration's failure status (Unhealthy by default)
/// when the leader's client factory failed or the handle was disposed. Reads the state synchronously; never calls the leader.
/// </summary>
/// <typeparam name="T">The contract interface.</typeparam>
/// <param name="client">The handle to report on.</param>
public sealed class ClusterClientHealthCheck<T>(ClusterClient<T> client) : IHealthCheck where T : class
{
    /// <inheritdoc/>
    public Task<HealthCheckResult> CheckHealthAsync(HealthCheckContext context, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(context);
        var state = client.State;
        var data = new Dictionary<string, object>
        {
            ["state"] = state.ToString(),
            ["role"] = client.IsLeader ? "leader" : "follower",
            ["epoch"] = client.Epoch,
            ["port"] = client.Port,
            ["channel"] = client.Name,
        };
        string where = $"channel '{client.Name}' on port {client.Port}";
        var result = state switch
        {
            ClusterClientState.Ready => HealthCheckResult.Healthy($"{where} is ready ({(client.IsLeader ? "leader" : "follower")}, epoch {client.Epoch}).", data),
            ClusterClientState.Starting => HealthCheckResult.Degraded($"{where} is starting: waiting for a leader and its real client.", data: data),
            ClusterClientState.FailingOver => HealthCheckResult.Degraded($"{where} lost its leader and is failing over; calls wait for the new one.", data: data),
            ClusterClientState.Faulted => new HealthCheckResult(context.Registration.FailureStatus, $"{where}: the leader's client factory failed; it is retried with backoff.", data: data),
            _ => new HealthCheckResult(context.Registration.FailureStatus, $"{where}: the handle was disposed.", data: data),
        };
        return Task.FromResult(result);
    }
}

/// <summary>Registers <see cref="ClusterClientHealthCheck{T}"/>.</summary>
public static class ClusterClientHealthChecksBuilderExtensions
{
    /// <summary>
    /// Adds a health check of the <see cref="ClusterClient{T}"/> registered by <c>AddClusterClient&lt;T&gt;</c>:
    /// Healthy when ready, Degraded while starting or failing over, <paramref name="failureStatus"/> when faulted.
    /// </summary>
    /// <typeparam name="T">The contract interface.</typeparam>
    /// <param name="builder">The health checks builder.</param>
    /// <param name="name">The check's name; defaults to <c>clusterclient-</c> and the contract's name.</param>
    /// <param name="failureStatus">Reported when the client is faulted or disposed; Unhealthy when null.</param>
    /// <param name="tags">Tags to filter checks by (for example "ready").</param>
    /// <returns>The builder.</returns>
    public static IHealthChecksBuilder AddClusterClientHealthCheck<T>(this IHealthChecksBuilder builder, string? name = null,
        HealthStatus? failureStatus = null, IEnumerable<string>? tags = null) where T : class
    {
        ArgumentNullException.ThrowIfNull(builder);
        return builder.Add(new HealthCheckRegistration(
            name ?? "clusterclient-" + typeof(T).Name,
            services => new ClusterClientHealthCheck<T>((ClusterClient<T>)(services.GetService(typeof(ClusterClient<T>))
                ?? throw new InvalidOperationException($"No ClusterClient<{typeof(T).Name}> is registered; call services.AddClusterClient<{typeof(T).Name}>(...) before AddClusterClientHealthCheck<{typeof(T).Name}>()."))),
            failureStatus,
            tags));
    }
}
