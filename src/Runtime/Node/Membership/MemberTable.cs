using ClusterSharing.Protocol;

namespace ClusterSharing.Node.Membership;

/// <summary>How an announcement changed the leader's table.</summary>
internal enum AnnounceOutcome
{
    /// <summary>A new member.</summary>
    Added,

    /// <summary>A known member on a new link (re-attached after a failover or a reconnect); its record may have changed.</summary>
    Attached,

    /// <summary>A known member on its link changed its record.</summary>
    Updated,

    /// <summary>Nothing changed.</summary>
    Unchanged,
}

/// <summary>
/// The leader's member table: who is a member, on which link, and which message channels each has joined. After a
/// failover it is seeded with the previous view: those members stay (pending) until they re-attach or their rejoin
/// deadline passes, so members that only reconnect are never reported removed. Not thread-safe: the hub locks.
/// </summary>
/// <typeparam name="TLink">How the leader reaches a member.</typeparam>
internal sealed class MemberTable<TLink> where TLink : class
{
    private readonly Dictionary<string, Entry> _entries = new(StringComparer.Ordinal);
    private readonly Dictionary<TLink, string> _byLink = new(ReferenceEqualityComparer.Instance);

    public int Count => _entries.Count;

    /// <summary>Every member, attached or pending.</summary>
    public IReadOnlyCollection<ClusterMember> Members => [.. _entries.Values.Select(e => e.Member)];

    /// <summary>Links of attached members.</summary>
    public IEnumerable<TLink> Links => _byLink.Keys;

    /// <summary>Members of the previous view, kept until <paramref name="deadline"/> (a timestamp) unless they re-attach first.</summary>
    public void Seed(IEnumerable<ClusterMember> previous, long deadline)
    {
        foreach (var member in previous)
        {
            if (!_entries.ContainsKey(member.Id)) _entries.Add(member.Id, new Entry(member.With(false, member.LastSeen)) { Deadline = deadline });
        }
    }

    /// <summary>Records <paramref name="member"/> (as the leader publishes it) on <paramref name="link"/>.</summary>
    /// <param name="link">The link it announced itself on.</param>
    /// <param name="member">Its record.</param>
    /// <param name="replaced">The link the member was attached on before, when it moved to this one (its close must not remove it).</param>
    /// <exception cref="ProtocolException">The link announced another id before.</exception>
    public AnnounceOutcome Announce(TLink link, ClusterMember member, out TLink? replaced)
    {
        replaced = null;
        if (_byLink.TryGetValue(link, out var knownId))
        {
            if (knownId != member.Id)
                throw new ProtocolException(ProtocolErrorReason.UnexpectedPacket, $"A connection that joined as member {knownId} announced itself as {member.Id}.");
            var entry = _entries[knownId];
            bool changed = !entry.Member.SameAs(member);
            entry.Member = member;
            return changed ? AnnounceOutcome.Updated : AnnounceOutcome.Unchanged;
        }
        if (_entries.TryGetValue(member.Id, out var existing))
        {
            if (existing.Link is { } old && !ReferenceEquals(old, link))
            {
                _byLink.Remove(old);
                replaced = old;
            }
            existing.Member = member;
            existing.Link = link;
            existing.Deadline = 0;
            existing.Channels.Clear();
            _byLink[link] = member.Id;
            return AnnounceOutcome.Attached;
        }
        _entries.Add(member.Id, new Entry(member) { Link = link });
        _byLink[link] = member.Id;
        return AnnounceOutcome.Added;
    }

    /// <summary>The link closed; returns the member removed, or null when the link carried none (or was replaced).</summary>
    public ClusterMember? Detach(TLink link)
    {
        if (!_byLink.Remove(link, out var id)) return null;
        _entries.Remove(id, out var entry);
        return entry?.Member;
    }

    /// <summary>Removes pending members whose rejoin deadline is before <paramref name="now"/>; returns them.</summary>
    public List<ClusterMember> Expire(long now)
    {
        var gone = new List<ClusterMember>();
        foreach (var entry in _entries.Values)
        {
            if (entry.Link is null && entry.Deadline != 0 && entry.Deadline <= now) gone.Add(entry.Member);
        }
        foreach (var member in gone) _entries.Remove(member.Id);
        return gone;
    }

    /// <summary>Removes pending members (not re-attached) for which <paramref name="alive"/> is false; returns them.</summary>
    public List<ClusterMember> RemovePending(Func<string, bool> alive)
    {
        var gone = new List<ClusterMember>();
        foreach (var entry in _entries.Values)
        {
            if (entry.Link is null && !alive(entry.Member.Id)) gone.Add(entry.Member);
        }
        foreach (var member in gone) _entries.Remove(member.Id);
        return gone;
    }

    /// <summary>True while some member is pending (the hub keeps checking deadlines).</summary>
    public bool HasPending => _entries.Values.Any(e => e.Link is null);

    /// <summary>The member on <paramref name="link"/>, or null.</summary>
    public string? IdOf(TLink link) => _byLink.GetValueOrDefault(link);

    /// <summary>The link of an attached member, or null (unknown or pending).</summary>
    public TLink? LinkOf(string id) => _entries.TryGetValue(id, out var entry) ? entry.Link : null;

    /// <summary>Joins or leaves a channel for the member on <paramref name="link"/>.</summary>
    /// <exception cref="ProtocolException">The link is not a member, or it joined too many channels.</exception>
    public void SetChannel(TLink link, string channel, bool joined)
    {
        if (!_byLink.TryGetValue(link, out var id))
            throw new ProtocolException(ProtocolErrorReason.UnexpectedPacket, "A channel join came from a connection that is not a member.");
        var channels = _entries[id].Channels;
        if (!joined)
        {
            channels.Remove(channel);
            return;
        }
        if (channels.Count >= MembershipLimits.MaxChannelsPerMember && !channels.Contains(channel))
            throw new ProtocolException(ProtocolErrorReason.UnexpectedPacket, $"Member {id} joined more than {MembershipLimits.MaxChannelsPerMember} channels.");
        channels.Add(channel);
    }

    /// <summary>Links of the attached members joined to <paramref name="channel"/>, except <paramref name="except"/>.</summary>
    public List<TLink> JoinedTo(string channel, TLink? except)
    {
        var links = new List<TLink>();
        foreach (var entry in _entries.Values)
        {
            if (entry.Link is { } link && !ReferenceEquals(link, except) && entry.Channels.Contains(channel)) links.Add(link);
        }
        return links;
    }

    private sealed class Entry(ClusterMember member)
    {
        public ClusterMember Member { get; set; } = member;

        public TLink? Link { get; set; }

        /// <summary>For a pending member (no link): when it is given up; 0 once attached.</summary>
        public long Deadline { get; set; }

        public HashSet<string> Channels { get; } = new(StringComparer.Ordinal);
    }
}
