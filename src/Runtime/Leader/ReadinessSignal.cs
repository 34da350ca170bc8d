namespace ClusterSharing.Leader;

/// <summary>
/// Ready / not ready / failed, with a task for the next outcome. A failure faults the waiters of that moment
/// and is then forgotten by the state (a later wait sees the next attempt), so errors are never sticky.
/// </summary>
internal sealed class ReadinessSignal
{
    private readonly object _gate = new();
    private TaskCompletionSource _next = NewSource();
    private bool _ready;

    /// <summary>True while ready.</summary>
    public bool IsReady => Volatile.Read(ref _ready);

    /// <summary>The last failure since the last success, if any.</summary>
    public Exception? LastError { get; private set; }

    /// <summary>Completes when ready (already completed while ready); faults with the next failure.</summary>
    public Task NextOutcome
    {
        get { lock (_gate) return _next.Task; }
    }

    public void SetReady()
    {
        lock (_gate)
        {
            if (_ready) return;
            _ready = true;
            LastError = null;
            _next.TrySetResult();
        }
    }

    public void SetNotReady()
    {
        lock (_gate)
        {
            if (!_ready) return;
            _ready = false;
            _next = NewSource();
        }
    }

    public void SetFailed(Exception error)
    {
        TaskCompletionSource failed;
        lock (_gate)
        {
            _ready = false;
            LastError = error;
            failed = _next;
            _next = NewSource();
        }
        failed.TrySetException(error);
        // Nobody may be waiting; observe the fault so it never surfaces as an unobserved task exception.
        _ = failed.Task.Exception;
    }

    /// <summary>Waits until ready; throws the failure that happens first, or <see cref="TimeoutException"/>.</summary>
    public async ValueTask WaitAsync(TimeSpan timeout, CancellationToken cancellationToken)
    {
        var outcome = NextOutcome;
        if (outcome.IsCompletedSuccessfully) return;
        await outcome.WaitAsync(timeout, cancellationToken).ConfigureAwait(false);
    }

    private static TaskCompletionSource NewSource() => new(TaskCreationOptions.RunContinuationsAsynchronously);
}
