using ClusterSharing.Protocol;
using ClusterSharing.Follower;
using ClusterSharing.Leader;
using ClusterSharing.Diagnostics;

namespace ClusterSharing.Node;

/// <summary>Following: one leader connection, every channel registered on it, and what happens when it closes.</summary>
internal sealed partial class ClusterNode
{
    private async Task FollowAsync(LeaderConnection connection, CancellationToken stop)
    {
        NodeChannel[] channels;
        bool newEpoch;
        lock (_gate)
        {
            if (_disposed)
            {
                _ = connection.CloseAsync("the follower is closing");
                return;
            }
            _connection = connection;
            newEpoch = connection.LeaderEpoch != _epoch;
            Interlocked.Exchange(ref _epoch, Math.Max(_epoch, connection.LeaderEpoch));
            channels = [.. _channels.Values];
        }
        Membership.StartFollowing(connection);
        SetStatus($"following the leader on port {Port}");
        NodeLog.BecameFollower(Logger, Port, connection.LeaderEpoch);
        // A survivor may win the next election: have the leader's code compiled before it does.
        if (Options.Role != ClusterRole.Follower) LeaderPathWarmup.Schedule();
        if (newEpoch) RaiseRoleChanged(false, connection.LeaderEpoch);
        foreach (var channel in channels) _ = RegisterLoopAsync(connection, channel);

        string reason = await connection.Completion.WaitAsync(stop).ConfigureAwait(false);
        lock (_gate)
        {
            if (_connection == connection) _connection = null;
        }
        Membership.StopFollowing(connection);
        Membership.NoteLeaderLost();
        if (!stop.IsCancellationRequested)
        {
            SetStatus($"the leader was lost ({reason}); electing a new one");
            NodeLog.LeaderLost(Logger, Port, reason);
            ClusterClientMetrics.Failover(Port);
        }
    }

    /// <summary>Runs synchronously when a leader connection closes, before its pending calls fail, so retried calls wait for the next leader.</summary>
    private void OnConnectionClosing(LeaderConnection connection)
    {
        NodeChannel[] channels;
        lock (_gate) channels = [.. _channels.Values];
        foreach (var channel in channels) channel.DetachRemote(connection);
    }

    private async Task RegisterLoopAsync(LeaderConnection connection, NodeChannel channel)
    {
        var delay = TimeSpan.FromMilliseconds(50);
        var maxDelay = TimeSpan.FromTicks(Math.Min(MaxRetryDelay.Ticks, Options.MaxWaitTime.Ticks / 4 + 1));
        while (!connection.IsClosed && !_stop.IsCancellationRequested)
        {
            lock (_gate)
            {
                if (!_channels.TryGetValue(channel.Name, out var current) || current != channel) return;
            }
            RegistrationResult result;
            try
            {
                result = await connection.RegisterAsync(channel.Name, channel.Fingerprint, Options.MaxWaitTime, _stop.Token).ConfigureAwait(false);
            }
            catch (TimeoutException)
            {
                channel.WaitingFor = $"the leader on port {Port} to answer the registration of channel '{channel.Name}'";
                continue;
            }
            catch (Exception) when (connection.IsClosed || _stop.IsCancellationRequested)
            {
                return;
            }
            switch (result.Outcome)
            {
                case RegistrationOutcome.Accepted:
                    channel.AttachRemote(connection, result.ChannelId);
                    return;
                case RegistrationOutcome.FactoryFailed:
                    channel.WaitingFor = null;
                    channel.Readiness.SetFailed(LeaderChannelFailure.Factory(channel.Name, result.Error));
                    break;
                default:
                    channel.WaitingFor = result.Error;
                    break;
            }
            try
            {
                await Task.Delay(delay, _stop.Token).ConfigureAwait(false);
            }
            catch (OperationCanceledException)
            {
                return;
            }
            delay = TimeSpan.FromTicks(Math.Min(delay.Ticks * 2, maxDelay.Ticks));
        }
    }
}
