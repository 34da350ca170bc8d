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

/// <summary>Marks <c>void M(TReg reg, Action&lt;T&gt; listener)</c> or <c>IAsyncEnumerable&lt;T&gt; M(TReg reg, CancellationToken ct)</c> as a subscription.</summary>
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
public sealed class PublishAttribute : Attribute { }

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
