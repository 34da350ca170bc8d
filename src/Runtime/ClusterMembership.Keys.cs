using ClusterSharing.Node.Membership.Keys;

namespace ClusterSharing;

public sealed partial class ClusterMembership
{
    private readonly object _keysGate = new();
    private readonly HashSet<string> _addedKeys = new(StringComparer.Ordinal);
    private readonly List<LeaderWorkRegistration> _leaderWork = [];
    private Action<KeyLease>? _onKeyAcquired;
    private Action<string, long, KeyReleaseReason>? _onKeyReleased;

    /// <summary>
    /// Holds <paramref name="key"/>: this process may own it from now on. Among the live eligible members that hold a
    /// key, the leader makes one the owner (weighted rendezvous hashing: a join or a leave moves about 1/N of the keys),
    /// and hands it over fenced: the old owner's token fires and its work returns (at most
    /// <see cref="ClusterClientOptions.KeyReleaseGrace"/>) before the new owner starts. See docs/keys.md.
    /// </summary>
    /// <param name="key">1 to 256 characters.</param>
    /// <exception cref="ArgumentException">The key is empty or longer than 256 characters.</exception>
    /// <exception cref="InvalidOperationException">This process already holds 100,000 keys.</exception>
    public void AddKey(string key)
    {
        ObjectDisposedException.ThrowIf(Volatile.Read(ref _disposed) != 0, this);
        _membership.Keys.Add(key);
        lock (_keysGate) _addedKeys.Add(key);
    }

    /// <summary>Stops holding <paramref name="key"/>: if this process owns it, its token fires now and the key moves to another holder.</summary>
    /// <exception cref="ArgumentException">The key is empty or longer than 256 characters.</exception>
    public void RemoveKey(string key)
    {
        _membership.Keys.Remove(key);
        lock (_keysGate) _addedKeys.Remove(key);
    }

    /// <summary>The keys this process holds (added and not removed).</summary>
    public IReadOnlyCollection<string> Keys => _membership.Keys.Held;

    /// <summary>
    /// True when this process owns <paramref name="key"/> now: it holds the key, the leader made it the owner, and its
    /// lease (renewed through the leader) has not run out. False for a key this process does not hold.
    /// </summary>
    public bool IsLeaderFor(string key) => _membership.Keys.IsLeaderFor(key);

    /// <summary>This process's current ownership of <paramref name="key"/> (its epoch and token), or null when it does not own it.</summary>
    public KeyLease? GetKeyLease(string key) => _membership.Keys.Lease(key);

    /// <summary>
    /// The owner of every key some member holds, as the leader announced it: key to member id (a key between two owners
    /// is missing). Every member converges on the same view; a snapshot (read it again for a newer one).
    /// </summary>
    public IReadOnlyDictionary<string, string> KeyOwners => _membership.Keys.Owners;

    /// <summary>
    /// Runs <paramref name="work"/> if this process owns <paramref name="key"/>. If it does not, waits up to
    /// <paramref name="wait"/> (default 2 × HeartbeatInterval) for it to become the owner, then checks once more and runs
    /// the work or returns false (msc's doIfMasterByKey rule). Calls for one key run one after another, in the order they
    /// were made. The work's token fires when the ownership ends (or <paramref name="cancellationToken"/> fires); a key
    /// moves only after the work returned or the release grace passed.
    /// </summary>
    /// <returns>True when the work ran (its exception, if any, is rethrown), false when this process did not own the key.</returns>
    /// <exception cref="ArgumentException">The key is invalid.</exception>
    /// <exception cref="OperationCanceledException"><paramref name="cancellationToken"/> fired while waiting.</exception>
    public Task<bool> DoIfLeaderAsync(string key, Func<CancellationToken, Task> work, TimeSpan? wait = null, CancellationToken cancellationToken = default)
    {
        ObjectDisposedException.ThrowIf(Volatile.Read(ref _disposed) != 0, this);
        if (wait < TimeSpan.Zero) throw new ArgumentOutOfRangeException(nameof(wait), wait, "The wait must not be negative.");
        return _membership.Keys.DoIfLeaderAsync(key, work, wait, cancellationToken);
    }

    /// <summary>This process became the owner of a key (raised in order with <see cref="KeyReleased"/>, on one worker).</summary>
    public event EventHandler<KeyAcquiredEventArgs>? KeyAcquired;

    /// <summary>This process stopped owning a key; the key's token has fired.</summary>
    public event EventHandler<KeyReleasedEventArgs>? KeyReleased;

    /// <summary>
    /// Runs <paramref name="work"/> only while this process leads, cancels it when leadership is lost and starts it again
    /// on the next term this process wins (as <see cref="ClusterClient{T}.WhenLeader"/>, for a process without a client).
    /// </summary>
    /// <param name="work">The work; its token fires when this process stops leading.</param>
    /// <param name="options">Name, grace period and restart policy; defaults when null.</param>
    /// <returns>A registration; disposing it cancels the work. Disposing the membership disposes it too.</returns>
    /// <exception cref="ArgumentOutOfRangeException">An option is out of range.</exception>
    public LeaderWorkRegistration WhenLeader(Func<CancellationToken, Task> work, LeaderWorkOptions? options = null) =>
        LeaderWorkRegistration.Register(_node, work, options, _keysGate, _leaderWork, () => Volatile.Read(ref _disposed) != 0, this);

    private void AttachKeys()
    {
        _onKeyAcquired = lease => KeyAcquired?.Invoke(this, new KeyAcquiredEventArgs(lease));
        _onKeyReleased = (key, epoch, reason) => KeyReleased?.Invoke(this, new KeyReleasedEventArgs(key, epoch, reason));
        _membership.Keys.Acquired += _onKeyAcquired;
        _membership.Keys.Released += _onKeyReleased;
    }

    private async ValueTask DetachKeysAsync()
    {
        _membership.Keys.Acquired -= _onKeyAcquired;
        _membership.Keys.Released -= _onKeyReleased;
        string[] keys;
        LeaderWorkRegistration[] works;
        lock (_keysGate)
        {
            keys = [.. _addedKeys];
            _addedKeys.Clear();
            works = [.. _leaderWork];
        }
        // Keys this handle added are given up (the node may live on for other handles).
        foreach (var key in keys) _membership.Keys.Remove(key);
        foreach (var work in works) await work.DisposeAsync().ConfigureAwait(false);
    }
}
