using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using ClusterSharing.Liveness;
using Microsoft.Extensions.Logging;

namespace ClusterSharing.Coordination.Local;

/// <summary>
/// A term won in the local election. With a lease it renews the lease from the monitor thread (not the thread pool,
/// so CPU-bound work cannot starve it); a renewal that fails means another process took the lease over while this one
/// was stopped or starved, and <see cref="Lost"/> fires. Without a lease file the term lasts until it is disposed.
/// </summary>
internal sealed class LocalLeadershipTerm : ILeadershipTerm, IMonitored
{
    private readonly LeaderLease? _lease;
    private readonly LivenessMonitor _monitor;
    private readonly int _port;
    private readonly ILogger _logger;
    private readonly long _renewTicks;
    private readonly CancellationTokenSource _lost = new();
    private long _word;
    private readonly long _validTicks;
    private readonly object _renewGate = new();
    private long _lastRenewal; // 0: renew on the first tick, the lease was taken a while (bind, publish) ago
    private long _validUntil;  // Stopwatch timestamp up to which IsCurrent holds without a re-check; 0: check first
    private int _ended; // 1 once lost or resigned: no renewal, no release after that
    private string? _lostReason;
    private long _successorEpoch;

    /// <param name="listener">The bound listener.</param>
    /// <param name="endpoint">Where followers connect.</param>
    /// <param name="lease">The lease held as <paramref name="word"/>; null without a usable lease file.</param>
    /// <param name="word">The lease word won (0 without a lease).</param>
    /// <param name="election">Renewal period and staleness of the lease.</param>
    /// <param name="monitor">The thread that renews the lease.</param>
    /// <param name="logger">Where a deposition is logged.</param>
    public LocalLeadershipTerm(Socket listener, EndPoint endpoint, LeaderLease? lease, long word, LocalElection election, LivenessMonitor monitor, ILogger logger)
    {
        Listener = listener;
        Endpoint = endpoint;
        _lease = lease;
        _word = word;
        _monitor = monitor;
        _port = election.Port;
        _logger = logger;
        _renewTicks = Math.Max(1, (long)(election.RenewEvery.TotalSeconds * Stopwatch.Frequency));
        // Half the staleness bound: a takeover needs the whole bound, so a process stopped right after a check that
        // passed still has half of it before anyone can replace it (the rest of the window is documented in semantics.md).
        _validTicks = (long)(election.StaleAfter.TotalSeconds * Stopwatch.Frequency / 2);
        Epoch = lease is null ? 0 : LeaderLease.EpochOf(word);
        if (lease is not null) monitor.Add(this);
    }

    public long Epoch { get; }

    public Socket Listener { get; }

    public EndPoint Endpoint { get; }

    public CancellationToken Lost => _lost.Token;

    public string? LostReason => Volatile.Read(ref _lostReason);

    public long SuccessorEpoch => Interlocked.Read(ref _successorEpoch);

    /// <summary>
    /// True while the lease word is still ours and this process renewed it less than half the staleness bound ago
    /// (always, without a lease, until the term ends). A Stopwatch comparison and one read of the shared lease word:
    /// no system call, no lock. A candidate swaps the lease only once it has been unrenewed for the whole staleness
    /// bound (on the same monotonic clock), so while this holds nobody else can lead.
    /// </summary>
    public bool IsCurrent
    {
        get
        {
            if (Volatile.Read(ref _ended) != 0) return false;
            if (_lease is null) return true;
            return Stopwatch.GetTimestamp() < Volatile.Read(ref _validUntil) && _lease.ReadWord() == Interlocked.Read(ref _word);
        }
    }

    /// <summary>
    /// <see cref="IsCurrent"/>, else (after a gap: the process was stopped, or its monitor thread starved) renews the lease
    /// now: the compare-and-swap succeeds only if nobody took the lease meanwhile, and a failure ends the term at once
    /// (<see cref="Lost"/> fires), so a deposed leader steps down before it serves anything.
    /// </summary>
    public bool Confirm()
    {
        if (IsCurrent) return true;
        if (_lease is null || Volatile.Read(ref _ended) != 0) return false;
        return Renew(Stopwatch.GetTimestamp());
    }

    void IMonitored.OnTick(long timestamp)
    {
        if (Volatile.Read(ref _ended) != 0 || timestamp - Volatile.Read(ref _lastRenewal) < _renewTicks) return;
        Renew(timestamp);
    }

    // From the monitor thread and from Confirm (dispatch threads after a gap); serialized so one renewal never reads
    // the other's swap as a takeover.
    private bool Renew(long timestamp)
    {
        LeaseState current;
        lock (_renewGate)
        {
            if (Volatile.Read(ref _ended) != 0) return false;
            Volatile.Write(ref _lastRenewal, timestamp);
            long word = Interlocked.Read(ref _word);
            // timestamp was taken before the swap writes its own (later) renewal time, so the validity never outlasts the lease.
            if (_lease!.TryRenew(ref word))
            {
                Interlocked.Exchange(ref _word, word);
                Volatile.Write(ref _validUntil, timestamp + _validTicks);
                return true;
            }
            Volatile.Write(ref _ended, 1);
            current = _lease.Read();
        }
        // Lost's callbacks (the node stepping down) run on the thread pool, never on the monitor or a dispatch thread.
        ThreadPool.UnsafeQueueUserWorkItem(static s => s.term.OnLost(s.current), (term: this, current), preferLocal: false);
        return false;
    }

    private void OnLost(LeaseState current)
    {
        _monitor.Remove(this);
        Interlocked.Exchange(ref _successorEpoch, current.Epoch);
        Volatile.Write(ref _lostReason, $"the lease is now at epoch {current.Epoch}");
        ElectionLog.Deposed(_logger, _port, current.ToString(), Epoch);
        _lost.Cancel();
    }

    /// <summary>Stops renewing and releases the lease (keeping its epoch), unless it was lost already.</summary>
    public ValueTask ResignAsync(CancellationToken cancellationToken = default)
    {
        if (_lease is null)
        {
            Interlocked.Exchange(ref _ended, 1);
            return ValueTask.CompletedTask;
        }
        _monitor.Remove(this);
        lock (_renewGate)
        {
            if (Interlocked.Exchange(ref _ended, 1) == 0) _lease.Release(Interlocked.Read(ref _word));
        }
        return ValueTask.CompletedTask;
    }

    /// <summary>Resigns and closes the listener (a no-op when the leader server closed it already).</summary>
    public async ValueTask DisposeAsync()
    {
        await ResignAsync().ConfigureAwait(false);
        Listener.Dispose();
    }
}
