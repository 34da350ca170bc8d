using System.Net.Sockets;
using ClusterSharing.Coordination;
using ClusterSharing.Follower;
using ClusterSharing.Transport;

namespace ClusterSharing.Node;

/// <summary>The election loop: asks the engine for the next step, then leads, follows or waits, until the node closes.</summary>
internal sealed partial class ClusterNode
{
    private async Task RunAsync(CancellationToken stop)
    {
        var retryDelay = TimeSpan.FromMilliseconds(10);
        while (!stop.IsCancellationRequested)
        {
            try
            {
                if (SingleMode)
                {
                    BecomeLeader(null);
                    return;
                }
                var election = _election!;
                // Leader preference: right after a leader loss or handover, a heavier eligible member goes first (bounded).
                bool mayLead = Options.Role != ClusterRole.Follower && Membership.IsEligible && !Membership.DefersToHeavierMember(out _);
                var step = await election.NextAsync(mayLead, stop).ConfigureAwait(false);
                if (step is WaitStep wait)
                {
                    SetStatus(wait.Status);
                    if (wait.Delay > TimeSpan.Zero) await Task.Delay(wait.Delay, stop).ConfigureAwait(false);
                    continue;
                }
                if (step is LeadStep lead)
                {
                    var ended = BecomeLeader(lead.Term);
                    if (ended is null)
                    {
                        await lead.Term.DisposeAsync().ConfigureAwait(false);
                        return;
                    }
                    // Leads until the term is lost (a hung process that resumes) or the node is disposed; then follows.
                    await ended.Task.WaitAsync(stop).ConfigureAwait(false);
                    retryDelay = TimeSpan.FromMilliseconds(10);
                    continue;
                }
                var leader = ((FollowStep)step).Leader;
                if (Options.Role == ClusterRole.Leader)
                {
                    SetStatus($"port {Port} is held by another process and Role is Leader, so this process will not follow; stop the other process or use Role Auto");
                    await DelayAsync(ref retryDelay, stop).ConfigureAwait(false);
                    continue;
                }

                string where = EndPointText.Describe(leader.Endpoint);
                LeaderConnection connection;
                try
                {
                    // A leader that published a certificate fingerprint is reached over TLS pinned to it.
                    var endpoint = leader.CertificateFingerprint is { } pinned ? new TlsEndPoint(leader.Endpoint, pinned) : leader.Endpoint;
                    connection = await LeaderConnection.ConnectAsync(endpoint, Options, _secret, Epoch, _monitor, OnConnectionClosing, FollowerLogger, stop).ConfigureAwait(false);
                }
                catch (SocketException ex) when (!stop.IsCancellationRequested)
                {
                    election.LeaderUnreachable(leader);
                    SetStatus(ex.SocketErrorCode is SocketError.ConnectionRefused or SocketError.AddressNotAvailable
                        ? $"nothing is listening on {where} (connection refused)" + (Options.Role == ClusterRole.Follower ? "; Role is Follower, so this process waits for a leader to start" : "")
                        : $"connecting to {where} failed: {ex.SocketErrorCode} ({ex.Message})");
                    await DelayAsync(ref retryDelay, stop).ConfigureAwait(false);
                    continue;
                }
                catch (ClusterClientException ex) when (!stop.IsCancellationRequested)
                {
                    // A handshake that timed out may be a stopped leader; one that failed authentication or was refused
                    // (MaxFollowers) came from a live leader, which must not be suspected of having gone silent.
                    if (ex is not (AuthenticationFailedException or LeaderRefusedException)) election.LeaderUnreachable(leader);
                    SetStatus(ex.Message);
                    await DelayAsync(ref retryDelay, stop).ConfigureAwait(false);
                    continue;
                }

                retryDelay = TimeSpan.FromMilliseconds(10);
                await FollowAsync(connection, stop).ConfigureAwait(false);
                election.LeaderUnreachable(leader);
            }
            catch (OperationCanceledException) when (stop.IsCancellationRequested)
            {
                return;
            }
            catch (Exception ex)
            {
                NodeLog.ElectionFailed(Logger, Port, ex);
                SetStatus($"the election failed: {ex.GetType().Name}: {ex.Message}");
                try
                {
                    await DelayAsync(ref retryDelay, stop).ConfigureAwait(false);
                }
                catch (OperationCanceledException)
                {
                    return;
                }
            }
        }
    }

    private static Task DelayAsync(ref TimeSpan delay, CancellationToken stop)
    {
        var current = delay;
        delay = TimeSpan.FromTicks(Math.Min(delay.Ticks * 2, MaxRetryDelay.Ticks));
        return Task.Delay(current, stop);
    }
}
