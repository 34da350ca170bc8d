using ClusterSharing.Coordination;
using ClusterSharing.Leader;
using ClusterSharing.Diagnostics;
using ClusterSharing.Node.Membership;

namespace ClusterSharing.Node;

/// <summary>Leading: a term won becomes a listener and real clients; a term lost steps the node down.</summary>
internal sealed partial class ClusterNode
{
    /// <param name="term">The term won; null in single mode (no listener, no engine).</param>
    /// <returns>Completed when the term was lost and this process stepped down; null when the node is disposed.</returns>
    private TaskCompletionSource? BecomeLeader(ILeadershipTerm? term)
    {
        long epoch;
        TaskCompletionSource ended;
        lock (_gate)
        {
            if (_disposed) return null;
            // An engine without epochs (port competition alone): the node numbers its terms above what it has seen.
            epoch = term is { Epoch: > 0 } ? term.Epoch : _epoch + 1;
            Interlocked.Exchange(ref _epoch, epoch);
            _isLeader = true;
            Interlocked.Exchange(ref _leadingTerm, ++_termCount);
            ended = _termEnded = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            _term = term;
            // The epoch gauge before the channels start: a client can be ready (and read the gauge) before RoleChanged runs.
            ClusterClientMetrics.Epoch(Port, epoch);
            foreach (var channel in _channels.Values) channel.StartLeading(LeaderLogger);
            string listenAddress = term?.Listener.LocalEndPoint is { } local ? Transport.EndPointText.Describe(local) : "this process (single mode)";
            var members = Membership.StartLeading(listenAddress, () => Epoch);
            if (term is not null)
            {
                _server = new LeaderServer(term.Listener, Options, _secret, () => Epoch, ObserveFollowerEpoch, FindLeaderChannel, _monitor, LeaderLogger)
                {
                    Certificate = term.Certificate,
                    ConfirmTerm = ConfirmedEpoch,
                    Channels = LeaderChannels,
                    Members = members,
                };
                _server.Start();
            }
        }
        // Outside the lock: a term already lost runs the callback at once.
        term?.Lost.Register(static state => { var (node, lost) = ((ClusterNode, ILeadershipTerm))state!; node.OnTermLost(lost); }, (this, term));
        SetStatus(SingleMode ? "single mode: this process holds the real client" : $"this process leads on port {Port}");
        NodeLog.BecameLeader(Logger, Port, epoch);
        RaiseRoleChanged(true, epoch);
        _ = SettleLeaderWorkAsync();
        return ended;
    }

    /// <summary>
    /// The term ended while this process led (say it was stopped or starved for longer than its lease lasts and another
    /// process took over). Stop serving (listener, sessions, real clients) and follow the new leader.
    /// </summary>
    private void OnTermLost(ILeadershipTerm term) => StepDown(term, handover: null);

    /// <summary>
    /// A heavier eligible member joined while this process leads: step down gracefully (leader work, channels, listener,
    /// then resign the term), then leave the election to it for a while. The lease (or key) is released only after the
    /// listener closed, so two leaders never serve at once.
    /// </summary>
    private void OnHandoverWanted(ClusterMember heavier)
    {
        ILeadershipTerm? term;
        lock (_gate)
        {
            if (_disposed || !_isLeader) return;
            term = _term;
        }
        if (term is null) return; // single mode: nobody else to lead
        MembershipLog.HandingOver(Logger, Port, heavier.Id, heavier.Weight, Options.Weight);
        Membership.NoteLeaderLost();
        StepDown(term, handover: $"handing leadership over to member {heavier.Id} (weight {heavier.Weight} > {Options.Weight})");
    }

    /// <summary>This process stops leading on request (DemoteAsync); false when it does not lead (or has no term to give up: single mode).</summary>
    internal bool Demote(string reason)
    {
        ILeadershipTerm? term;
        lock (_gate)
        {
            if (_disposed || !_isLeader || _term is null) return false;
            term = _term;
        }
        Membership.NoteLeaderLost();
        StepDown(term, handover: reason);
        return true;
    }

    private void StepDown(ILeadershipTerm term, string? handover)
    {
        LeaderServer? server;
        NodeChannel[] channels;
        TaskCompletionSource? ended;
        long ourEpoch;
        lock (_gate)
        {
            if (_disposed || _term != term || !_isLeader) return;
            _term = null;
            _isLeader = false;
            Interlocked.Exchange(ref _leadingTerm, 0);
            server = _server;
            _server = null;
            ended = _termEnded;
            _termEnded = null;
            channels = [.. _channels.Values];
            ourEpoch = _epoch;
            Interlocked.Exchange(ref _epoch, Math.Max(_epoch, term.SuccessorEpoch));
        }
        Membership.StopLeading();
        ClusterClientMetrics.Failover(Port);
        SetStatus(handover is not null
            ? $"this process stepped down (epoch {ourEpoch}): {handover}"
            : $"this process was deposed (epoch {ourEpoch}; {term.LostReason ?? "its leadership term ended"}); following the new leader");
        _ = Task.Run(async () =>
        {
            try
            {
                // Leader work first (its token fires now; it is awaited within its grace period), then channels: their
                // calls wait for the new leader instead of reaching a closing server.
                await SettleLeaderWorkAsync().ConfigureAwait(false);
                foreach (var channel in channels) await channel.StopLeadingAsync().ConfigureAwait(false);
                if (server is not null) await server.DisposeAsync().ConfigureAwait(false);
                await term.DisposeAsync().ConfigureAwait(false);
            }
            catch (Exception ex)
            {
                NodeLog.ElectionFailed(Logger, Port, ex);
            }
            finally
            {
                RaiseRoleChanged(false, Epoch);
                ended?.TrySetResult();
            }
        });
    }

    /// <summary>
    /// The fencing check before anything runs on this process's real clients: the epoch of its term while it leads under
    /// a term that is still current (single mode: while it leads), else 0.
    /// </summary>
    /// <remarks>
    /// The epoch is read before the term is confirmed: a term that is lost stops confirming before the node raises its
    /// epoch to the successor's, so a confirmed call never carries a newer leader's epoch as its fencing token.
    /// </remarks>
    internal long ConfirmedEpoch()
    {
        if (!_isLeader) return 0;
        long epoch = Epoch;
        var term = Volatile.Read(ref _term);
        return term is null || term.Confirm() ? epoch : 0;
    }

    private long ObserveFollowerEpoch(long followerEpoch)
    {
        long raised;
        lock (_gate)
        {
            // With an engine's epoch the epoch is the term's: a follower that knows a higher one will find the real holder there.
            if (followerEpoch < _epoch || !_isLeader || _term is { Epoch: > 0 }) return _epoch;
            raised = Protocol.Epochs.Next(followerEpoch);
            Interlocked.Exchange(ref _epoch, raised);
        }
        NodeLog.BecameLeader(Logger, Port, raised);
        RaiseRoleChanged(true, raised);
        return raised;
    }

    private IReadOnlyCollection<ILeaderChannel> LeaderChannels()
    {
        lock (_gate) return [.. _channels.Values.Select(c => c.LeaderSide).OfType<ILeaderChannel>()];
    }

    private ILeaderChannel? FindLeaderChannel(string name)
    {
        lock (_gate) return _channels.TryGetValue(name, out var channel) ? channel.LeaderSide : null;
    }
}
