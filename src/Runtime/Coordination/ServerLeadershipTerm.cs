using System.Net;
using System.Net.Sockets;
using System.Security.Cryptography.X509Certificates;

namespace ClusterSharing.Coordination;

/// <summary>
/// What a term kept on a coordination server (an etcd lease, a Redis key) shares whatever the engine: its state
/// (active, lost, resigned), the <see cref="TermDeadline"/> that ends it before the server could let it expire, the
/// lost signal (raised once, on the thread pool) and the listener it serves on. Engines renew and watch; this class
/// decides when the term is over.
/// </summary>
internal abstract class ServerLeadershipTerm : ILeadershipTerm
{
    private const int Active = 0, LostState = 1, Resigned = 2;

    private readonly CancellationTokenSource _lost = new();
    private int _state;
    private string? _lostReason;
    private long _successorEpoch;

    /// <param name="epoch">The term's fencing epoch.</param>
    /// <param name="listener">The listening socket the term serves followers on (closed at disposal).</param>
    /// <param name="endpoint">The address published for followers.</param>
    /// <param name="deadline">The safety deadline, started from the request that won the term.</param>
    /// <param name="certificate">The TLS certificate the leader presents, when the scope uses TLS.</param>
    protected ServerLeadershipTerm(long epoch, Socket listener, EndPoint endpoint, TermDeadline deadline, X509Certificate2? certificate)
    {
        Epoch = epoch;
        Listener = listener;
        Endpoint = endpoint;
        Deadline = deadline;
        Certificate = certificate;
    }

    /// <inheritdoc/>
    public long Epoch { get; }

    /// <inheritdoc/>
    public Socket Listener { get; }

    /// <inheritdoc/>
    public EndPoint Endpoint { get; }

    /// <inheritdoc/>
    public X509Certificate2? Certificate { get; }

    /// <inheritdoc/>
    public CancellationToken Lost => _lost.Token;

    /// <inheritdoc/>
    public string? LostReason => Volatile.Read(ref _lostReason);

    /// <inheritdoc/>
    public long SuccessorEpoch => Interlocked.Read(ref _successorEpoch);

    /// <summary>Neither lost nor resigned (the deadline aside).</summary>
    public bool IsActive => Volatile.Read(ref _state) == Active;

    /// <inheritdoc/>
    public bool IsCurrent => IsActive && Deadline.IsValid;

    /// <summary>Cancelled when the term stops renewing (lost, resigned or disposed): the engine's loops end on it.</summary>
    protected CancellationTokenSource Stop { get; } = new();

    /// <summary>The term's safety deadline.</summary>
    protected TermDeadline Deadline { get; }

    /// <inheritdoc/>
    public abstract ValueTask ResignAsync(CancellationToken cancellationToken = default);

    /// <inheritdoc/>
    public abstract ValueTask DisposeAsync();

    /// <summary>Marks the term resigned; false when it was lost or resigned already.</summary>
    protected bool TryMarkResigned() => Interlocked.CompareExchange(ref _state, Resigned, Active) == Active;

    /// <summary>True once <see cref="TryMarkResigned"/> succeeded.</summary>
    protected bool IsResigned => Volatile.Read(ref _state) == Resigned;

    /// <summary>
    /// Ends an active term: records why (and the successor's epoch when known), lets the engine log and clean up
    /// (<see cref="OnLost"/>), stops the loops and raises <see cref="Lost"/> on the thread pool, never inline in one of
    /// the engine's loops. Only the first call counts.
    /// </summary>
    protected void Lose(string reason, long successorEpoch = 0)
    {
        if (Interlocked.CompareExchange(ref _state, LostState, Active) != Active) return;
        Volatile.Write(ref _lostReason, reason);
        Interlocked.Exchange(ref _successorEpoch, successorEpoch);
        OnLost(reason);
        Stop.Cancel();
        ThreadPool.UnsafeQueueUserWorkItem(static s => ((CancellationTokenSource)s!).Cancel(), _lost);
    }

    /// <summary>Called once when the term is lost, before its loops stop (log it, abandon the lease).</summary>
    protected abstract void OnLost(string reason);

    /// <summary>Why the deadline passed, for <see cref="LostReason"/> (the server, the TTL, the margin).</summary>
    protected abstract string DeadlineReason();

    /// <summary>Loses the term when its deadline passes before <see cref="Stop"/> is cancelled.</summary>
    protected async Task DeadlineLoopAsync()
    {
        if (!await Deadline.WaitExpiredAsync(Stop.Token).ConfigureAwait(false)) return;
        Lose(DeadlineReason());
    }
}
