using ClusterSharing.Protocol;
using ClusterSharing.Proxies;

namespace ClusterSharing.Leader;

/// <summary>
/// The channels one follower registered on its connection, by the id the leader gave each (1, 2, ... in order of first
/// registration): the registration and its answer (after the channel's client factory, when that is still running),
/// and the lookup of a call's channel and method.
/// </summary>
internal sealed class SessionChannels(FollowerSession session, LeaderServer server)
{
    private const int MaxWaitingRegistrations = 16;
    private readonly List<ILeaderChannel> _channels = new();
    private int _waiting;

    /// <summary>Registers the channel <paramref name="header"/> names and answers <paramref name="requestId"/>, now or once the channel is ready.</summary>
    public void Register(long requestId, in RegisterChannelHeader header)
    {
        var channel = server.FindChannel(header.ChannelName);
        if (channel is null)
        {
            Refuse(requestId, header.ChannelName, RegistrationOutcome.NotHosted,
                $"the leader (pid {Environment.ProcessId}) does not host channel '{header.ChannelName}'. All processes sharing a port must create the same clients (same contracts and names)");
            return;
        }
        if (channel.Fingerprint != header.ContractFingerprint)
        {
            Refuse(requestId, header.ChannelName, RegistrationOutcome.ContractMismatch,
                $"the leader (pid {Environment.ProcessId}) hosts channel '{header.ChannelName}' with a different contract (fingerprint 0x{channel.Fingerprint:x8}, follower 0x{header.ContractFingerprint:x8}); deploy the same contract version to every process");
            return;
        }
        int channelId;
        lock (_channels)
        {
            channelId = _channels.IndexOf(channel) + 1;
            if (channelId == 0)
            {
                _channels.Add(channel);
                channelId = _channels.Count;
            }
        }
        if (channel.Readiness.IsReady)
        {
            Accept(requestId, header.ChannelName, channelId);
            return;
        }
        // Each registration waiting for a channel's client is a task: a follower cannot make the leader hold more than a few.
        if (Interlocked.Increment(ref _waiting) > MaxWaitingRegistrations)
        {
            Interlocked.Decrement(ref _waiting);
            Refuse(requestId, header.ChannelName, RegistrationOutcome.NotReady,
                $"this connection already has {MaxWaitingRegistrations} registrations waiting for a client on the leader");
            return;
        }
        _ = AnswerWhenReadyAsync(requestId, header.ChannelName, channel, channelId);
    }

    /// <summary>The registered channels (for the close).</summary>
    public ILeaderChannel[] Snapshot()
    {
        lock (_channels) return [.. _channels];
    }

    private async Task AnswerWhenReadyAsync(long requestId, string name, ILeaderChannel channel, int channelId)
    {
        try
        {
            await channel.Readiness.WaitAsync(server.Options.MaxWaitTime, CancellationToken.None).ConfigureAwait(false);
            Interlocked.Decrement(ref _waiting);
            Accept(requestId, name, channelId);
        }
        catch (TimeoutException)
        {
            Interlocked.Decrement(ref _waiting);
            Refuse(requestId, name, RegistrationOutcome.NotReady, $"the client factory of channel '{name}' has not completed on the leader within {server.Options.MaxWaitTime.TotalMilliseconds:0} ms");
        }
        catch (ClusterClientException ex)
        {
            // The factory's own failure text, so every follower reports the leader's message.
            var failure = ex.InnerException is { } inner ? LeaderChannelFailure.Describe(inner) : ex.Message;
            Interlocked.Decrement(ref _waiting);
            Refuse(requestId, name, RegistrationOutcome.FactoryFailed, failure);
        }
    }

    private void Accept(long requestId, string name, int channelId)
    {
        LeaderLog.ChannelRegistered(server.Logger, session.Name, name, channelId);
        session.SendRegistrationResult(requestId, RegisterChannelResultHeader.Accepted(server.Epoch, channelId));
    }

    private void Refuse(long requestId, string name, RegistrationOutcome outcome, string error)
    {
        LeaderLog.ChannelRefused(server.Logger, session.Name, name, error);
        session.SendRegistrationResult(requestId, RegisterChannelResultHeader.Refused(server.Epoch, outcome, error));
    }

    public ILeaderChannel? ById(int id)
    {
        lock (_channels) return id >= 1 && id <= _channels.Count ? _channels[id - 1] : null;
    }

    /// <summary>Finds the channel and method a call names; false with the reason when the call cannot run here.</summary>
    public bool Resolve(in CallHeader header, PacketType type, out ILeaderChannel channel, out ClusterMethod method, out string? error)
    {
        method = null!;
        channel = ById(header.ChannelId)!;
        if (channel is null)
        {
            error = $"channel id {header.ChannelId} is not registered on this connection";
            return false;
        }
        if (!channel.TryGetMethod(header.MethodId, out method))
        {
            error = $"channel '{channel.Name}' has no method with id 0x{header.MethodId:x8}; deploy the same contract version to every process";
            return false;
        }
        var expected = type switch
        {
            PacketType.Invoke => ClusterMethodKind.Invoke,
            PacketType.Publish => ClusterMethodKind.Publish,
            _ => ClusterMethodKind.Oneway,
        };
        // Close members are local to a follower's handle: no packet may run one on the leader's shared real client.
        if (method.Kind != expected)
        {
            error = $"'{method.Name}' is a {method.Kind} member and cannot be called with a {type} packet";
            return false;
        }
        if (!channel.Readiness.IsReady)
        {
            error = $"the client of channel '{channel.Name}' is not ready on the leader";
            return false;
        }
        error = null;
        return true;
    }
}
