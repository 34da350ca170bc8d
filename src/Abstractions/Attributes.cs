namespace ClusterSharing;

/// <summary>
/// Marks an interface whose implementation can be shared by many processes through one leader.
/// The source generator emits a follower proxy, a leader dispatcher and formatters for it.
/// </summary>
[AttributeUsage(AttributeTargets.Interface, Inherited = false)]
public sealed class ClusterDelegateAttribute : Attribute
{
    /// <summary>Channel name used on the wire; defaults to the interface's full name.</summary>
    public string? Name { get; set; }
}

/// <summary>
/// Marks <c>void M(TReg reg, Action&lt;T&gt; listener)</c> or <c>IAsyncEnumerable&lt;T&gt; M(TReg reg, CancellationToken ct)</c> as a
/// subscription; also the awaitable forms <c>Task M(TReg reg, Action&lt;T&gt; listener[, CancellationToken ct])</c> and
/// <c>Task&lt;IAsyncEnumerable&lt;T&gt;&gt; M(TReg reg[, CancellationToken ct])</c> (or <c>ValueTask</c>), which complete once the
/// leader's real client holds the subscription.
/// </summary>
[AttributeUsage(AttributeTargets.Method, Inherited = false)]
public sealed class SubscribeAttribute : Attribute
{
    /// <summary>When false, each value goes to one subscribed process instead of all (cluster-client's <c>isBroadcast: false</c>).</summary>
    public bool Broadcast { get; set; } = true;
}

/// <summary>Marks <c>void M(TReg reg, Action&lt;T&gt;? listener)</c> as the unsubscribe of a subscription with the same registration type.</summary>
[AttributeUsage(AttributeTargets.Method, Inherited = false)]
public sealed class UnsubscribeAttribute : Attribute { }

/// <summary>Marks <c>void M(TReg reg)</c> as a publication: it reaches the leader's real client and is re-published after failover.</summary>
[AttributeUsage(AttributeTargets.Method, Inherited = false)]
public sealed class PublishAttribute : Attribute
{
    /// <summary>
    /// When true, a publication supersedes the earlier ones with the same key: after a failover only the latest one per
    /// key is re-published (in the order they were made), and one waiting for this process's own real client replaces
    /// an older one still waiting. The key is the member alone for <c>void M(TValue value)</c>, and the member plus the
    /// first argument for <c>void M(TKey key, TValue value)</c>. False (the default): every distinct publication (by
    /// its argument bytes) is remembered and re-published.
    /// </summary>
    public bool LastValue { get; set; }
}

/// <summary>Marks a method as fire-and-forget (cluster-client's <c>invokeOneway</c>): no reply is awaited.</summary>
[AttributeUsage(AttributeTargets.Method, Inherited = false)]
public sealed class OnewayAttribute : Attribute { }

/// <summary>Marks the method that closes this process's handle on the shared client.</summary>
[AttributeUsage(AttributeTargets.Method, Inherited = false)]
public sealed class CloseAttribute : Attribute { }

/// <summary>
/// Declares a call safe to repeat: if the leader dies while it is in flight, it is retried on the
/// new leader within its timeout instead of failing with <see cref="LeaderLostException"/>.
/// </summary>
[AttributeUsage(AttributeTargets.Method, Inherited = false)]
public sealed class IdempotentAttribute : Attribute { }

/// <summary>Overrides <see cref="ClusterClientOptions.ResponseTimeout"/> for one method.</summary>
[AttributeUsage(AttributeTargets.Method, Inherited = false)]
public sealed class TimeoutAttribute : Attribute
{
    /// <summary>Creates the attribute.</summary>
    /// <param name="milliseconds">The per-call timeout in milliseconds; must be positive.</param>
    public TimeoutAttribute(int milliseconds) => Milliseconds = milliseconds;

    /// <summary>The per-call timeout in milliseconds.</summary>
    public int Milliseconds { get; }
}
