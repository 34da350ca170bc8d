using System.Buffers;
using System.Diagnostics;
using ClusterSharing.Diagnostics;
using ClusterSharing.Liveness;
using ClusterSharing.Protocol;
using ClusterSharing.Proxies;
using ClusterSharing.Transport;
using MessagePack;
using MessagePack.Formatters;

namespace ClusterSharing.Leader;

/// <summary>
/// The calls of one follower session: invokes (in-flight slot, deadline, fencing, dispatch onto the real client),
/// oneways and publications, subscriptions, and the frames that answer them.
/// </summary>
internal sealed partial class FollowerSession
{
    private void OnInvoke(in Frame frame)
    {
        var header = frame.ReadHeader<CallHeader>();
        long requestId = frame.RequestId;
        // Fencing: nothing runs unless this process's term is still current (a stopped, deposed leader that resumes
        // finds calls waiting in its socket buffer; they are refused, not run, and retried on the new leader).
        long fence = _server.ConfirmedEpoch();
        if (fence == 0)
        {
            RefuseDeposed(requestId, header.MethodId);
            return;
        }
        if (!_channels.Resolve(header, PacketType.Invoke, out var channel, out var method, out var error))
        {
            SendRuntimeError(requestId, typeof(ClusterProtocolException), $"The leader cannot run this call: {error}.");
            return;
        }
        // A cancel frees the request id at once but not the slot: the real call may ignore its token and keep running,
        // so the slot is held until it actually finishes (CallFinished).
        // Counted as running before it is marked dispatched, so the goodbye's wait for running calls cannot miss it.
        int running = Interlocked.Increment(ref _running);
        if (!TryMarkDispatched(requestId))
        {
            CallFinished();
            RefuseLeaving(requestId);
            return;
        }
        Interlocked.Increment(ref _calls);
        var call = InflightCall.Rent(this, requestId, method);
        var added = running > _server.Options.MaxInflightCallsPerFollower
            ? RequestAddResult.Full
            : _inflight.TryAdd(call, _server.Options.MaxInflightCallsPerFollower);
        if (added != RequestAddResult.Added)
        {
            call.ReturnUnused();
            CallFinished();
        }
        if (added == RequestAddResult.Full)
        {
            string limit = $"this follower already has MaxInflightCallsPerFollower ({_server.Options.MaxInflightCallsPerFollower}) calls running on the leader";
            if (_server.Rejections.Allow(_server.Logger)) LeaderLog.LimitReached(_server.Logger, Who, limit);
            SendRuntimeError(requestId, typeof(ClusterClientException),
                $"The leader refused '{method.Name}': {limit}. Wait for calls to complete, or raise ClusterClientOptions.MaxInflightCallsPerFollower on the leader.");
            return;
        }
        if (added == RequestAddResult.Duplicate)
        {
            throw new ProtocolException(ProtocolErrorReason.UnexpectedPacket, $"Request id {requestId} is already in flight on this connection.");
        }
        int timeout = frame.Header.TimeoutMilliseconds;
        if (timeout > 0) call.CancelAfter(timeout);
        var telemetry = call.Telemetry = CallTelemetry.StartServer(method.Name, header.TraceParent, header.TraceState);
        ValueTask pending;
        long outerFence = FencingScope.Enter(fence);
        try
        {
            if (channel.Readiness.IsReady)
            {
                var arguments = frame.CreateBodyReader();
                pending = channel.DispatchAsync(method, ref arguments, call, call.Token);
            }
            else
            {
                // The real client is not built: the call waits for it within its own deadline, holding its slot.
                pending = _channels.DispatchWhenReadyAsync(channel, method, frame.Body.ToArray(), frame.Limits.BodyDecodingLimits, call, call.Token);
            }
        }
        catch (Exception ex)
        {
            call.Complete(ex);
            return;
        }
        finally
        {
            FencingScope.Exit(outerFence);
            telemetry.RestorePrevious();
        }
        if (pending.IsCompleted) call.Complete(pending);
        else _ = call.AwaitAsync(pending);
    }

    private void OnOneway(in Frame frame)
    {
        var header = frame.ReadHeader<CallHeader>();
        // After the goodbye nothing runs: a publication is re-published to the next leader by its process, a oneway is at most once.
        if (DispatchStopped) return;
        long fence = _server.ConfirmedEpoch();
        if (fence == 0)
        {
            // Not run. A publication is re-published to the new leader by its process; a oneway is at most once: dropped.
            RefuseDeposed(0, header.MethodId);
            return;
        }
        if (!_channels.Resolve(header, frame.Type, out var channel, out var method, out var error))
        {
            LeaderLog.CallFailed(_server.Logger, frame.RequestId, $"0x{header.MethodId:x8}", _name, new ClusterClientException(error!));
            return;
        }
        if (_channels.TryQueueOneway(channel, method, frame)) return;
        long outerFence = FencingScope.Enter(fence);
        // Current while the real client runs (its own spans nest under it), linked to the follower's producer span.
        var previous = ClusterClientTracing.Source.HasListeners() ? Activity.Current : null;
        var span = ClusterClientTracing.StartLinkedConsumer(method.Name, ClusterClientTracing.LeaderRole,
            frame.Type == PacketType.Publish ? ClusterClientTracing.PublishOperation : ClusterClientTracing.OnewayOperation, header.TraceParent, header.TraceState);
        try
        {
            var arguments = frame.CreateBodyReader();
            var pending = channel.DispatchAsync(method, ref arguments, NoReply.Instance, CancellationToken.None);
            if (!pending.IsCompletedSuccessfully) _ = ObserveAsync(pending, method, span);
            else ClusterClientTracing.Stop(span);
        }
        catch (Exception ex)
        {
            LeaderLog.CallFailed(_server.Logger, frame.RequestId, method.Name, _name, ex);
            ClusterClientTracing.Stop(span, ex);
        }
        finally
        {
            FencingScope.Exit(outerFence);
            if (span is not null) Activity.Current = previous;
        }
    }

    /// <summary>
    /// A call arrived after this process's term ended (it was stopped and deposed, and has not stepped down yet): it is
    /// not run. An invoke is answered with <see cref="RemoteError.NotRunCode"/>, which the follower turns into
    /// <see cref="LeaderLostException"/> with RequestSent false, so it is retried on the new leader; then the connection
    /// is closed, so the follower looks for the new leader at once.
    /// </summary>
    /// <summary>An invoke that arrived after this leader's goodbye: not run; the follower retries it on the next leader.</summary>
    private void RefuseLeaving(long requestId) =>
        SendError(requestId, RemoteError.NotRunType,
            "The call was not run: the leader was closing (it had said goodbye) when the call arrived; it is retried on the next leader.", null, RemoteError.NotRunCode);

    private void RefuseDeposed(long requestId, uint methodId)
    {
        if (requestId != 0)
        {
            SendError(requestId, RemoteError.NotRunType,
                "The call was not run: the leader's term ended (it was deposed) before the call could run; it is retried on the new leader.", null, RemoteError.NotRunCode);
        }
        if (Interlocked.Exchange(ref _refusedDeposed, 1) != 0) return;
        LeaderLog.DeposedCallRefused(_server.Logger, _name, $"0x{methodId:x8}");
        _ = CloseAsync("this leader's term ended (deposed); calls were refused, not run");
    }

    private async Task ObserveAsync(ValueTask pending, ClusterMethod method, Activity? span)
    {
        try
        {
            await pending.ConfigureAwait(false);
            ClusterClientTracing.Stop(span);
        }
        catch (Exception ex)
        {
            LeaderLog.CallFailed(_server.Logger, 0, method.Name, _name, ex);
            ClusterClientTracing.Stop(span, ex);
        }
    }

    private void OnSubscription(in Frame frame)
    {
        var header = frame.ReadHeader<SubscriptionHeader>();
        var channel = _channels.ById(header.ChannelId) as ISubscriptionHost;
        if (channel is null)
            throw new ProtocolException(ProtocolErrorReason.UnexpectedPacket, $"Channel id {header.ChannelId} is not registered on this connection.");
        var subscriber = new RemoteSubscriber(this, header.ChannelId, header.MethodId, header.SubscriptionId);
        if (frame.Type == PacketType.Unsubscribe)
        {
            // The registration admitted with the id is the one removed, whatever bytes the unsubscribe carries.
            if (_subscriptions.Remove(header.ChannelId, header.MethodId, header.SubscriptionId) is { } admitted
                && channel.Hub.Remove(header.MethodId, admitted, this, header.SubscriptionId))
            {
                _subscriptions.ChargeIdle(admitted);
            }
            return;
        }
        byte[] registration;
        try
        {
            // Keyed on canonical bytes: re-encoding one topic differently does not make another real subscription.
            registration = CanonicalRegistration.Of(frame.Body.ToArray());
        }
        catch (MessagePackSerializationException ex)
        {
            subscriber.Complete(new ClusterClientException($"The leader cannot decode the subscription's registration: {ex.Message}"));
            return;
        }
        if (_subscriptions.TryAdd(header.ChannelId, header.MethodId, header.SubscriptionId, registration) is { } limit)
        {
            if (_server.Rejections.Allow(_server.Logger)) LeaderLog.LimitReached(_server.Logger, Who, limit);
            subscriber.Complete(new ClusterClientException(
                $"The leader refused the subscription: {limit}. Unsubscribe others first, or raise the limit on the leader (ClusterClientOptions)."));
            return;
        }
        if (!channel.Hub.Add(header.MethodId, registration, subscriber, _server.Options.MaxIdleSubscriptionsPerChannel))
            _subscriptions.Remove(header.ChannelId, header.MethodId, header.SubscriptionId);
    }

    /// <summary>Pushes one encoded subscription value; false when the connection is closed or too far behind.</summary>
    internal bool SendValue(int channelId, uint methodId, long subscriptionId, SubscriptionEventKind kind, ReadOnlySpan<byte> body)
    {
        // The leader's fan-out span, when one is current (traced values only), travels with the value.
        var (traceParent, traceState) = ClusterClientTracing.CurrentDelivery();
        return Connection.Send(PacketType.SubscribeResult, 0, new SubscribeResultHeader(Epoch, channelId, methodId, subscriptionId, kind, traceParent, traceState), body);
    }

    /// <summary>Sends the result of invoke <paramref name="requestId"/>.</summary>
    internal void SendResult<TResult>(long requestId, TResult value, IMessagePackFormatter<TResult> formatter, MessagePackSerializerOptions options) =>
        Connection.Send(PacketType.InvokeResult, requestId, new ResultHeader(Epoch, ResultStatus.Ok), value, formatter, options);

    /// <summary>Sends the (nil) result of a void invoke <paramref name="requestId"/>.</summary>
    internal void SendVoidResult(long requestId)
    {
        ReadOnlySpan<byte> nil = [MessagePackCode.Nil];
        Connection.Send(PacketType.InvokeResult, requestId, new ResultHeader(Epoch, ResultStatus.Ok), nil);
    }

    internal void LogCallFailed(long requestId, string method, Exception error) => LeaderLog.CallFailed(_server.Logger, requestId, method, _name, error);

    internal void SendError(long requestId, string type, string message, string? stack, string? code = null)
    {
        Connection.Send(PacketType.InvokeResult, requestId, new ResultHeader(Epoch, ResultStatus.Error), (type, message, stack, code),
            static (ref MessagePackWriter writer, in (string Type, string Message, string? Stack, string? Code) e) =>
                RemoteError.Write(ref writer, e.Type, e.Message, e.Stack, e.Code));
    }

    /// <summary>Fails invoke <paramref name="requestId"/> with ClusterClient's own exception <paramref name="type"/> (not the real client's).</summary>
    internal void SendRuntimeError(long requestId, Type type, string message)
    {
        Connection.Send(PacketType.InvokeResult, requestId, new ResultHeader(Epoch, ResultStatus.Error), (type.FullName!, message),
            static (ref MessagePackWriter writer, in (string Type, string Message) e) =>
                RemoteError.Write(ref writer, e.Type, e.Message, null, null, runtime: true));
    }

    /// <summary>Removes <paramref name="call"/> if the table still holds it under its id.</summary>
    internal bool TryRemoveInflight(long requestId, InflightCall call) => _inflight.TryRemove(requestId, call);
}
