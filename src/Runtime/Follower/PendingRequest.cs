using System.Threading.Tasks.Sources;
using ClusterSharing.Diagnostics;
using ClusterSharing.Protocol;
using ClusterSharing.Serialization;
using MessagePack;
using MessagePack.Formatters;
using ClusterSharing.Transport;

namespace ClusterSharing.Follower;

/// <summary>
/// One request waiting for its response in a <see cref="LeaderConnection"/>'s request table. Exactly one of
/// <see cref="TryComplete"/>, <see cref="Fail"/> or the deadline wins (<see cref="TryClaim"/>).
/// </summary>
internal abstract class PendingRequest : ITrackedRequest
{
    private int _claimed;

    public long RequestId { get; set; }

    /// <summary>Stopwatch timestamp after which the request times out; <see cref="long.MaxValue"/> for none.</summary>
    public long Deadline { get; set; } = long.MaxValue;

    /// <summary>Span and metrics of an invoke (ended where it completes).</summary>
    public CallTelemetry Telemetry;

    /// <summary>True once the frame was handed to the connection (the leader may have run it).</summary>
    public bool Sent { get; set; }

    /// <summary>Claims the right to complete; false when something else already did.</summary>
    public bool TryClaim() => Interlocked.Exchange(ref _claimed, 1) == 0;

    /// <summary>Makes a pooled request claimable again for its next use.</summary>
    protected void ResetClaim() => Volatile.Write(ref _claimed, 0);

    /// <summary>True once completed, failed or timed out.</summary>
    public bool IsClaimed => Volatile.Read(ref _claimed) != 0;

    /// <summary>Completes from the response frame (on the read loop; the frame is valid only during the call).</summary>
    public abstract void TryComplete(in Frame frame);

    /// <summary>Completes with an error (leader lost, timeout, cancellation).</summary>
    public abstract void Fail(Exception error);

    /// <summary>The exception for a deadline that passed.</summary>
    /// <param name="leader">The leader's endpoint, for the message.</param>
    public abstract Exception TimedOut(string leader);

    /// <summary>The exception when the leader is lost with this request pending.</summary>
    public abstract Exception Lost(string reason);

    /// <summary>
    /// Fails because the leader said, leaving, that it never ran this request (its goodbye's last dispatched id is
    /// lower): an invoke is then safe to run again on the next leader.
    /// </summary>
    public virtual void FailNotRun(string reason) => Fail(Lost(reason));
}

/// <summary>
/// Runs an invoke again on the next leader after a deposed leader refused it unrun (fencing,
/// <see cref="RemoteError.NotRunCode"/>), so a caller on the allocation-free fast path sees the new leader's result.
/// </summary>
internal interface INotRunRetry<TResult>
{
    /// <summary>Runs the call again; its outcome completes <paramref name="call"/> (<see cref="PendingCall{TResult}.CompleteRetried"/>). At most once.</summary>
    void Retry(PendingCall<TResult> call);

    /// <summary>The call completed without a retry: the state can be reused.</summary>
    void Release();
}

/// <summary>
/// A pending invoke; awaited as a <see cref="ValueTask{TResult}"/> without a Task allocation. Pooled per result type:
/// the awaiter's <c>GetResult</c> returns it to the pool, so a steady stream of calls allocates nothing.
/// </summary>
/// <remarks>
/// Reuse is safe because nothing keeps a reference past <c>GetResult</c>: the request table gives it up before
/// completing it, the cancellation registration is disposed (waiting out a running callback) before completion, and a
/// stale awaiter is refused by the version token of <see cref="ManualResetValueTaskSourceCore{TResult}"/>.
/// </remarks>
internal sealed class PendingCall<TResult> : PendingRequest, IValueTaskSource<TResult>
{
    private static readonly BoundedPool<PendingCall<TResult>> Pool = new(1024);

    private IMessagePackFormatter<TResult>? _resultFormatter;
    private MessagePackSerializerOptions _options;
    private string _method;
    private TimeSpan _timeout;
    private ManualResetValueTaskSourceCore<TResult> _core;
    private CancellationTokenRegistration _cancellation;
    private INotRunRetry<TResult>? _retry;

    public PendingCall(string method, IMessagePackFormatter<TResult>? resultFormatter, MessagePackSerializerOptions options, TimeSpan timeout)
    {
        _method = method;
        _resultFormatter = resultFormatter;
        _options = options;
        _timeout = timeout;
        // Continuations must not run on the connection's read loop.
        _core.RunContinuationsAsynchronously = true;
    }

    /// <summary>A pooled call (or a new one) set up for one request.</summary>
    public static PendingCall<TResult> Rent(string method, IMessagePackFormatter<TResult>? resultFormatter, MessagePackSerializerOptions options,
        TimeSpan timeout, long deadline)
    {
        if (Pool.TryRent(out var call))
        {
            call._method = method;
            call._resultFormatter = resultFormatter;
            call._options = options;
            call._timeout = timeout;
        }
        else
        {
            call = new PendingCall<TResult>(method, resultFormatter, options, timeout);
        }
        call.Deadline = deadline;
        return call;
    }

    /// <summary>Where a fencing refusal of this call is retried (the fast path); without one it fails with <see cref="LeaderLostException"/> (not sent).</summary>
    public void SetRetry(INotRunRetry<TResult> retry) => _retry = retry;

    private void ReleaseRetry()
    {
        var retry = _retry;
        _retry = null;
        retry?.Release();
    }

    /// <summary>Completes with the outcome of the retry on the next leader.</summary>
    public void CompleteRetried(TResult value) => _core.SetResult(value);

    /// <summary>Completes with the failure of the retry on the next leader.</summary>
    public void FailRetried(Exception error) => _core.SetException(error);

    private void Recycle()
    {
        ReleaseRetry();
        _core.Reset();
        // Normally already disposed on completion; but a close that failed the call between its table entry and its
        // registration leaves a live one, which must not outlive this use of the object.
        _cancellation.Dispose();
        _cancellation = default;
        _resultFormatter = null;
        _options = WireSerializer.Standard;
        Sent = false;
        ResetClaim();
        Pool.TryReturn(this);
    }

    public ValueTask<TResult> Task => new(this, _core.Version);

    public void RegisterCancellation(CancellationToken token, LeaderConnection connection)
    {
        if (!token.CanBeCanceled) return;
        _cancellation = token.UnsafeRegister(static (state, token) =>
        {
            var (call, connection) = ((PendingCall<TResult>, LeaderConnection))state!;
            connection.CancelRequest(call, token);
        }, (this, connection));
        // The reply may have won the race with the registration; do not keep the call alive through the token.
        if (IsClaimed) _cancellation.Unregister();
    }

    public override void TryComplete(in Frame frame)
    {
        _cancellation.Dispose();
        try
        {
            var header = frame.ReadHeader<ResultHeader>();
            var reader = frame.CreateBodyReader();
            if (header.Status == ResultStatus.Ok)
            {
                var value = _resultFormatter is null ? default! : WireSerializer.Read(ref reader, _resultFormatter, _options);
                Telemetry.End(null);
                ReleaseRetry();
                _core.SetResult(value);
            }
            else
            {
                var remote = RemoteError.Read(ref reader);
                // A deposed leader refused the call before running it (fencing): safe to retry on the new leader.
                Exception error = remote is ClusterRemoteException notRun && RemoteError.IsNotRun(notRun) ? new LeaderLostException(_method, requestSent: false, remote) : remote;
                Telemetry.End(error);
                if (error is LeaderLostException && _retry is { } retry)
                {
                    _retry = null;
                    retry.Retry(this);
                    return;
                }
                ReleaseRetry();
                _core.SetException(error);
            }
        }
        catch (Exception ex) when (ex is MessagePackSerializationException or ProtocolException)
        {
            var error = new ClusterProtocolException($"The leader's reply to '{_method}' could not be decoded: {ex.Message}. Do the leader and this process run the same contract version?", ex);
            Telemetry.End(error);
            ReleaseRetry();
            _core.SetException(error);
        }
    }

    public override void Fail(Exception error)
    {
        _cancellation.Dispose();
        Telemetry.End(error);
        ReleaseRetry();
        _core.SetException(error);
    }

    public override void FailNotRun(string reason)
    {
        _cancellation.Dispose();
        var error = new LeaderLostException(_method, requestSent: false, new ClusterClientException(reason));
        Telemetry.End(error);
        if (_retry is { } retry)
        {
            _retry = null;
            retry.Retry(this);
            return;
        }
        _core.SetException(error);
    }

    public override Exception TimedOut(string leader) => new ClusterTimeoutException(_method, _timeout, leader);

    public override Exception Lost(string reason) => new LeaderLostException(_method, Sent, new ClusterClientException(reason));

    TResult IValueTaskSource<TResult>.GetResult(short token)
    {
        // A stale token (awaited twice) throws without recycling the call that is in use now.
        if (token != _core.Version) return _core.GetResult(token);
        try
        {
            return _core.GetResult(token);
        }
        finally
        {
            Recycle();
        }
    }

    ValueTaskSourceStatus IValueTaskSource<TResult>.GetStatus(short token) => _core.GetStatus(token);

    void IValueTaskSource<TResult>.OnCompleted(Action<object?> continuation, object? state, short token, ValueTaskSourceOnCompletedFlags flags) =>
        _core.OnCompleted(continuation, state, token, flags);
}

/// <summary>A pending control request (handshake heartbeat, channel registration); rare, so a Task is fine.</summary>
internal sealed class PendingControl<TResult>(Func<Frame, TResult> decode, string what) : PendingRequest
{
    private readonly TaskCompletionSource<TResult> _source = new(TaskCreationOptions.RunContinuationsAsynchronously);

    public Task<TResult> Task => _source.Task;

    public override void TryComplete(in Frame frame)
    {
        try
        {
            _source.TrySetResult(decode(frame));
        }
        catch (Exception ex)
        {
            _source.TrySetException(ex);
        }
    }

    public override void Fail(Exception error) => _source.TrySetException(error);

    public override Exception TimedOut(string leader) => new TimeoutException($"The leader ({leader}) did not answer {what} in time.");

    public override Exception Lost(string reason) => new ClusterClientException($"The leader connection closed while waiting for {what}: {reason}");
}
