namespace ClusterSharing.Coordination;

/// <summary>What a node should do next, as decided by an <see cref="ILeaderElection"/>.</summary>
internal abstract record ElectionStep;

/// <summary>This node won: serve on <see cref="ILeadershipTerm.Listener"/> until the term is lost or the node disposes it.</summary>
internal sealed record LeadStep(ILeadershipTerm Term) : ElectionStep;

/// <summary>Another node leads: connect to <see cref="LeaderAddress.Endpoint"/>.</summary>
internal sealed record FollowStep(LeaderAddress Leader) : ElectionStep;

/// <summary>Nothing to do yet; <paramref name="Status"/> says why (used in ReadyAsync errors); look again after <paramref name="Delay"/>.</summary>
internal sealed record WaitStep(string Status, TimeSpan Delay) : ElectionStep;
