namespace ClusterSharing;

/// <summary>What a contract member does on the wire.</summary>
public enum ClusterMethodKind : byte
{
    /// <summary>Request/response.</summary>
    Invoke = 1,
    /// <summary>Fire-and-forget.</summary>
    Oneway = 2,
    /// <summary>Subscription with a listener or an async stream.</summary>
    Subscribe = 3,
    /// <summary>Removes a subscription.</summary>
    Unsubscribe = 4,
    /// <summary>Publication to the real client, replayed after failover.</summary>
    Publish = 5,
    /// <summary>Closes this process's handle.</summary>
    Close = 6,
    /// <summary>An <c>event</c> member raised by the real client.</summary>
    Event = 7,
}

/// <summary>Which role a process may take.</summary>
public enum ClusterRole
{
    /// <summary>Compete for leadership; the winner leads, the others follow.</summary>
    Auto = 0,
    /// <summary>Only lead: fail if another process holds the port.</summary>
    Leader = 1,
    /// <summary>Only follow: wait up to <see cref="ClusterClientOptions.MaxWaitTime"/> for a leader.</summary>
    Follower = 2,
}

/// <summary>How the proxy for a contract is obtained.</summary>
public enum ProxyGenerationMode
{
    /// <summary>Use source-generated code when present, else the Castle.Core dynamic proxy.</summary>
    PreferGenerated = 0,
    /// <summary>Require source-generated code (trimmed and AOT apps); fail clearly if it is missing.</summary>
    AlwaysGenerated = 1,
    /// <summary>Always use the Castle.Core dynamic proxy and reflection-based formatters.</summary>
    AlwaysDynamic = 2,
}
