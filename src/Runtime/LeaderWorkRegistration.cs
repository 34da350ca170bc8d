using ClusterSharing.Node;

namespace ClusterSharing;

/// <summary>
/// The registration returned by <see cref="ClusterClient{T}.WhenLeader"/>. Disposing it cancels a running run and
/// stops the work from starting again; <see cref="DisposeAsync"/> also waits for the run to return (at most
/// <see cref="LeaderWorkOptions.GracePeriod"/>).
/// </summary>
public sealed class LeaderWorkRegistration : IAsyncDisposable, IDisposable
{
    private readonly ClusterNode _node;
    private readonly LeaderWork _work;
    private readonly Action<LeaderWorkRegistration>? _onDisposed;
    private int _disposed;

    internal LeaderWorkRegistration(ClusterNode node, LeaderWork work, Action<LeaderWorkRegistration>? onDisposed)
    {
        _node = node;
        _work = work;
        _onDisposed = onDisposed;
    }

    /// <summary>
    /// Validates <paramref name="options"/>, registers <paramref name="work"/> on <paramref name="node"/> and tracks the
    /// registration in <paramref name="registrations"/> (under <paramref name="gate"/>) until it is disposed.
    /// </summary>
    /// <exception cref="ObjectDisposedException"><paramref name="owner"/> was disposed.</exception>
    internal static LeaderWorkRegistration Register(ClusterNode node, Func<CancellationToken, Task> work, LeaderWorkOptions? options,
        object gate, List<LeaderWorkRegistration> registrations, Func<bool> ownerDisposed, object owner)
    {
        ArgumentNullException.ThrowIfNull(work);
        var resolved = options?.Copy() ?? new LeaderWorkOptions();
        resolved.Validate();
        lock (gate)
        {
            ObjectDisposedException.ThrowIf(ownerDisposed(), owner);
            var registration = new LeaderWorkRegistration(node, node.AddLeaderWork(work, resolved), r => { lock (gate) registrations.Remove(r); });
            registrations.Add(registration);
            return registration;
        }
    }

    /// <summary>The work's name (<see cref="LeaderWorkOptions.Name"/>).</summary>
    public string Name => _work.Name;

    /// <summary>Cancels the work and waits until a running run returned, at most the grace period. Idempotent.</summary>
    public async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0) return;
        _onDisposed?.Invoke(this);
        _node.RemoveLeaderWork(_work);
        await _work.StopAsync().ConfigureAwait(false);
    }

    /// <summary>Cancels the work without waiting for it to return. Idempotent.</summary>
    public void Dispose()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0) return;
        _onDisposed?.Invoke(this);
        _node.RemoveLeaderWork(_work);
        _work.Stop();
    }
}
