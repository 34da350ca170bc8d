using System.Diagnostics;
using System.Runtime.CompilerServices;
using ClusterSharing.Follower;
using ClusterSharing.Leader;
using ClusterSharing.Node.Subscriptions;
using ClusterSharing.Protocol;
using ClusterSharing.Proxies;
using ClusterSharing.Serialization;
using MessagePack;
using MessagePack.Formatters;
using Microsoft.Extensions.Logging;
using ClusterSharing.Diagnostics;
using ClusterSharing.Transport;

namespace ClusterSharing.Node;

/// <summary>
/// The call paths of a channel: invokes (the allocation-free fast path, waiting for readiness within the call's
/// deadline, the fenced retry, the leader's local call) and oneways.
/// </summary>
internal sealed partial class NodeChannel<T>
{
    public TimeSpan TimeoutOf(ClusterMethod method) =>
        method.TimeoutMilliseconds > 0 ? TimeSpan.FromMilliseconds(method.TimeoutMilliseconds) : _responseTimeout;

    /// <summary>A real-client exception in this (leading) process as a follower would see it, with the real exception inside.</summary>
    public static ClusterRemoteException AsRemote(Exception error) =>
        new(error.GetType().FullName ?? error.GetType().Name, error.Message, error.StackTrace, error.Data["Code"]?.ToString(), error);

    /// <summary>An awaited subscribe was not held by the leader's real client within <paramref name="timeout"/>: why, as a call would say it.</summary>
    public ClusterTimeoutException SubscribeTimedOut(ClusterMethod method, TimeSpan timeout) =>
        _node.HasLeader
            ? new ClusterTimeoutException(method.Name, timeout, _node.LeaderWhere)
            : new ClusterNoLeaderException(method.Name, timeout, _node.DescribeLeaderSearch());

    public ValueTask<TResult> InvokeAsync<TArgs, TResult>(ClusterMethod method, in TArgs arguments,
        IMessagePackFormatter<TArgs> argumentsFormatter, IMessagePackFormatter<TResult> resultFormatter, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(resultFormatter);
        // Fast path, allocation-free: a follower with a live connection hands out the pending call itself. The async
        // wrapper is only needed to wait for readiness, for a call that could not be sent, or to retry an idempotent one.
        var route = _route;
        if (route?.Connection is { } connection && !method.Idempotent && Readiness.IsReady && !cancellationToken.IsCancellationRequested)
        {
            var timeout = TimeoutOf(method);
            var retry = NotRunRetry<TArgs, TResult>.Rent(this, route, method, arguments, argumentsFormatter, resultFormatter, cancellationToken);
            if (connection.TryStartInvoke(route.ChannelId, method, arguments, argumentsFormatter, resultFormatter, SerializerOptions, timeout, timeout, retry, cancellationToken, out var pending))
                return pending;
        }
        return InvokeCoreAsync(method, arguments, argumentsFormatter, resultFormatter, 0, cancellationToken);
    }

    /// <summary>
    /// What a fast-path call needs to run again if a deposed leader refuses it unrun (fencing): it then waits for the
    /// next leader and runs there, within the call's own timeout. Pooled, so the fast path stays allocation-free.
    /// </summary>
    private sealed class NotRunRetry<TArgs, TResult> : INotRunRetry<TResult>
    {
        private static readonly BoundedPool<NotRunRetry<TArgs, TResult>> Pool = new(1024);
        private NodeChannel<T>? _channel;
        private Route? _route;
        private ClusterMethod? _method;
        private TArgs _arguments = default!;
        private IMessagePackFormatter<TArgs>? _argumentsFormatter;
        private IMessagePackFormatter<TResult>? _resultFormatter;
        private long _started;
        private CancellationToken _cancellationToken;

        public static NotRunRetry<TArgs, TResult> Rent(NodeChannel<T> channel, Route route, ClusterMethod method, in TArgs arguments,
            IMessagePackFormatter<TArgs> argumentsFormatter, IMessagePackFormatter<TResult>? resultFormatter, CancellationToken cancellationToken)
        {
            if (!Pool.TryRent(out var retry)) retry = new NotRunRetry<TArgs, TResult>();
            retry._channel = channel;
            retry._route = route;
            retry._method = method;
            retry._arguments = arguments;
            retry._argumentsFormatter = argumentsFormatter;
            retry._resultFormatter = resultFormatter;
            retry._started = Stopwatch.GetTimestamp();
            retry._cancellationToken = cancellationToken;
            return retry;
        }

        public void Release()
        {
            _channel = null;
            _route = null;
            _method = null;
            _arguments = default!;
            _argumentsFormatter = null;
            _resultFormatter = null;
            _cancellationToken = default;
            Pool.TryReturn(this);
        }

        public void Retry(PendingCall<TResult> call)
        {
            var (channel, route, method, arguments, argumentsFormatter, resultFormatter, started, cancellationToken) =
                (_channel!, _route!, _method!, _arguments, _argumentsFormatter!, _resultFormatter, _started, _cancellationToken);
            Release();
            _ = RunAsync(call, channel, route, method, arguments, argumentsFormatter, resultFormatter, started, cancellationToken);
        }

        private static async Task RunAsync(PendingCall<TResult> call, NodeChannel<T> channel, Route route, ClusterMethod method, TArgs arguments,
            IMessagePackFormatter<TArgs> argumentsFormatter, IMessagePackFormatter<TResult>? resultFormatter, long started, CancellationToken cancellationToken)
        {
            // The refusing leader closes the connection; detach now so the retry waits for the next leader.
            if (channel._route == route) channel.DetachRemote(route.Connection!);
            TResult result;
            try
            {
                result = await channel.InvokeCoreAsync(method, arguments, argumentsFormatter, resultFormatter, started, cancellationToken).ConfigureAwait(false);
            }
            catch (Exception ex)
            {
                call.FailRetried(ex);
                return;
            }
            call.CompleteRetried(result);
        }
    }

    [AsyncMethodBuilder(typeof(PoolingAsyncValueTaskMethodBuilder))]
    public async ValueTask InvokeAsync<TArgs>(ClusterMethod method, TArgs arguments, IMessagePackFormatter<TArgs> argumentsFormatter, CancellationToken cancellationToken) =>
        await InvokeCoreAsync<TArgs, object?>(method, arguments, argumentsFormatter, null, 0, cancellationToken).ConfigureAwait(false);

    [AsyncMethodBuilder(typeof(PoolingAsyncValueTaskMethodBuilder<>))]
    private async ValueTask<TResult> InvokeCoreAsync<TArgs, TResult>(ClusterMethod method, TArgs arguments,
        IMessagePackFormatter<TArgs> argumentsFormatter, IMessagePackFormatter<TResult>? resultFormatter, long started, CancellationToken cancellationToken)
    {
        var timeout = TimeoutOf(method);
        if (started == 0) started = Stopwatch.GetTimestamp();
        while (true)
        {
            cancellationToken.ThrowIfCancellationRequested();
            var remaining = timeout - Stopwatch.GetElapsedTime(started);
            if (remaining <= TimeSpan.Zero) throw new ClusterTimeoutException(method.Name, timeout);
            var route = _route;
            if (route is null || !Readiness.IsReady)
            {
                await WaitForCallAsync(method, timeout, started, cancellationToken).ConfigureAwait(false);
                continue;
            }
            if (route.Local is { } leader)
            {
                long fence = _node.ConfirmedEpoch();
                if (fence == 0)
                {
                    // This process's term ended (it was stopped and deposed): run nothing; the step-down detaches this route.
                    await Task.Delay(FencedRetryDelay, cancellationToken).ConfigureAwait(false);
                    continue;
                }
                return await InvokeLocalAsync(leader, method, arguments, argumentsFormatter, resultFormatter, timeout, remaining, fence, cancellationToken).ConfigureAwait(false);
            }
            try
            {
                return await route.Connection!.InvokeAsync(route.ChannelId, method, arguments, argumentsFormatter, resultFormatter, SerializerOptions, timeout, remaining, cancellationToken).ConfigureAwait(false);
            }
            catch (LeaderLostException lost) when (!lost.RequestSent || method.Idempotent)
            {
                // Not sent, or safe to repeat: wait for the next leader within this call's own timeout.
                if (_route == route) DetachRemote(route.Connection!);
            }
        }
    }

    /// <summary>
    /// Waits until the channel is ready, within the call's timeout (counted from <paramref name="started"/>). While no
    /// leader is known the wait is also bounded by MaxWaitTime, and a call that found none fails with
    /// <see cref="ClusterNoLeaderException"/> saying where this process looked.
    /// </summary>
    private async ValueTask WaitForCallAsync(ClusterMethod method, TimeSpan timeout, long started, CancellationToken cancellationToken)
    {
        var elapsed = Stopwatch.GetElapsedTime(started);
        var remaining = timeout - elapsed;
        bool leaderless = !_node.HasLeader;
        var wait = leaderless ? TimeSpan.FromTicks(Math.Min(remaining.Ticks, (_maxWaitTime - elapsed).Ticks)) : remaining;
        if (wait > TimeSpan.Zero)
        {
            try
            {
                await Readiness.WaitAsync(wait, cancellationToken).ConfigureAwait(false);
                return;
            }
            catch (TimeoutException)
            {
                // Decided below: still no leader, or out of time.
            }
        }
        elapsed = Stopwatch.GetElapsedTime(started);
        if (!_node.HasLeader && (elapsed >= _maxWaitTime || elapsed >= timeout))
            throw new ClusterNoLeaderException(method.Name, elapsed, _node.DescribeLeaderSearch());
        if (elapsed >= timeout) throw new ClusterTimeoutException(method.Name, timeout, _node.LeaderWhere);
        // A leader appeared (or went) meanwhile: the caller's loop waits again within what is left.
    }

    private async ValueTask<TResult> InvokeLocalAsync<TArgs, TResult>(LeaderChannel<T> leader, ClusterMethod method, TArgs arguments,
        IMessagePackFormatter<TArgs> argumentsFormatter, IMessagePackFormatter<TResult>? resultFormatter, TimeSpan timeout, TimeSpan remaining, long fence,
        CancellationToken cancellationToken)
    {
        bool sameAsFollowers = LeaderCalls == LeaderCallMode.SameAsFollowers;
        using var deadline = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        deadline.CancelAfter(remaining);
        var telemetry = CallTelemetry.StartLocal(method.Name);
        try
        {
            ValueTask<TResult> call;
            long outerFence = FencingScope.Enter(fence);
            try
            {
                call = leader.InvokeLocalAsync(method, arguments, argumentsFormatter, resultFormatter, deadline.Token);
            }
            finally
            {
                FencingScope.Exit(outerFence);
            }
            var result = await call.AsTask().WaitAsync(remaining, cancellationToken).ConfigureAwait(false);
            telemetry.End(null);
            return result;
        }
        catch (Exception ex) when (ex is TimeoutException || (ex is OperationCanceledException && !cancellationToken.IsCancellationRequested && deadline.IsCancellationRequested))
        {
            var timedOut = new ClusterTimeoutException(method.Name, timeout, "this process");
            telemetry.End(timedOut);
            throw timedOut;
        }
        catch (Exception ex) when (sameAsFollowers && ex is not ClusterClientException and not OperationCanceledException and not MessagePackSerializationException)
        {
            // The real client threw: surface it as a follower would see it, with the real exception inside.
            telemetry.End(ex);
            throw AsRemote(ex);
        }
        catch (Exception ex)
        {
            telemetry.End(ex);
            throw;
        }
    }

    public void InvokeOneway<TArgs>(ClusterMethod method, in TArgs arguments, IMessagePackFormatter<TArgs> argumentsFormatter)
    {
        var route = _route;
        if (Volatile.Read(ref _onewaysWaiting) == 0 && route is not null && Readiness.IsReady)
        {
            if (route.Connection is { } connection && connection.TrySendOneway(route.ChannelId, method, arguments, argumentsFormatter, SerializerOptions))
                return;
            if (route.Local is not null && _node.ConfirmedEpoch() != 0)
            {
                // This process leads: the real method starts on the caller's thread, so a caller's oneways start in order.
                _ = OnewayWhenReadyAsync(method, arguments, argumentsFormatter, Stopwatch.GetTimestamp());
                return;
            }
        }
        // Not ready (no leader, the real client being built, fencing not confirmed) or oneways already waiting: wait
        // in this channel's one queue, so they reach the leader in the order they were made.
        QueueOneway(new QueuedOneway<TArgs>(method, arguments, argumentsFormatter, Stopwatch.GetTimestamp()));
    }

    private async Task OnewayWhenReadyAsync<TArgs>(ClusterMethod method, TArgs arguments, IMessagePackFormatter<TArgs> argumentsFormatter, long started)
    {
        try
        {
            var timeout = TimeoutOf(method);
            while (true)
            {
                var remaining = timeout - Stopwatch.GetElapsedTime(started);
                if (remaining <= TimeSpan.Zero) throw new ClusterTimeoutException(method.Name, timeout);
                var route = _route;
                if (route is null || !Readiness.IsReady)
                {
                    await WaitForCallAsync(method, timeout, started, CancellationToken.None).ConfigureAwait(false);
                    continue;
                }
                if (route.Local is { } leader)
                {
                    long fence = _node.ConfirmedEpoch();
                    if (fence == 0)
                    {
                        await Task.Delay(FencedRetryDelay).ConfigureAwait(false);
                        continue;
                    }
                    await InvokeLocalAsync<TArgs, object?>(leader, method, arguments, argumentsFormatter, null, timeout, remaining, fence, CancellationToken.None).ConfigureAwait(false);
                    return;
                }
                if (route.Connection!.TrySendOneway(route.ChannelId, method, arguments, argumentsFormatter, SerializerOptions)) return;
                if (_route == route) DetachRemote(route.Connection);
            }
        }
        catch (Exception ex)
        {
            NodeLog.OnewayFailed(_logger, method.Name, ex);
        }
    }
}
