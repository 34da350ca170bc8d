using System.Buffers;
using ClusterSharing.Protocol;
using ClusterSharing.Proxies;
using ClusterSharing.Serialization;

namespace ClusterSharing.Leader;

/// <summary>
/// The channels one follower registered on its connection, by the id the leader gave each (1, 2, ... in order of first
/// registration): the registration and its answer (after the channel's client factory, when that is still running),
/// the lookup of a call's channel and method, and the calls that reach a channel whose real client is not built.
/// </summary>
/// <remarks>
/// A call can reach a channel whose real client does not exist (yet or any more): this process is building it at
/// start-up or right after a takeover, or it was deposed and hands over. Such a call waits here for the client,
/// within its own deadline: an invoke holds its in-flight slot meanwhile (MaxInflightCallsPerFollower), and its
/// cancel packet, deadline or the closing connection end the wait. Oneways and publications wait in one queue per
/// connection, bounded by the same limit, and reach the real client one at a time in the order they arrived.
/// If the factory fails, or the client is not built within MaxWaitTime, the call fails with
/// <see cref="ClusterClientNotReadyException"/> (a follower gets that type, never a remote exception).
/// </remarks>
internal sealed class SessionChannels(FollowerSession session, LeaderServer server)
{
    private const int MaxWaitingRegistrations = 16;
    private readonly List<ILeaderChannel> _channels = new();
    private readonly Queue<WaitingCall> _waitingOneways = new();
    private readonly CancellationTokenSource _closed = new();
    private readonly CancellationTokenSource _leaving = new();
    private bool _drainingOneways;
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
        // A channel whose real client is not built is no reason to refuse: the call waits for it (DispatchWhenReadyAsync, TryQueueOneway).
        error = null;
        return true;
    }

    /// <summary>
    /// Dispatches an invoke once <paramref name="channel"/>'s real client exists; <paramref name="cancellationToken"/> (the
    /// caller's deadline, its cancel packet, the closing connection) ends the wait. <paramref name="arguments"/> is a copy
    /// of the frame's body (its buffer is reused once the read loop moves on), decoded with <paramref name="limits"/>.
    /// </summary>
    public async ValueTask DispatchWhenReadyAsync(ILeaderChannel channel, ClusterMethod method, byte[] arguments, DecodingLimits limits, IReplyWriter reply,
        CancellationToken cancellationToken)
    {
        using (var waiting = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken, _leaving.Token))
        {
            try
            {
                await WaitUntilReadyAsync(channel, waiting.Token).ConfigureAwait(false);
            }
            catch (OperationCanceledException) when (_leaving.IsCancellationRequested && !cancellationToken.IsCancellationRequested)
            {
                // The leader said goodbye while the call waited for a client (it is closing, and its client is gone): the
                // call did not run, so the follower retries it on the next leader instead of the goodbye's drain waiting for it.
                throw new CallNotRunException(
                    $"The call '{method.Name}' was not run: the leader was closing while it waited for the client of channel '{channel.Name}'; it is retried on the next leader.");
            }
        }
        await Dispatch(channel, method, arguments, limits, reply, cancellationToken).ConfigureAwait(false);
    }

    /// <summary>The leader said goodbye on this connection: invokes still waiting for a client end as not run.</summary>
    public void StopDispatching()
    {
        try
        {
            _leaving.Cancel();
        }
        catch (ObjectDisposedException)
        {
        }
    }

    /// <summary>
    /// Queues a oneway or publication behind those still waiting for a real client, so they reach it in arrival order;
    /// false when nothing waits and the channel is ready (the caller dispatches it at once).
    /// </summary>
    public bool TryQueueOneway(ILeaderChannel channel, ClusterMethod method, in Frame frame)
    {
        lock (_waitingOneways)
        {
            if (!_drainingOneways && channel.Readiness.IsReady) return false;
            int limit = server.Options.MaxInflightCallsPerFollower;
            if (_waitingOneways.Count >= limit)
            {
                string reason = $"this follower already has MaxInflightCallsPerFollower ({limit}) oneways and publications waiting for a client on the leader; '{method.Name}' was dropped";
                if (server.Rejections.Allow(server.Logger)) LeaderLog.LimitReached(server.Logger, session.Name, reason);
                return true;
            }
            _waitingOneways.Enqueue(new WaitingCall(channel, method, frame.Body.ToArray(), frame.Limits.BodyDecodingLimits, frame.RequestId));
            if (_drainingOneways) return true;
            _drainingOneways = true;
        }
        _ = DrainOnewaysAsync();
        return true;
    }

    /// <summary>The connection closed: waiting calls end, queued oneways are dropped.</summary>
    public void Close()
    {
        try
        {
            _closed.Cancel();
        }
        catch (ObjectDisposedException)
        {
        }
        lock (_waitingOneways) _waitingOneways.Clear();
    }

    private async Task DrainOnewaysAsync()
    {
        while (true)
        {
            WaitingCall next;
            lock (_waitingOneways)
            {
                // Cleared only here, after the previous one was dispatched: a later oneway cannot overtake it.
                if (!_waitingOneways.TryDequeue(out next))
                {
                    _drainingOneways = false;
                    return;
                }
            }
            try
            {
                await WaitUntilReadyAsync(next.Channel, _closed.Token).ConfigureAwait(false);
                await Dispatch(next.Channel, next.Method, next.Arguments, next.Limits, NoReply.Instance, CancellationToken.None).ConfigureAwait(false);
            }
            catch (Exception ex)
            {
                LeaderLog.CallFailed(server.Logger, next.RequestId, next.Method.Name, session.Name, ex);
                if (ex is ClusterClientNotReadyException or OperationCanceledException) DropWaiting(next.Channel, ex);
            }
        }
    }

    /// <summary>The channel's client could not be had: the oneways queued for it fail with the same reason, without waiting again.</summary>
    private void DropWaiting(ILeaderChannel channel, Exception reason)
    {
        lock (_waitingOneways)
        {
            int count = _waitingOneways.Count;
            for (int i = 0; i < count; i++)
            {
                var call = _waitingOneways.Dequeue();
                if (call.Channel != channel) _waitingOneways.Enqueue(call);
                else LeaderLog.CallFailed(server.Logger, call.RequestId, call.Method.Name, session.Name, reason);
            }
        }
    }

    private async ValueTask WaitUntilReadyAsync(ILeaderChannel channel, CancellationToken cancellationToken)
    {
        try
        {
            // A factory failure ends the wait; a call without a deadline waits MaxWaitTime at most.
            await channel.Readiness.WaitAsync(server.Options.MaxWaitTime, cancellationToken).ConfigureAwait(false);
        }
        catch (ClusterFactoryException failed)
        {
            // The same factory message every process reports, as the one type a waiting call gets on any role.
            throw new ClusterClientNotReadyException(failed.Message, failed);
        }
        catch (TimeoutException)
        {
            throw new ClusterClientNotReadyException(
                $"The client of channel '{channel.Name}' was not built on the leader (pid {Environment.ProcessId}) within MaxWaitTime ({server.Options.MaxWaitTime.TotalMilliseconds:0} ms); " +
                "its client factory is still running or the leader is handing over. Retry the call; it succeeds once the leader's client exists.");
        }
    }

    private ValueTask Dispatch(ILeaderChannel channel, ClusterMethod method, byte[] arguments, DecodingLimits limits, IReplyWriter reply,
        CancellationToken cancellationToken)
    {
        // The term is confirmed again here: it may have ended while the call waited.
        long fence = server.ConfirmedEpoch();
        if (fence == 0)
        {
            throw new ClusterClientNotReadyException(
                $"The leader (pid {Environment.ProcessId}) lost its term while '{method.Name}' waited for the client of channel '{channel.Name}'; it did not run. Retry the call: it goes to the new leader.");
        }
        long outerFence = FencingScope.Enter(fence);
        try
        {
            var reader = WireSerializer.CreateReader(new ReadOnlySequence<byte>(arguments), limits);
            return channel.DispatchAsync(method, ref reader, reply, cancellationToken);
        }
        finally
        {
            FencingScope.Exit(outerFence);
        }
    }

    private readonly record struct WaitingCall(ILeaderChannel Channel, ClusterMethod Method, byte[] Arguments, DecodingLimits Limits, long RequestId);
}
