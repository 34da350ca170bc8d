using System.Net;
using System.Net.Sockets;
using System.Security.Cryptography.X509Certificates;

namespace ClusterSharing.Coordination;

/// <summary>
/// One term of leadership held by this node. Keeping it is the engine's business (local lease: renewed from the
/// Liveness monitor thread; etcd: lease keep-alive; Redis: compare-and-renew script); the node only watches
/// <see cref="Lost"/> and disposes the term when it stops leading (which resigns it).
/// </summary>
internal interface ILeadershipTerm : IAsyncDisposable
{
    /// <summary>
    /// The fencing token: grows across the terms of one scope. 0 when the engine keeps no epoch (port competition
    /// without a usable lease file); the node then numbers its terms itself, above every epoch it has seen.
    /// </summary>
    long Epoch { get; }

    /// <summary>Bound and listening; the node's leader server takes it over (and closes it).</summary>
    Socket Listener { get; }

    /// <summary>What followers are told (the advertised address for a cluster scope).</summary>
    EndPoint Endpoint { get; }

    /// <summary>
    /// Fires, on a thread-pool thread, when the term ended without this node resigning (deposed, lease expired, engine
    /// unreachable past the safety deadline). It may race with a disposal: the node ignores a term it no longer holds.
    /// </summary>
    CancellationToken Lost { get; }

    /// <summary>Why the term was lost, once <see cref="Lost"/> fired (e.g. "the lease is now at epoch 7").</summary>
    string? LostReason { get; }

    /// <summary>The epoch of whoever holds the scope after this term was lost, when the engine saw it (else 0).</summary>
    long SuccessorEpoch { get; }

    /// <summary>Cheap synchronous fencing check: true only while the term is known to be valid now.</summary>
    bool IsCurrent { get; }

    /// <summary>
    /// The fencing check before each dispatch: <see cref="IsCurrent"/>, and when that is false because the term's
    /// validity lapsed (the process was stopped or starved past it) but the term may still be ours, a synchronous
    /// re-check against the engine where that is cheap (local lease: a compare-and-swap renewal in shared memory).
    /// False means: do not run anything under this term.
    /// </summary>
    bool Confirm() => IsCurrent;

    /// <summary>The TLS certificate the leader serves followers with (a cluster scope; its fingerprint is published with the endpoint); null: plain connections.</summary>
    X509Certificate2? Certificate => null;

    /// <summary>Gives the term up so a successor need not wait for it to expire. <see cref="IAsyncDisposable.DisposeAsync"/> resigns too.</summary>
    ValueTask ResignAsync(CancellationToken cancellationToken = default);
}
