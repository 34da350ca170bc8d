namespace ClusterSharing.Proxies;

/// <summary>One member of a contract as it is known on the wire.</summary>
public sealed class ClusterMethod
{
    /// <summary>Creates a method description (called by generated code and the dynamic fallback).</summary>
    /// <param name="id">Stable id: <see cref="ClusterMethodId.Compute"/> of <paramref name="signature"/>.</param>
    /// <param name="name">The member's name, for messages.</param>
    /// <param name="signature">The canonical signature the id was computed from.</param>
    /// <param name="kind">What the member does.</param>
    /// <param name="timeoutMilliseconds">The <see cref="TimeoutAttribute"/> value, or 0 for the option's default.</param>
    /// <param name="idempotent">Whether <see cref="IdempotentAttribute"/> is present.</param>
    /// <param name="broadcast">For subscriptions: every subscriber (true) or one of them (false).</param>
    /// <param name="pairedId">For an unsubscribe: the id of the subscribe it undoes; otherwise 0.</param>
    /// <param name="awaitable">For subscriptions: the member returns a task that completes once the leader's real client holds the subscription.</param>
    /// <param name="lastValue">For publications: <see cref="PublishAttribute.LastValue"/>.</param>
    public ClusterMethod(uint id, string name, string signature, ClusterMethodKind kind,
        int timeoutMilliseconds = 0, bool idempotent = false, bool broadcast = true, uint pairedId = 0, bool awaitable = false, bool lastValue = false)
    {
        Awaitable = awaitable;
        LastValue = lastValue;
        Id = id;
        Name = name;
        Signature = signature;
        Kind = kind;
        TimeoutMilliseconds = timeoutMilliseconds;
        Idempotent = idempotent;
        Broadcast = broadcast;
        PairedId = pairedId;
    }

    /// <summary>Stable id on the wire.</summary>
    public uint Id { get; }

    /// <summary>The member's name.</summary>
    public string Name { get; }

    /// <summary>The canonical signature the id is computed from.</summary>
    public string Signature { get; }

    /// <summary>What the member does.</summary>
    public ClusterMethodKind Kind { get; }

    /// <summary>Per-method timeout in milliseconds; 0 means <see cref="ClusterClientOptions.ResponseTimeout"/>.</summary>
    public int TimeoutMilliseconds { get; }

    /// <summary>Safe to retry on a new leader.</summary>
    public bool Idempotent { get; }

    /// <summary>For subscriptions: deliver to every subscriber (true) or to one (false).</summary>
    public bool Broadcast { get; }

    /// <summary>For an unsubscribe, the id of the subscribe it undoes; otherwise 0.</summary>
    public uint PairedId { get; }

    /// <summary>
    /// For subscriptions: the member returns <c>Task</c>/<c>ValueTask</c> (listener form) or a task of the stream, which
    /// completes once the leader's real client holds the subscription; the leader acknowledges it (SubscribeResult kind
    /// <c>Attached</c>).
    /// </summary>
    public bool Awaitable { get; }

    /// <summary>
    /// For publications: a publication supersedes the earlier ones with the same key (the member, plus the first argument
    /// when there are two), so only the latest per key is re-published after a failover.
    /// </summary>
    public bool LastValue { get; }

    /// <inheritdoc/>
    public override string ToString() => $"{Name} ({Kind}, 0x{Id:x8})";
}
