using System.Buffers;
using System.Diagnostics;
using ClusterSharing.Leader;
using ClusterSharing.Protocol;
using Microsoft.Extensions.Logging;

namespace ClusterSharing.Node.Membership;

/// <summary>
/// The leader's side of membership for one term: the table, the view changes it sends to every member (the leading
/// process included, through its own <see cref="IMemberLink"/>), and the relay of messages and acknowledgements.
/// Everything happens under one lock, in the order frames arrive, so each member sees the changes in the same order
/// and each sender's messages keep theirs.
/// </summary>
internal sealed class LeaderMemberHub : IMemberHub, IDisposable
{
    private readonly object _gate = new();
    private readonly MemberTable<IMemberLink> _table = new();
    private readonly IMemberLink _self;
    private readonly Func<long> _epoch;
    private readonly ILogger _logger;
    private readonly Timer _expiry;
    private long _version;
    private bool _disposed;

    /// <param name="self">The leading process's own link (it is a member too).</param>
    /// <param name="epoch">The leader's epoch, stamped on what it sends.</param>
    /// <param name="logger">The node's logger.</param>
    public LeaderMemberHub(IMemberLink self, Func<long> epoch, ILogger logger)
    {
        _self = self;
        _epoch = epoch;
        _logger = logger;
        _expiry = new Timer(static state => ((LeaderMemberHub)state!).ExpirePending(), this, Timeout.Infinite, Timeout.Infinite);
    }

    /// <summary>
    /// Starts the term's view: the previous view's members (other than this process) stay, pending, for
    /// <paramref name="rejoinGrace"/>; this process joins as the leader.
    /// </summary>
    public void Start(ClusterMember self, IEnumerable<ClusterMember> previous, TimeSpan rejoinGrace, IEnumerable<string> channels)
    {
        lock (_gate)
        {
            long deadline = Stopwatch.GetTimestamp() + (long)(rejoinGrace.TotalSeconds * Stopwatch.Frequency);
            _table.Seed(previous.Where(m => m.Id != self.Id), deadline);
            AnnounceLocked(_self, self.With(true, DateTimeOffset.UtcNow));
            foreach (var channel in channels) _table.SetChannel(_self, channel, true);
            if (_table.HasPending) _expiry.Change(TimeSpan.FromMilliseconds(100), TimeSpan.FromMilliseconds(100));
        }
    }

    /// <summary>Members in the leader's table (tests, inspector).</summary>
    public IReadOnlyCollection<ClusterMember> Members
    {
        get { lock (_gate) return _table.Members; }
    }

    public void OnFrame(IMemberLink from, in Frame frame)
    {
        switch (frame.Type)
        {
            case PacketType.MemberAnnounce:
                frame.ReadHeader<MemberAnnounceHeader>();
                var member = MemberCodec.DecodeOne(frame.Body, frame.Limits.BodyDecodingLimits);
                // The leader vouches for what it publishes: the address it sees, the time it heard, nobody else leads.
                var published = new ClusterMember(member.Id, member.Host, member.ProcessId, from.RemoteAddress ?? member.Endpoint, member.Weight, member.Eligible,
                    member.Advertisement, false, member.JoinedAt, DateTimeOffset.UtcNow, member.Revision, member.Services);
                lock (_gate) AnnounceLocked(from, published);
                break;
            case PacketType.MemberChannel:
                var channel = frame.ReadHeader<MemberChannelHeader>();
                if (MembershipLimits.DescribeBadChannel(channel.Channel) is { } problem)
                    throw new ProtocolException(ProtocolErrorReason.UnexpectedPacket, $"A member tried to join a channel it may not: {problem}.");
                lock (_gate) _table.SetChannel(from, channel.Channel, channel.Joined);
                break;
            case PacketType.MemberMessage:
                var message = frame.ReadHeader<MemberMessageHeader>();
                if (frame.Body.Length > MembershipLimits.MaxMessageBytes)
                    throw new ProtocolException(ProtocolErrorReason.UnexpectedPacket, $"A member message of {frame.Body.Length} bytes exceeds {MembershipLimits.MaxMessageBytes}.");
                byte[]? body = frame.Body.IsSingleSegment ? null : frame.Body.ToArray();
                Relay(from, message, body ?? frame.Body.FirstSpan);
                break;
            case PacketType.MemberMessageAck:
                RouteAck(from, frame.ReadHeader<MemberMessageAckHeader>());
                break;
            default:
                throw new ProtocolException(ProtocolErrorReason.UnexpectedPacket, $"{frame.Type} is not a membership packet a follower sends.");
        }
    }

    /// <summary>This process's own record changed (an advertisement).</summary>
    public void AnnounceSelf(ClusterMember self)
    {
        lock (_gate)
        {
            if (!_disposed) AnnounceLocked(_self, self.With(true, DateTimeOffset.UtcNow));
        }
    }

    /// <summary>This process joined or left a channel.</summary>
    public void SetSelfChannel(string channel, bool joined)
    {
        lock (_gate)
        {
            if (!_disposed) _table.SetChannel(_self, channel, joined);
        }
    }

    private void AnnounceLocked(IMemberLink link, ClusterMember member)
    {
        if (_disposed) return;
        var outcome = _table.Announce(link, member, out var replaced);
        if (replaced is not null) MembershipLog.MemberMoved(_logger, member.Id, replaced.Name, link.Name);
        switch (outcome)
        {
            case AnnounceOutcome.Added:
            case AnnounceOutcome.Attached:
                // The newcomer gets the whole view; the others the one change.
                var header = new MemberViewHeader(_epoch(), MemberViewKind.Snapshot, ++_version);
                link.SendView(header, MemberCodec.EncodeMany(_table.Members));
                BroadcastLocked(MemberViewKind.Upsert, MemberCodec.EncodeMany([member]), except: link);
                break;
            case AnnounceOutcome.Updated:
                BroadcastLocked(MemberViewKind.Upsert, MemberCodec.EncodeMany([member]), except: null);
                break;
        }
    }

    public void OnLinkClosed(IMemberLink link)
    {
        lock (_gate)
        {
            if (_disposed) return;
            if (_table.Detach(link) is { } gone) BroadcastLocked(MemberViewKind.Remove, MemberCodec.EncodeIds([gone.Id]), except: null);
        }
    }

    private void ExpirePending()
    {
        lock (_gate)
        {
            if (_disposed) return;
            var gone = _table.Expire(Stopwatch.GetTimestamp());
            if (gone.Count > 0)
            {
                foreach (var member in gone) MembershipLog.MemberNotBack(_logger, member.Id);
                BroadcastLocked(MemberViewKind.Remove, MemberCodec.EncodeIds([.. gone.Select(m => m.Id)]), except: null);
            }
            if (!_table.HasPending) _expiry.Change(Timeout.Infinite, Timeout.Infinite);
        }
    }

    /// <summary>
    /// The engine's registry lists exactly <paramref name="registered"/>: members of the previous view that did not
    /// re-attach and are no longer registered are dead, so they are removed now instead of after the rejoin grace.
    /// </summary>
    public void ForgetUnregistered(IReadOnlySet<string> registered)
    {
        lock (_gate)
        {
            if (_disposed) return;
            var gone = _table.RemovePending(id => registered.Contains(id));
            if (gone.Count == 0) return;
            foreach (var member in gone) MembershipLog.MemberUnregistered(_logger, member.Id);
            BroadcastLocked(MemberViewKind.Remove, MemberCodec.EncodeIds([.. gone.Select(m => m.Id)]), except: null);
        }
    }

    private void BroadcastLocked(MemberViewKind kind, byte[] body, IMemberLink? except)
    {
        var header = new MemberViewHeader(_epoch(), kind, ++_version);
        foreach (var link in _table.Links.ToArray())
        {
            if (!ReferenceEquals(link, except)) link.SendView(header, body);
        }
    }

    /// <summary>
    /// Relays a message from <paramref name="from"/>: to every other member joined to its channel, or to its one target
    /// (a target the leader does not know, or that has not re-attached, is answered <see cref="MemberDeliveryCode.MemberGone"/> at once).
    /// </summary>
    /// <exception cref="ProtocolException">The sender claims another member's id.</exception>
    public void Relay(IMemberLink from, in MemberMessageHeader message, ReadOnlySpan<byte> body)
    {
        lock (_gate)
        {
            if (_disposed) return;
            string? sender = _table.IdOf(from);
            if (sender != message.From)
                throw new ProtocolException(ProtocolErrorReason.UnexpectedPacket, $"A message claims to come from member {message.From} but its connection is {sender ?? "no member"}.");
            var relayed = message with { Epoch = _epoch() };
            if (message.To is null)
            {
                foreach (var link in _table.JoinedTo(message.Channel, except: from)) link.SendMessage(relayed, body);
                return;
            }
            if (_table.LinkOf(message.To) is { } target && target.SendMessage(relayed, body)) return;
            from.SendAck(new MemberMessageAckHeader(_epoch(), message.MessageId, message.From, MemberDeliveryCode.MemberGone));
        }
    }

    /// <summary>Routes an acknowledgement back to the member that sent the message (dropped when that member is gone).</summary>
    public void RouteAck(IMemberLink from, in MemberMessageAckHeader ack)
    {
        lock (_gate)
        {
            if (_disposed) return;
            if (_table.IdOf(from) is null)
                throw new ProtocolException(ProtocolErrorReason.UnexpectedPacket, "An acknowledgement came from a connection that is not a member.");
            _table.LinkOf(ack.To)?.SendAck(ack with { Epoch = _epoch() });
        }
    }

    public void Dispose()
    {
        lock (_gate) _disposed = true;
        _expiry.Dispose();
    }
}
