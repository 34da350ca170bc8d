// A copy of the election seam (SEAM.md) so the etcd engine compiles before the seam lands on main.
// Delete this file when merging main once src/Runtime/Coordination/ILeaderElection.cs exists there.
using System.Net;
using System.Net.Sockets;

namespace ClusterSharing.Coordination;

/// <summary>What a node should do next, as decided by an <see cref="ILeaderElection"/>.</summary>
internal abstract record ElectionStep;

/// <summary>This node won: serve on <see cref="ILeadershipTerm.Listener"/> until the term is lost or the node disposes it.</summary>
internal sealed record LeadStep(ILeadershipTerm Term) : ElectionStep;

/// <summary>Another node leads: connect to <see cref="LeaderAddress.Endpoint"/>.</summary>
internal sealed record FollowStep(LeaderAddress Leader) : ElectionStep;

/// <summary>Nothing to do yet; <paramref name="Status"/> says why; look again after <paramref name="Delay"/>.</summary>
internal sealed record WaitStep(string Status, TimeSpan Delay) : ElectionStep;

/// <summary>An election engine for one scope.</summary>
internal interface ILeaderElection : IAsyncDisposable
{
    /// <summary>For logs and error messages.</summary>
    string Description { get; }

    /// <summary>Decides this node's next step. Never blocks forever.</summary>
    Task<ElectionStep> NextAsync(bool mayLead, CancellationToken cancellationToken);

    /// <summary>The node could not reach, or lost, the leader it was told to follow.</summary>
    void LeaderUnreachable(LeaderAddress followed);
}

/// <summary>One term of leadership held by this node.</summary>
internal interface ILeadershipTerm : IAsyncDisposable
{
    /// <summary>The fencing token: grows across the terms of one scope.</summary>
    long Epoch { get; }

    /// <summary>Bound and listening; the node's leader server takes it over (and closes it).</summary>
    Socket Listener { get; }

    /// <summary>What followers are told.</summary>
    EndPoint Endpoint { get; }

    /// <summary>Fires when the term ended without this node resigning.</summary>
    CancellationToken Lost { get; }

    /// <summary>Why the term was lost, once <see cref="Lost"/> fired.</summary>
    string? LostReason { get; }

    /// <summary>The epoch of whoever holds the scope after this term was lost, when the engine saw it (else 0).</summary>
    long SuccessorEpoch { get; }

    /// <summary>Cheap synchronous fencing check: true only while the term is known to be valid now.</summary>
    bool IsCurrent { get; }

    /// <summary>The TLS certificate followers must be served with (cluster scopes); null: plain connections.</summary>
    System.Security.Cryptography.X509Certificates.X509Certificate2? Certificate => null;

    /// <summary>Gives the term up so a successor need not wait for it to expire.</summary>
    ValueTask ResignAsync(CancellationToken cancellationToken = default);
}

/// <summary>Where a leader serves and what identifies its term.</summary>
internal sealed record LeaderAddress(EndPoint Endpoint, long Epoch, string? CertificateFingerprint = null)
{
    /// <summary>Engine-private data handed back in <see cref="ILeaderElection.LeaderUnreachable"/>.</summary>
    public object? EngineState { get; init; }
}
