using System.Diagnostics;

namespace ClusterSharing;

/// <summary>
/// This process's ownership of one key for one owner term (see <see cref="ClusterMembership.AddKey"/>): the key, the
/// term's epoch, and a token that fires when the ownership ends (the key moved, was removed, the lease expired, the
/// leader was lost, or the membership closed). A new term of the same key is a new lease with a higher epoch.
/// </summary>
public sealed class KeyLease
{
    private readonly CancellationTokenSource _ended = new();
    private readonly Func<long> _leaseUntil;
    private readonly object _gate = new();
    private int _running;
    private TaskCompletionSource? _drained;
    private Task _callbacks = Task.CompletedTask;

    internal KeyLease(string key, long epoch, Func<long> leaseUntil)
    {
        Key = key;
        Epoch = epoch;
        _leaseUntil = leaseUntil;
        Token = _ended.Token;
    }

    /// <summary>The key.</summary>
    public string Key { get; }

    /// <summary>
    /// The owner term's epoch: it grows with every change of owner, across leader changes too, so it can be passed
    /// upstream as a fencing token (a store that remembers the highest epoch per key refuses a stale owner).
    /// </summary>
    public long Epoch { get; }

    /// <summary>Fires when this ownership ends.</summary>
    public CancellationToken Token { get; }

    /// <summary>
    /// True while this process owns the key under this epoch: the token has not fired and the lease is within its time
    /// (checked against the monotonic clock now, so it is exact even when the token fires a little late).
    /// </summary>
    public bool IsValid => !_ended.IsCancellationRequested && Stopwatch.GetTimestamp() < _leaseUntil();

    /// <summary>Counts a run of work under this lease; false when the lease is no longer valid.</summary>
    internal bool TryEnter()
    {
        lock (_gate)
        {
            if (!IsValid) return false;
            _running++;
            return true;
        }
    }

    internal void Exit()
    {
        lock (_gate)
        {
            if (--_running == 0) _drained?.TrySetResult();
        }
    }

    /// <summary>Fires the token: it reads as cancelled at once; its callbacks run on the thread pool (<see cref="DrainAsync"/> waits for them).</summary>
    internal void End()
    {
        lock (_gate) _callbacks = _ended.CancelAsync();
    }

    internal bool HasEnded => _ended.IsCancellationRequested;

    /// <summary>True while a run of work under this lease has not returned.</summary>
    internal bool IsBusy
    {
        get { lock (_gate) return _running > 0; }
    }

    /// <summary>Completes with true when the token's callbacks ran and no run of work is left, false when <paramref name="grace"/> passed first.</summary>
    internal async Task<bool> DrainAsync(TimeSpan grace)
    {
        Task drained;
        lock (_gate)
        {
            drained = _running == 0 ? _callbacks
                : Task.WhenAll(_callbacks, (_drained ??= new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously)).Task);
            if (drained.IsCompleted) return true;
        }
        try
        {
            await drained.WaitAsync(grace).ConfigureAwait(false);
            return true;
        }
        catch (TimeoutException)
        {
            return false;
        }
        catch (Exception)
        {
            return true; // a token callback threw: it ran (the exception is the user's, seen where they registered it)
        }
    }

    /// <inheritdoc/>
    public override string ToString() => $"{Key} (epoch {Epoch}{(IsValid ? "" : ", ended")})";
}

/// <summary>Why this process stopped owning a key.</summary>
public enum KeyReleaseReason
{
    /// <summary>The leader moved the key to another member (a member joined, or the assignment changed).</summary>
    Moved,

    /// <summary>This process removed the key (<see cref="ClusterMembership.RemoveKey"/>).</summary>
    Removed,

    /// <summary>The lease expired: this process did not hear from a leader in time (it was stopped, starved or cut off).</summary>
    LeaseExpired,

    /// <summary>The connection to the leader ended (failover, or this process stopped leading).</summary>
    LeaderLost,

    /// <summary>The membership closed.</summary>
    Closed,
}

/// <summary>This process now owns <see cref="Key"/>.</summary>
public sealed class KeyAcquiredEventArgs(KeyLease lease) : EventArgs
{
    /// <summary>The ownership: its key, epoch and token.</summary>
    public KeyLease Lease { get; } = lease;

    /// <summary>The key.</summary>
    public string Key => Lease.Key;

    /// <summary>The owner term's epoch.</summary>
    public long Epoch => Lease.Epoch;
}

/// <summary>This process stopped owning <see cref="Key"/> (the lease's token has fired).</summary>
public sealed class KeyReleasedEventArgs(string key, long epoch, KeyReleaseReason reason) : EventArgs
{
    /// <summary>The key.</summary>
    public string Key { get; } = key;

    /// <summary>The epoch of the ownership that ended.</summary>
    public long Epoch { get; } = epoch;

    /// <summary>Why it ended.</summary>
    public KeyReleaseReason Reason { get; } = reason;
}
