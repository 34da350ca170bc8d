namespace ClusterSharing.Node.Membership;

/// <summary>What happened to a member in a view change.</summary>
internal enum MemberChangeKind
{
    Added,
    Updated,
    Removed,
}

/// <summary>One change a view update produced (the member as it is now, or as it was for a removal).</summary>
internal readonly record struct MemberChange(MemberChangeKind Kind, ClusterMember Member);

/// <summary>A member as the engine's registry shows it: its presence record and the version of its registration.</summary>
/// <param name="Member">The presence record (id, host, pid, weight, eligibility, joined).</param>
/// <param name="Version">Changes when the member registers anew (a new lease or key); the same while it stays registered.</param>
internal readonly record struct RegisteredMember(ClusterMember Member, long Version);

/// <summary>
/// A member's copy of the view, built from two sources: the leader's snapshots and changes (every scope), and on a
/// cluster scope the engine's registry of live members (<see cref="ApplyRegistry"/>). Every update reports the changes
/// it made (only real ones: a snapshot that repeats what is known reports nothing), and which members became or stopped
/// being masters. Not thread-safe: the owner locks.
/// </summary>
/// <remarks>
/// How the sources combine (cluster scope): a member is in the view when the leader lists it, or when it is registered
/// and the leader did not remove it since it registered. After the leader is lost (<see cref="LeaderLost"/>) and until
/// the next leader's snapshot, the old leader's list only counts for members still registered, so members that die
/// while there is no leader disappear with their registration. Details (advertisement, services, endpoint, leader)
/// come from the leader; a member only the registry knows shows its presence record. On a machine scope (no registry)
/// the view is the leader's.
/// </remarks>
internal sealed class MemberView
{
    private readonly Dictionary<string, ClusterMember> _listed = new(StringComparer.Ordinal);
    private readonly Dictionary<string, long> _dropped = new(StringComparer.Ordinal);
    private Dictionary<string, RegisteredMember>? _registered;
    private bool _stale;
    private Dictionary<string, ClusterMember> _members = new(StringComparer.Ordinal);
    private ClusterMember[]? _sorted;

    /// <param name="mastersRequired">How many members are masters (<see cref="ClusterClientOptions.MastersRequired"/>).</param>
    public MemberView(int mastersRequired = 1) => MastersRequired = Math.Max(1, mastersRequired);

    /// <summary>How many members are masters: the leader and the best-ranked eligible others.</summary>
    public int MastersRequired { get; }

    /// <summary>The leader's view version last applied.</summary>
    public long Version { get; private set; }

    public int Count => _members.Count;

    /// <summary>True once the engine's registry reported (a cluster scope).</summary>
    public bool HasRegistry => _registered is not null;

    /// <summary>The members, oldest first (then by id); the same array until the next change.</summary>
    public IReadOnlyList<ClusterMember> Members => _sorted ??= [.. _members.Values.OrderBy(m => m.JoinedAt).ThenBy(m => m.Id, StringComparer.Ordinal)];

    /// <summary>The member marked leader, or null.</summary>
    public ClusterMember? Leader
    {
        get
        {
            foreach (var member in _members.Values)
            {
                if (member.IsLeader) return member;
            }
            return null;
        }
    }

    public ClusterMember? Find(string id) => _members.GetValueOrDefault(id);

    /// <summary>True when the registry lists <paramref name="id"/> (false without a registry).</summary>
    public bool IsRegistered(string id) => _registered?.ContainsKey(id) == true;

    /// <summary>Replaces the leader's list: members missing from <paramref name="members"/> are removed (unless registered), new ones added, changed ones updated.</summary>
    public void ApplySnapshot(IReadOnlyCollection<ClusterMember> members, long version, List<MemberChange> changes, List<ClusterMember>? masters = null)
    {
        _listed.Clear();
        foreach (var member in members)
        {
            _listed[member.Id] = member;
            _dropped.Remove(member.Id);
        }
        _stale = false;
        Version = version;
        Recompute(changes, masters);
    }

    /// <summary>Adds new members and replaces changed ones (the leader's changes).</summary>
    public void Upsert(IReadOnlyCollection<ClusterMember> members, long version, List<MemberChange> changes, List<ClusterMember>? masters = null)
    {
        foreach (var member in members)
        {
            _listed[member.Id] = member;
            _dropped.Remove(member.Id);
        }
        Version = version;
        Recompute(changes, masters);
    }

    /// <summary>Removes the members with these ids (unknown ones are ignored): the leader saw them go.</summary>
    public void Remove(IReadOnlyCollection<string> ids, long version, List<MemberChange> changes, List<ClusterMember>? masters = null)
    {
        foreach (var id in ids)
        {
            _listed.Remove(id);
            // Still registered (its lease has not expired yet): hidden until it registers anew or a leader lists it again.
            if (_registered is not null && _registered.TryGetValue(id, out var registration)) _dropped[id] = registration.Version;
        }
        Version = version;
        Recompute(changes, masters);
    }

    /// <summary>The connection to the leader ended: until the next snapshot, its list counts only for registered members.</summary>
    public void LeaderLost(List<MemberChange> changes, List<ClusterMember>? masters = null)
    {
        if (_registered is null || _stale) return;
        _stale = true;
        Recompute(changes, masters);
    }

    /// <summary>The registry's live members now (all of them).</summary>
    public void ApplyRegistry(IReadOnlyCollection<RegisteredMember> live, List<MemberChange> changes, List<ClusterMember>? masters = null)
    {
        var registered = new Dictionary<string, RegisteredMember>(StringComparer.Ordinal);
        foreach (var member in live) registered[member.Member.Id] = member;
        _registered = registered;
        foreach (var (id, version) in _dropped.ToArray())
        {
            if (!registered.TryGetValue(id, out var now) || now.Version != version) _dropped.Remove(id);
        }
        Recompute(changes, masters);
    }

    /// <summary>Builds the view from the sources, marks the masters, and reports what differs from before.</summary>
    private void Recompute(List<MemberChange> changes, List<ClusterMember>? masters)
    {
        var next = new Dictionary<string, ClusterMember>(_listed.Count, StringComparer.Ordinal);
        foreach (var (id, member) in _listed)
        {
            if (_registered is null || !_stale || _registered.ContainsKey(id)) next[id] = member;
        }
        if (_registered is not null)
        {
            foreach (var (id, registration) in _registered)
            {
                if (next.ContainsKey(id) || _dropped.ContainsKey(id)) continue;
                var presence = registration.Member;
                // Known before (say the leader's details from before a failover): keep them, with the registry's preference.
                next[id] = _members.TryGetValue(id, out var known)
                    ? new ClusterMember(id, known.Host, known.ProcessId, known.Endpoint, presence.Weight, presence.Eligible, known.Advertisement, false,
                        known.JoinedAt, known.LastSeen, known.Revision, known.Services)
                    : presence;
            }
        }
        MarkMasters(next);

        foreach (var (id, old) in _members)
        {
            if (next.ContainsKey(id)) continue;
            changes.Add(new MemberChange(MemberChangeKind.Removed, old));
            if (old.IsMaster) masters?.Add(old.WithMaster(false));
        }
        foreach (var member in next.Values.OrderBy(m => m.JoinedAt).ThenBy(m => m.Id, StringComparer.Ordinal))
        {
            if (!_members.TryGetValue(member.Id, out var old))
            {
                changes.Add(new MemberChange(MemberChangeKind.Added, member));
                if (member.IsMaster) masters?.Add(member);
                continue;
            }
            if (!old.SameAs(member)) changes.Add(new MemberChange(MemberChangeKind.Updated, member));
            if (old.IsMaster != member.IsMaster) masters?.Add(member);
        }
        _members = next;
        _sorted = null;
    }

    /// <summary>The leader, then the best-ranked eligible members, up to <see cref="MastersRequired"/>, are masters.</summary>
    private void MarkMasters(Dictionary<string, ClusterMember> members)
    {
        var chosen = new HashSet<string>(StringComparer.Ordinal);
        foreach (var member in members.Values)
        {
            if (member.IsLeader) chosen.Add(member.Id);
        }
        if (chosen.Count < MastersRequired)
        {
            foreach (var member in members.Values.Where(m => m.Eligible && !chosen.Contains(m.Id)).Order(MemberRank.Instance))
            {
                chosen.Add(member.Id);
                if (chosen.Count >= MastersRequired) break;
            }
        }
        foreach (var member in members.Values.ToArray())
        {
            bool master = chosen.Contains(member.Id);
            if (member.IsMaster != master) members[member.Id] = member.WithMaster(master);
        }
    }
}

/// <summary>
/// The leader-preference order: higher <see cref="ClusterMember.Weight"/> first, then earlier <see cref="ClusterMember.JoinedAt"/>,
/// then the id (so every member ranks the same view the same way).
/// </summary>
internal sealed class MemberRank : IComparer<ClusterMember>
{
    public static readonly MemberRank Instance = new();

    public int Compare(ClusterMember? x, ClusterMember? y)
    {
        if (ReferenceEquals(x, y)) return 0;
        if (x is null) return 1;
        if (y is null) return -1;
        int byWeight = y.Weight.CompareTo(x.Weight);
        if (byWeight != 0) return byWeight;
        int byJoined = x.JoinedAt.CompareTo(y.JoinedAt);
        return byJoined != 0 ? byJoined : string.CompareOrdinal(x.Id, y.Id);
    }

    /// <summary>True when <paramref name="x"/> goes before <paramref name="y"/>.</summary>
    public static bool Before(ClusterMember x, ClusterMember y) => Instance.Compare(x, y) < 0;
}
