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

    public void Deliver(ReadOnlySpan<byte> value) => Deliver(value.ToArray());

    public void Deliver(byte[] value) => queue.Enqueue(Delivery.Value(this, value));

    public void Complete(Exception? error) => queue.Enqueue(Delivery.Completed(this, error));
}
