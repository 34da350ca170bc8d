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

/// <summary>
/// A member's copy of the view, as the leader's snapshots and changes build it; every update reports the changes it
/// made (only real ones: a snapshot that repeats what is known reports nothing). Not thread-safe: the owner locks.
/// </summary>
internal sealed class MemberView
{
    private readonly Dictionary<string, ClusterMember> _members = new(StringComparer.Ordinal);
    private ClusterMember[]? _sorted;

    /// <summary>The leader's view version last applied.</summary>
    public long Version { get; private set; }

    public int Count => _members.Count;

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

    /// <summary>Replaces the view: members missing from <paramref name="members"/> are removed, new ones added, changed ones updated.</summary>
    public void ApplySnapshot(IReadOnlyCollection<ClusterMember> members, long version, List<MemberChange> changes)
    {
        var incoming = new HashSet<string>(StringComparer.Ordinal);
        foreach (var member in members) incoming.Add(member.Id);
        foreach (var existing in _members.Values.ToArray())
        {
            if (incoming.Contains(existing.Id)) continue;
            _members.Remove(existing.Id);
            changes.Add(new MemberChange(MemberChangeKind.Removed, existing));
        }
        Upsert(members, version, changes);
    }

    /// <summary>Adds new members and replaces changed ones.</summary>
    public void Upsert(IReadOnlyCollection<ClusterMember> members, long version, List<MemberChange> changes)
    {
        foreach (var member in members)
        {
            if (_members.TryGetValue(member.Id, out var existing))
            {
                _members[member.Id] = member;
                if (!existing.SameAs(member)) changes.Add(new MemberChange(MemberChangeKind.Updated, member));
            }
            else
            {
                _members.Add(member.Id, member);
                changes.Add(new MemberChange(MemberChangeKind.Added, member));
            }
        }
        Version = version;
        _sorted = null;
    }

    /// <summary>Removes the members with these ids (unknown ones are ignored).</summary>
    public void Remove(IReadOnlyCollection<string> ids, long version, List<MemberChange> changes)
    {
        foreach (var id in ids)
        {
            if (_members.Remove(id, out var gone)) changes.Add(new MemberChange(MemberChangeKind.Removed, gone));
        }
        Version = version;
        _sorted = null;
    }
}
