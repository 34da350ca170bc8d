using System.Buffers;
using System.Diagnostics;
using ClusterSharing.Leader;
using ClusterSharing.Protocol;
using Microsoft.Extensions.Logging;

namespace ClusterSharing.Node.Membership.Keys;

/// <summary>
/// The leader's side of leadership per key for one term: which member holds which key, who owns each key (weighted
/// rendezvous hashing over the live eligible members that hold it), and the fenced handover between owners. Every
/// owner change goes to every member (<see cref="PacketType.KeyOwners"/>) in one order, so their owner views agree.
/// </summary>
/// <remarks>
/// Rules (docs/keys.md): a key is granted only when nobody may own it any more: the previous owner acknowledged the
/// release (<see cref="PacketType.KeyRelease"/>), or its lease lapsed (no renewal received for Lease + Margin); and no
/// key is granted in the first Lease + Margin of a term, when owners of the previous leader may still hold leases.
/// Renewals are acknowledged only while this process's term is confirmed, so no lease outlives the term that granted it
/// by more than Lease. Lock order: the hub's lock, then this one, then a member's holder (through its link).
/// </remarks>
internal sealed class KeyCoordinator : IDisposable
{
    private readonly object _gate = new();
    private readonly Dictionary<string, MemberKeys> _members = new(StringComparer.Ordinal);
    private readonly Dictionary<IMemberLink, MemberKeys> _byLink = new(ReferenceEqualityComparer.Instance);
    private readonly Dictionary<string, KeyState> _keys = new(StringComparer.Ordinal);
    private readonly HashSet<string> _pending = new(StringComparer.Ordinal); // waiting for a release, a lapse or the start fence: re-checked each tick
    private readonly HashSet<string> _dirty = new(StringComparer.Ordinal);   // changed by the event being handled
    private readonly List<KeyOwnerEntry> _changes = new();
    private readonly Func<long> _epoch;
    private readonly Func<bool> _termValid;
    private readonly KeyTimings _timings;
    private readonly ILogger _logger;
    private readonly long _grantAfter;
    private readonly Timer _timer;
    private string[] _live = [];
    private bool _fullPass;
    private long _counter;
    private long _version;
    private bool _disposed;

    /// <param name="epoch">The leader's epoch (key epochs are built on it).</param>
    /// <param name="termValid">True while this process's term is confirmed; renewals are acknowledged only then.</param>
    /// <param name="timings">Lease, margin and timer period.</param>
    /// <param name="logger">The membership logger.</param>
    public KeyCoordinator(Func<long> epoch, Func<bool> termValid, KeyTimings timings, ILogger logger)
    {
        _epoch = epoch;
        _termValid = termValid;
        _timings = timings;
        _logger = logger;
        _grantAfter = Stopwatch.GetTimestamp() + timings.Lease + timings.Margin;
        KeysLog.Fenced(logger, epoch(), (timings.Lease + timings.Margin) * 1000.0 / Stopwatch.Frequency);
        _timer = new Timer(static state => ((KeyCoordinator)state!).OnTick(), this, timings.Tick, timings.Tick);
    }

    /// <summary>The owners as the leader has them now (tests).</summary>
    public IReadOnlyDictionary<string, string> Owners
    {
        get
        {
            lock (_gate) return _keys.Where(k => k.Value.Owner is not null).ToDictionary(k => k.Key, k => k.Value.Owner!, StringComparer.Ordinal);
        }
    }

    // ---- from the hub (under its lock) ----

    /// <summary>A member announced itself (added, re-attached on a new link, or updated) on <paramref name="link"/>.</summary>
    public void OnMember(IMemberLink link, ClusterMember member)
    {
        lock (_gate)
        {
            if (_disposed) return;
            if (!_members.TryGetValue(member.Id, out var state)) _members.Add(member.Id, state = new MemberKeys(member.Id));
            if (!ReferenceEquals(state.Link, link))
            {
                if (state.Link is not null) _byLink.Remove(state.Link);
                state.Link = link;
                state.Synced = false;
                _byLink[link] = state;
                DropHolds(state);
            }
            if (state.Weight != member.Weight || state.Eligible != member.Eligible)
            {
                state.Weight = member.Weight;
                state.Eligible = member.Eligible;
                _fullPass = true;
            }
        }
    }

    /// <summary>The member on <paramref name="link"/> is gone: it holds nothing now; its keys move once its lease lapsed.</summary>
    public void OnLinkClosed(IMemberLink link)
    {
        lock (_gate)
        {
            if (_disposed || !_byLink.Remove(link, out var state)) return;
            state.Link = null;
            state.Synced = false;
            DropHolds(state);
            _fullPass = true;
            ReconcileLocked();
        }
    }

    // ---- frames from members ----

    /// <summary>A key packet from <paramref name="from"/> (a follower session's read loop, or this process's own holder).</summary>
    /// <exception cref="ProtocolException">The packet is malformed or comes from a link that is not a member.</exception>
    public void OnFrame(IMemberLink from, PacketType type, in KeysHeader header, ReadOnlySequence<byte> body, Serialization.DecodingLimits limits)
    {
        switch (type)
        {
            case PacketType.KeyHold:
                var (added, removed) = KeyCodec.DecodeHold(body, limits);
                lock (_gate) OnHoldLocked(Member(from), header.Kind == 0, added, removed);
                break;
            case PacketType.KeyRelease:
                var releases = KeyCodec.DecodeReleases(body, limits);
                lock (_gate) OnReleaseLocked(Member(from), releases);
                break;
            case PacketType.KeyRenew:
                lock (_gate) OnRenewLocked(Member(from), header.Sequence);
                break;
            default:
                throw new ProtocolException(ProtocolErrorReason.UnexpectedPacket, $"{type} is not a key packet a member sends.");
        }
    }

    private MemberKeys? Member(IMemberLink from)
    {
        lock (_gate)
        {
            if (_disposed) return null;
            return _byLink.TryGetValue(from, out var state) ? state
                : throw new ProtocolException(ProtocolErrorReason.UnexpectedPacket, "A key packet came from a connection that is not a member.");
        }
    }

    private void OnHoldLocked(MemberKeys? member, bool replace, List<string> added, List<string> removed)
    {
        if (member is null || _disposed) return;
        if (replace) DropHolds(member);
        foreach (var key in removed)
        {
            if (!member.Holds.Remove(key) || !_keys.TryGetValue(key, out var state)) continue;
            state.Holders.Remove(member.Id);
            _dirty.Add(key);
        }
        foreach (var key in added)
        {
            if (member.Holds.Count >= KeyLimits.MaxKeysPerMember)
                throw new ProtocolException(ProtocolErrorReason.UnexpectedPacket, $"Member {member.Id} holds more than {KeyLimits.MaxKeysPerMember} keys.");
            if (!member.Holds.Add(key)) continue;
            if (!_keys.TryGetValue(key, out var state)) _keys.Add(key, state = new KeyState());
            state.Holders.Add(member.Id);
            _dirty.Add(key);
        }
        ReconcileLocked();
        if (!member.Synced && member.Link is { } link)
        {
            // The first hold on a link: the whole owner view, then every change after it.
            var all = new List<KeyOwnerEntry>(_keys.Count);
            foreach (var (key, state) in _keys) all.Add(new KeyOwnerEntry(key, state.Owner, state.Epoch));
            link.SendKeys(PacketType.KeyOwners, new KeysHeader(_epoch(), 0, _version), KeyCodec.EncodeOwners(all));
            member.Synced = true;
        }
    }

    private void OnReleaseLocked(MemberKeys? member, List<(string Key, long Epoch)> releases)
    {
        if (member is null || _disposed) return;
        foreach (var (key, epoch) in releases)
        {
            if (!_keys.TryGetValue(key, out var state)) continue;
            if (state.Releasing == member.Id && state.Epoch == epoch) state.Releasing = null;
            else if (state.Owner == member.Id && state.Epoch == epoch)
            {
                state.Owner = null;
                _changes.Add(new KeyOwnerEntry(key, null, epoch));
            }
            else continue;
            _dirty.Add(key);
        }
        ReconcileLocked();
    }

    private void OnRenewLocked(MemberKeys? member, long sequence)
    {
        if (member is null || _disposed || member.Link is not { } link) return;
        // Only a confirmed term extends a lease: a deposed leader that has not noticed yet grants nothing.
        if (!_termValid()) return;
        long now = Stopwatch.GetTimestamp();
        bool wasLive = IsLive(member, now);
        member.LastRenew = now;
        link.SendKeys(PacketType.KeyRenewAck, new KeysHeader(_epoch(), 0, sequence), default);
        if (!wasLive && member.Eligible)
        {
            _fullPass = true;
            ReconcileLocked();
        }
    }

    private void DropHolds(MemberKeys member)
    {
        foreach (var key in member.Holds)
        {
            if (!_keys.TryGetValue(key, out var state)) continue;
            state.Holders.Remove(member.Id);
            _dirty.Add(key);
        }
        member.Holds.Clear();
    }

    // ---- the assignment ----

    private void OnTick()
    {
        lock (_gate)
        {
            if (_disposed) return;
            ReconcileLocked(tick: true);
        }
    }

    private bool IsLive(MemberKeys m, long now) => m.Link is not null && m.Eligible && m.LastRenew != 0 && now - m.LastRenew < _timings.Lease;

    private bool HasLapsed(MemberKeys m, long now) => m.LastRenew == 0 || now - m.LastRenew > _timings.Lease + _timings.Margin;

    /// <summary>
    /// Brings the keys the current event changed (on a tick: also the keys waiting for a release, a lapse or the start
    /// fence; all keys when members or their liveness changed) to their owners, then sends the changes.
    /// </summary>
    private void ReconcileLocked(bool tick = false)
    {
        long now = Stopwatch.GetTimestamp();
        var live = new List<MemberKeys>();
        foreach (var member in _members.Values)
        {
            if (IsLive(member, now)) live.Add(member);
        }
        live.Sort(static (a, b) => string.CompareOrdinal(a.Id, b.Id));
        string[] liveIds = [.. live.Select(m => m.Id)];
        if (!liveIds.AsSpan().SequenceEqual(_live))
        {
            _live = liveIds;
            _fullPass = true;
            KeysLog.LiveChanged(_logger, string.Join(",", liveIds));
        }
        var candidates = new KeyCandidate[live.Count];
        for (int i = 0; i < live.Count; i++) candidates[i] = KeyCandidate.Of(live[i].Id, live[i].Weight);
        var holding = new KeyCandidate[live.Count];

        IEnumerable<string> keys;
        if (_fullPass) keys = [.. _keys.Keys];
        else if (tick) keys = [.. _pending.Union(_dirty)];
        else keys = [.. _dirty];
        if (_fullPass || tick) _pending.Clear();
        _fullPass = false;
        _dirty.Clear();
        Dictionary<string, int>? lapsed = null;
        foreach (var key in keys)
        {
            if (!_keys.TryGetValue(key, out var state)) continue;
            int n = 0;
            for (int i = 0; i < live.Count; i++)
            {
                if (state.Holders.Contains(live[i].Id)) holding[n++] = candidates[i];
            }
            string? desired = RendezvousHashing.Owner(key, holding.AsSpan(0, n));
            if (state.Releasing is { } releasing && (!_members.TryGetValue(releasing, out var r) || HasLapsed(r, now))) state.Releasing = null;
            if (state.Owner is { } owner && owner != desired)
            {
                var o = _members.GetValueOrDefault(owner);
                if (o is null || HasLapsed(o, now))
                {
                    state.Owner = null;
                    _changes.Add(new KeyOwnerEntry(key, null, state.Epoch));
                    if (o is not null && o.Link is not null) (lapsed ??= new())[owner] = lapsed.GetValueOrDefault(owner) + 1;
                }
                else if (o.Link is not null)
                {
                    // Ask it to let go (it sees the key without owner), and wait for its release or its lapse.
                    state.Releasing = owner;
                    state.Owner = null;
                    KeysLog.Revoking(_logger, key, owner, desired);
                    _changes.Add(new KeyOwnerEntry(key, null, state.Epoch));
                }
                // Else its link closed but its lease may still run: wait.
            }
            if (state.Owner is null && state.Releasing is null)
            {
                if (desired is not null && now >= _grantAfter)
                {
                    state.Owner = desired;
                    state.Epoch = NextEpoch();
                    _changes.Add(new KeyOwnerEntry(key, desired, state.Epoch));
                }
                else if (state.Holders.Count == 0)
                {
                    _keys.Remove(key);
                    _changes.Add(new KeyOwnerEntry(key, null, 0));
                    continue;
                }
            }
            if (state.Owner != desired) _pending.Add(key);
            else _pending.Remove(key);
        }
        if (lapsed is not null)
        {
            foreach (var (id, count) in lapsed) KeysLog.OwnerLapsed(_logger, id, (now - _members[id].LastRenew) * 1000.0 / Stopwatch.Frequency, count);
        }
        if (tick) ForgetGoneMembers();
        FlushLocked();
    }

    /// <summary>Key epochs: the leader epoch in the high 32 bits, a counter of this term in the low ones, so they grow across leaders.</summary>
    private long NextEpoch() => (_epoch() << 32) | (++_counter & 0xFFFF_FFFF);

    private void ForgetGoneMembers()
    {
        List<string>? gone = null;
        foreach (var member in _members.Values)
        {
            if (member.Link is null && member.Holds.Count == 0 && !_keys.Values.Any(k => k.Owner == member.Id || k.Releasing == member.Id)) (gone ??= []).Add(member.Id);
        }
        if (gone is null) return;
        foreach (var id in gone) _members.Remove(id);
    }

    private void FlushLocked()
    {
        if (_changes.Count == 0) return;
        var header = new KeysHeader(_epoch(), 1, ++_version);
        byte[] body = KeyCodec.EncodeOwners(_changes);
        _changes.Clear();
        foreach (var member in _byLink.Values.ToArray())
        {
            if (member.Synced) member.Link?.SendKeys(PacketType.KeyOwners, header, body);
        }
    }

    public void Dispose()
    {
        lock (_gate) _disposed = true;
        _timer.Dispose();
    }

    private sealed class MemberKeys(string id)
    {
        public string Id { get; } = id;

        public IMemberLink? Link { get; set; }

        public int Weight { get; set; }

        public bool Eligible { get; set; }

        public bool Synced { get; set; }

        public long LastRenew { get; set; }

        public HashSet<string> Holds { get; } = new(StringComparer.Ordinal);
    }

    private sealed class KeyState
    {
        public HashSet<string> Holders { get; } = new(StringComparer.Ordinal);

        public string? Owner { get; set; }

        public long Epoch { get; set; }

        /// <summary>The previous owner that was asked to let go and has not acknowledged it yet (nor lapsed).</summary>
        public string? Releasing { get; set; }
    }
}
