namespace ClusterSharing.Coordination;

/// <summary>
/// An election engine for one scope (a machine's port; later a cluster name on etcd or Redis). The node talks to this
/// only: it asks for the next step, leads while the term it was given stays valid, follows the address it was given,
/// and reports a leader it could not reach. Nothing above this interface knows which engine elected it.
/// </summary>
internal interface ILeaderElection : IAsyncDisposable
{
    /// <summary>For logs and error messages, e.g. "lease file /tmp/clusterclient-me/cc-7777.lease".</summary>
    string Description { get; }

    /// <summary>Decides this node's next step. Never blocks forever: honours <paramref name="cancellationToken"/>.</summary>
    /// <param name="mayLead">False for <see cref="ClusterRole.Follower"/>: the engine never campaigns then.</param>
    /// <param name="cancellationToken">Stops the decision (the node is closing).</param>
    Task<ElectionStep> NextAsync(bool mayLead, CancellationToken cancellationToken);

    /// <summary>
    /// The node could not reach, or lost, the leader it was told to follow (refused, handshake timeout, connection
    /// closed, silence). The engine uses it to decide when to take over (local: probe the endpoint, wait for a stale
    /// lease; etcd or Redis: nothing, the key's time to live decides).
    /// </summary>
    void LeaderUnreachable(LeaderAddress followed);
}
