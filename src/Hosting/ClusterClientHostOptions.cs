namespace ClusterSharing.Hosting;

/// <summary>How the hosted service of one <c>AddClusterClient&lt;T&gt;</c> registration behaves at start-up and shutdown.</summary>
public sealed class ClusterClientHostOptions
{
    /// <summary>
    /// When true, host start-up waits until the client is ready (at most <see cref="ClusterClientOptions.MaxWaitTime"/>)
    /// and fails with the reason when it is not. When false (the default), start-up only joins the election; calls made
    /// before the cluster is ready wait for it, each within its own timeout, and the health check reports Degraded meanwhile.
    /// </summary>
    public bool WaitForReadyOnStart { get; set; }
}
