using ClusterSharing.Diagnostics;
using ClusterSharing.Protocol;
using ClusterSharing.Proxies;
using ClusterSharing.Transport;
using MessagePack;
using MessagePack.Formatters;

namespace ClusterSharing.Leader;

/// <summary>
/// One invoke running on the real client for a follower; its reply goes straight into the follower's connection.
/// Pooled: a call that took itself out of the in-flight table (so no cancel packet or close can still reach it) and was
/// not abandoned is reused for a later request.
/// </summary>
internal sealed class InflightCall : IReplyWriter, ITrackedRequest
{
    private static readonly BoundedPool<InflightCall> Pool = new(1024);

    private FollowerSession _session = null!;
    private ClusterMethod _method = null!;
    private CancellationTokenSource _cancellation = null!;
    public CallTelemetry Telemetry;
    // 0 running, 1 finished here (reply sent or dropped), 2 abandoned by the caller (cancel packet, connection gone).
    private int _done;
    // This call removed itself from the in-flight table: no other thread can reach it any more.
    private bool _removed;

    public long RequestId { get; private set; }

    /// <summary>None here: the caller's deadline arms the cancellation source (<see cref="CancelAfter"/>).</summary>
    public long Deadline => long.MaxValue;

    public static InflightCall Rent(FollowerSession session, long requestId, ClusterMethod method)
    {
        if (!Pool.TryRent(out var call)) call = new InflightCall();
        call._session = session;
        call.RequestId = requestId;
        call._method = method;
        call._cancellation = CancellationPool.Rent();
        call._done = 0;
        call._removed = false;
        return call;
    }

    /// <summary>Gives back a call that never entered the in-flight table (nothing else can have seen it).</summary>
    public void ReturnUnused()
    {
        CancellationPool.Return(_cancellation);
        Recycle();
    }

    private void Recycle()
    {
        _session = null!;
        _method = null!;
        _cancellation = null!;
        Pool.TryReturn(this);
    }

    public CancellationToken Token => _cancellation.Token;

    public void CancelAfter(int milliseconds) => _cancellation.CancelAfter(milliseconds);

    /// <summary>The caller gave up (cancel packet, or its connection closed): cancel the real call, send nothing.</summary>
    public void CancelByCaller()
    {
        if (Interlocked.CompareExchange(ref _done, 2, 0) != 0) return;
        try
        {
            _cancellation.Cancel();
        }
        catch (AggregateException)
        {
            // Callbacks of the real client threw while cancelling; the call is abandoned either way.
        }
    }

    public void WriteResult<TResult>(TResult value, IMessagePackFormatter<TResult> formatter, MessagePackSerializerOptions options)
    {
        if (!TryFinish()) return;
        try
        {
            _session.SendResult(RequestId, value, formatter, options);
        }
        catch (Protocol.ProtocolException ex) when (ex.Reason == Protocol.ProtocolErrorReason.FrameTooLarge)
        {
            _session.SendRuntimeError(RequestId, typeof(ClusterFrameTooLargeException),
                $"The result of '{_method.Name}' does not fit in a frame, so the leader discarded it (its real client returned normally): {ex.Message}");
        }
        catch (Exception ex) when (ex is Protocol.ProtocolException or MessagePackSerializationException)
        {
            _session.SendRuntimeError(RequestId, typeof(ClusterProtocolException), $"The result of '{_method.Name}' could not be sent by the leader: {ex.Message}");
        }
    }

    public void WriteVoid()
    {
        if (!TryFinish()) return;
        _session.SendVoidResult(RequestId);
    }

    private bool TryFinish()
    {
        _removed |= _session.TryRemoveInflight(RequestId, this);
        // Past the caller's deadline the caller has already failed with a timeout: drop the late reply.
        return Interlocked.CompareExchange(ref _done, 1, 0) == 0 && !_cancellation.IsCancellationRequested;
    }

    public async Task AwaitAsync(ValueTask pending)
    {
        try
        {
            await pending.ConfigureAwait(false);
            Finish(null);
        }
        catch (Exception ex)
        {
            Finish(ex);
        }
    }

    public void Complete(ValueTask completed)
    {
        try
        {
            completed.GetAwaiter().GetResult();
            Finish(null);
        }
        catch (Exception ex)
        {
            Finish(ex);
        }
    }

    public void Complete(Exception error) => Finish(error);

    private void Finish(Exception? error)
    {
        Telemetry.End(error);
        var session = _session;
        _removed |= session.TryRemoveInflight(RequestId, this);
        try
        {
            if (error is not null && Interlocked.CompareExchange(ref _done, 1, 0) == 0 && !_cancellation.IsCancellationRequested)
            {
                _session.LogCallFailed(RequestId, _method.Name, error);
                if (error is MessagePackSerializationException)
                {
                    _session.SendRuntimeError(RequestId, typeof(ClusterProtocolException),
                        $"The leader could not decode the arguments of '{_method.Name}': {error.Message}. Do all processes run the same contract version?");
                }
                else if (error is ClusterClientNotReadyException)
                {
                    // The leader's own failure (its real client could not be had while the call waited): not the real client's.
                    _session.SendRuntimeError(RequestId, error.GetType(), error.Message);
                }
                else
                {
                    _session.SendError(RequestId, error.GetType().FullName ?? error.GetType().Name, RemoteError.MessageOf(error, _session.ErrorDetail),
                        RemoteError.StackTraceOf(error, _session.ErrorDetail), error.Data["Code"]?.ToString());
                }
            }
            else if (error is null && Interlocked.CompareExchange(ref _done, 1, 0) == 0 && !_cancellation.IsCancellationRequested)
            {
                // The dispatcher returned without writing a result (a contract bug); never leave the caller waiting.
                _session.SendRuntimeError(RequestId, typeof(ClusterProtocolException), $"'{_method.Name}' completed on the leader without a result.");
            }
        }
        finally
        {
            // The real call is over (completed, failed or finally honoured its cancellation) and its reply is queued: its
            // in-flight slot is free, and a closing session may now close the connection.
            session.CallFinished();
        }
        // Abandoned calls may still be cancelling their source on another thread: leave both to the GC.
        if (Volatile.Read(ref _done) != 2)
        {
            CancellationPool.Return(_cancellation);
            if (_removed) Recycle();
        }
    }
}

/// <summary>Reply writer for oneways and publications: the result is discarded.</summary>
internal sealed class NoReply : IReplyWriter
{
    public static readonly NoReply Instance = new();

    public void WriteResult<TResult>(TResult value, IMessagePackFormatter<TResult> formatter, MessagePackSerializerOptions options)
    {
    }

    public void WriteVoid()
    {
    }
}
