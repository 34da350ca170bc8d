namespace ClusterSharing.Coordination;

/// <summary>One member as an engine's registry holds it.</summary>
/// <param name="Id">The member id (the key's last segment, or the hash field).</param>
/// <param name="Version">Changes when the member registers anew (a new lease or a new registration); the same while it stays registered.</param>
/// <param name="Record">The member's presence record, as the member wrote it (decoded and checked by the membership).</param>
internal readonly record struct MemberRegistration(string Id, long Version, ReadOnlyMemory<byte> Record);

/// <summary>
/// An engine's registry of live members on a cluster scope: each member keeps one entry alive under a lease (etcd) or a
/// time to live (Redis) and every member watches them all, so members appear within the lease TTL and are visible even
/// while there is no leader. The entries are presence only; what members advertise and say travels through the leader.
/// </summary>
internal interface IMemberRegistry : IAsyncDisposable
{
    /// <summary>For logs, e.g. "etcd http://127.0.0.1:2379 prefix /cluster-client/orders/members/".</summary>
    string Description { get; }

    /// <summary>Starts keeping this member's entry alive and watching every entry.</summary>
    /// <param name="id">This member's id.</param>
    /// <param name="record">Its presence record.</param>
    /// <param name="changed">
    /// Called with every live entry (all of them) whenever they change, and after each reconnection; one call at a time,
    /// on a pool thread.
    /// </param>
    void Start(string id, ReadOnlyMemory<byte> record, Action<IReadOnlyCollection<MemberRegistration>> changed);

    /// <summary>Replaces this member's record (its weight or eligibility changed).</summary>
    void Update(ReadOnlyMemory<byte> record);
}
