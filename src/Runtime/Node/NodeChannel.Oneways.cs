using ClusterSharing.Proxies;
using MessagePack.Formatters;

namespace ClusterSharing.Node;

/// <summary>
/// Oneways that cannot be sent at once (no leader yet, a failover, this process's real client being built) wait in one
/// queue per channel and are sent one at a time in the order they were made, each within its own timeout. While any
/// waits, new oneways queue behind them, so a caller's oneways never overtake each other.
/// </summary>
internal sealed partial class NodeChannel<T>
{
    private readonly Queue<QueuedOneway> _waitingOneways = new();
    private int _onewaysWaiting; // queued plus the one being sent; guarded by _waitingOneways for writes

    /// <summary>Oneways waiting in this channel's queue (including the one being sent).</summary>
    internal int OnewaysWaiting => Volatile.Read(ref _onewaysWaiting);

    private void QueueOneway(QueuedOneway oneway)
    {
        bool drain;
        lock (_waitingOneways)
        {
            _waitingOneways.Enqueue(oneway);
            drain = Interlocked.Increment(ref _onewaysWaiting) == 1;
        }
        if (drain) _ = Task.Run(DrainOnewaysAsync);
    }

    private async Task DrainOnewaysAsync()
    {
        while (true)
        {
            QueuedOneway next;
            lock (_waitingOneways) next = _waitingOneways.Dequeue();
            // Never throws: a oneway that cannot be sent within its timeout is logged and dropped (event 1004).
            await next.SendAsync(this).ConfigureAwait(false);
            lock (_waitingOneways)
            {
                if (Interlocked.Decrement(ref _onewaysWaiting) == 0) return;
            }
        }
    }

    private abstract class QueuedOneway
    {
        public abstract Task SendAsync(NodeChannel<T> channel);
    }

    private sealed class QueuedOneway<TArgs>(ClusterMethod method, TArgs arguments, IMessagePackFormatter<TArgs> formatter, long started) : QueuedOneway
    {
        public override Task SendAsync(NodeChannel<T> channel) => channel.OnewayWhenReadyAsync(method, arguments, formatter, started);
    }
}
