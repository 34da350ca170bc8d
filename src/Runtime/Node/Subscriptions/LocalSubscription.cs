using ClusterSharing.Leader;
using ClusterSharing.Proxies;

namespace ClusterSharing.Node.Subscriptions;

/// <summary>One (member, registration) of this process: a subscriber of the leader's hub with any number of local listeners.</summary>
internal sealed class LocalSubscription(DeliveryQueue queue, ClusterMethod method, byte[] registration, long subscriptionId) : ISubscriber
{
    public ClusterMethod Method { get; } = method;

    public byte[] Registration { get; } = registration;

    public long SubscriptionId { get; } = subscriptionId;

    public object? Owner => null;

    /// <summary>Copy-on-write under the registry's lock.</summary>
    public SubscriptionListener[] Listeners { get; set; } = [];

    /// <summary>Set under the registry's lock when the subscription is forgotten.</summary>
    public volatile bool Closed;

    /// <summary>Touched by the delivery worker only.</summary>
    public byte[]? LastDelivered { get; set; }

    /// <summary>Touched by the delivery worker only.</summary>
    public byte[]? SuppressIfEqual { get; set; }

    public bool ReplaysLastValue => Method.Kind == ClusterMethodKind.Subscribe && Method.Broadcast;

    // Only awaitable members are acknowledged by the leader; the others never wait for it.
    private readonly TaskCompletionSource? _attached = method.Awaitable ? new(TaskCreationOptions.RunContinuationsAsynchronously) : null;

    /// <summary>
    /// Completes the first time the leader's real client holds this subscription (later re-attachments after a failover
    /// change nothing); faults when the subscription ends before that. Completed for members that are not awaitable.
    /// </summary>
    public Task Attached => _attached?.Task ?? Task.CompletedTask;

    /// <summary>The leader's acknowledgement (SubscribeResult kind Attached), or this process's hub when it leads.</summary>
    public void OnAttached() => _attached?.TrySetResult();

    /// <summary>The subscription is gone before it was attached (unsubscribed, channel closed): the awaiting callers fail with <paramref name="error"/>.</summary>
    public void FailAttach(Exception error) => _attached?.TrySetException(error);

    public void Deliver(ReadOnlySpan<byte> value) => Deliver(value.ToArray());

    public void Deliver(byte[] value) => queue.Enqueue(Delivery.Value(this, value));

    public void Complete(Exception? error)
    {
        // A stream that ended normally was attached first; an error before the attachment is the awaited subscribe's failure.
        if (error is null) OnAttached();
        else FailAttach(error);
        queue.Enqueue(Delivery.Completed(this, error));
    }

    void ISubscriber.Attached() => OnAttached();
}
