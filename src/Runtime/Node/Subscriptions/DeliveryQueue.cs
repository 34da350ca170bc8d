using ClusterSharing.Proxies;
using Microsoft.Extensions.Logging;
using ClusterSharing.Diagnostics;

namespace ClusterSharing.Node.Subscriptions;

/// <summary>What the delivery worker needs from the registry it delivers for.</summary>
internal interface IDeliveryOwner
{
    /// <summary>Values were dropped because the listeners fell behind; called on a thread-pool thread, outside every lock.</summary>
    void Resynchronise(int dropped);

    /// <summary>The subscription ended: forget it (if not yet) and return the listeners it had.</summary>
    SubscriptionListener[] Forget(LocalSubscription subscription);

    /// <summary>A listener cannot take more values: remove it.</summary>
    void Remove(LocalSubscription subscription, SubscriptionListener listener);

    /// <summary>A listener threw, or the subscription faulted.</summary>
    void ListenerFailed(ClusterMethod method, Exception error);
}

/// <summary>What the delivery worker does next.</summary>
internal enum DeliveryKind
{
    Value,
    Completed,

    /// <summary>A second local listener of a key becomes live (after the last value, if replayed).</summary>
    Join,

    /// <summary>The subscription was attached to a new leader: suppress a replay of the value already delivered.</summary>
    Resumed,
}

internal readonly record struct Delivery(DeliveryKind Kind, LocalSubscription Subscription, byte[]? Payload, Exception? Error, SubscriptionListener? Listener)
{
    public static Delivery Value(LocalSubscription subscription, byte[] value) => new(DeliveryKind.Value, subscription, value, null, null);

    public static Delivery Completed(LocalSubscription subscription, Exception? error) => new(DeliveryKind.Completed, subscription, null, error, null);

    public static Delivery Join(LocalSubscription subscription, SubscriptionListener listener) => new(DeliveryKind.Join, subscription, null, null, listener);

    public static Delivery Resumed(LocalSubscription subscription) => new(DeliveryKind.Resumed, subscription, null, null, null);
}

/// <summary>
/// One channel's bounded delivery queue, drained in order by one worker: values never run user code on the
/// connection's read loop or on the real client's thread. When the listeners fall behind by more than the bound, the
/// waiting values are dropped and the owner resynchronises, so neither this process nor the leader grows without bound.
/// Until the owner says the resynchronisation is done, later values are dropped too: a listener never sees the newest
/// value from the stream being let go of and then misses the values published while it resynchronises.
/// </summary>
internal sealed class DeliveryQueue(IDeliveryOwner owner, string channelName, int bufferLimit, ILogger logger)
{
    private readonly object _gate = new();
    private readonly Queue<Delivery> _queue = new();
    private int _queuedValues;
    private bool _pumping;
    // Between an overflow and the end of its resynchronisation: values are dropped (they come from a connection being let
    // go of, or precede the replay), and a further overflow does not schedule a second resynchronisation.
    private bool _resynchronising;

    public int BufferLimit => bufferLimit;

    /// <param name="delivery">What to deliver.</param>
    /// <param name="replay">A resynchronisation's own replay: bounded by the number of keys, it never overflows again.</param>
    public void Enqueue(in Delivery delivery, bool replay = false)
    {
        bool start;
        lock (_gate)
        {
            if (delivery.Kind == DeliveryKind.Value)
            {
                if (_resynchronising && !replay) return;
                if (_queuedValues >= bufferLimit && !replay)
                {
                    OverflowLocked();
                    return;
                }
                _queuedValues++;
            }
            _queue.Enqueue(delivery);
            start = !_pumping;
            _pumping = true;
        }
        if (start) ThreadPool.UnsafeQueueUserWorkItem(static self => self.Pump(), this, preferLocal: false);
    }

    /// <summary>
    /// The resynchronisation after an overflow is done (the subscriptions were attached to a route again, or the
    /// leader's last values were queued): values are accepted again.
    /// </summary>
    public void EndResynchronising()
    {
        lock (_gate) _resynchronising = false;
    }

    /// <summary>Drops everything waiting (the channel stops).</summary>
    public void Clear()
    {
        lock (_gate)
        {
            _queue.Clear();
            _queuedValues = 0;
        }
    }

    /// <summary>
    /// Under <see cref="_gate"/> (possibly inside the hub's per-key lock): drops the waiting values and schedules
    /// the resynchronisation on another thread, which takes the other locks.
    /// </summary>
    private void OverflowLocked()
    {
        ClusterClientMetrics.Overflowed(channelName);
        int kept = _queue.Count;
        for (int i = 0; i < kept; i++)
        {
            var item = _queue.Dequeue();
            if (item.Kind != DeliveryKind.Value) _queue.Enqueue(item);
        }
        int dropped = _queuedValues + 1;
        _queuedValues = 0;
        _resynchronising = true;
        ThreadPool.UnsafeQueueUserWorkItem(static state => state.owner.Resynchronise(state.dropped), (owner, dropped), preferLocal: false);
    }

    private void Pump()
    {
        while (true)
        {
            Delivery item;
            lock (_gate)
            {
                if (!_queue.TryDequeue(out item))
                {
                    _pumping = false;
                    return;
                }
                if (item.Kind == DeliveryKind.Value) _queuedValues--;
            }
            try
            {
                Process(item);
            }
            catch (Exception ex)
            {
                // Only listener code can throw here and Process isolates it; this keeps the worker alive regardless.
                NodeLog.ListenerFailed(logger, channelName, ex);
            }
        }
    }

    private void Process(in Delivery item)
    {
        var subscription = item.Subscription;
        switch (item.Kind)
        {
            case DeliveryKind.Value:
                if (subscription.Closed) return;
                var value = item.Payload!;
                if (subscription.SuppressIfEqual is { } previous)
                {
                    // The first value after attaching to a new leader is usually the replay of the last value this
                    // process already delivered: listeners see it once, not twice.
                    subscription.SuppressIfEqual = null;
                    if (previous.AsSpan().SequenceEqual(value)) return;
                }
                subscription.LastDelivered = value;
                foreach (var listener in subscription.Listeners)
                {
                    if (!listener.Pending && !listener.Removed) Deliver(subscription, listener, value);
                }
                break;
            case DeliveryKind.Join:
                var joining = item.Listener!;
                if (!subscription.Closed && subscription.ReplaysLastValue && subscription.LastDelivered is { } last && !joining.Removed) Deliver(subscription, joining, last);
                joining.Pending = false;
                break;
            case DeliveryKind.Resumed:
                if (subscription.ReplaysLastValue) subscription.SuppressIfEqual = subscription.LastDelivered;
                break;
            case DeliveryKind.Completed:
                var listeners = owner.Forget(subscription);
                if (item.Error is not null) owner.ListenerFailed(subscription.Method, item.Error);
                foreach (var listener in listeners) listener.Complete(item.Error);
                break;
        }
    }

    private void Deliver(LocalSubscription subscription, SubscriptionListener listener, byte[] value)
    {
        try
        {
            if (!listener.Deliver(value)) owner.Remove(subscription, listener);
        }
        catch (Exception ex)
        {
            owner.ListenerFailed(subscription.Method, ex);
        }
    }
}
