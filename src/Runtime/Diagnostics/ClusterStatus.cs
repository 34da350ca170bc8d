namespace ClusterSharing;

/// <summary>What the leader of a port reports to <see cref="ClusterInspector"/> (the <c>cluster-client status</c> tool).</summary>
/// <param name="LeaderProcessId">The leading process.</param>
/// <param name="Port">The port it leads.</param>
/// <param name="Epoch">The leadership epoch now in force.</param>
/// <param name="LeaderSince">When this leader's term began (the last failover, or the first election).</param>
/// <param name="LeaderAddress">Where it listens (address and port, or Unix socket path).</param>
/// <param name="Followers">The connections it serves, the inspector's own excluded.</param>
/// <param name="Channels">Its channels (contracts) and their subscriptions.</param>
public sealed record ClusterStatus(int LeaderProcessId, int Port, long Epoch, DateTimeOffset LeaderSince, string LeaderAddress,
    IReadOnlyList<FollowerStatus> Followers, IReadOnlyList<ChannelStatus> Channels);

/// <summary>One follower connection as the leader sees it.</summary>
/// <param name="Address">Its remote address (or the socket path side).</param>
/// <param name="ProcessId">Its process id as it registered it (null before it registered a channel).</param>
/// <param name="UserId">Its user id where the OS tells (Unix sockets, loopback TCP on Linux); null otherwise.</param>
/// <param name="Channels">The channels it registered.</param>
/// <param name="Calls">Invokes it has made on this connection.</param>
/// <param name="InFlight">Its calls running on the real client now.</param>
/// <param name="Connected">How long it has been connected.</param>
public sealed record FollowerStatus(string Address, int? ProcessId, uint? UserId, IReadOnlyList<string> Channels, long Calls, int InFlight, TimeSpan Connected);

/// <summary>One channel of the leader.</summary>
/// <param name="Name">The channel name.</param>
/// <param name="Ready">Whether its real client exists.</param>
/// <param name="Subscriptions">Its real subscriptions, one per distinct (member, registration key).</param>
public sealed record ChannelStatus(string Name, bool Ready, IReadOnlyList<SubscriptionStatus> Subscriptions);

/// <summary>One real subscription of the leader.</summary>
/// <param name="Method">The subscribe member (or event).</param>
/// <param name="Key">The registration, as JSON (shortened past 200 characters).</param>
/// <param name="Subscribers">Subscribers it fans out to (followers' and the leader's own).</param>
public sealed record SubscriptionStatus(string Method, string Key, int Subscribers);
