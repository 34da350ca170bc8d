using System.Net;

namespace ClusterSharing.Coordination;

/// <summary>Where a leader serves and what identifies its term.</summary>
/// <param name="Endpoint">Where followers connect.</param>
/// <param name="Epoch">The leader's term as the engine knows it; 0 when the engine does not know it before connecting.</param>
/// <param name="CertificateFingerprint">The leader's TLS certificate to pin, when the engine publishes one.</param>
internal sealed record LeaderAddress(EndPoint Endpoint, long Epoch, string? CertificateFingerprint = null)
{
    /// <summary>Engine-private data (e.g. the local lease snapshot) handed back in <see cref="ILeaderElection.LeaderUnreachable"/>.</summary>
    public object? EngineState { get; init; }
}
