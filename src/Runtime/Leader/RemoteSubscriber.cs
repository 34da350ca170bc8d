using ClusterSharing.Protocol;
using ClusterSharing.Serialization;
using MessagePack;

namespace ClusterSharing.Leader;

/// <summary>A follower's subscription: values go to its connection as SubscribeResult frames.</summary>
internal sealed class RemoteSubscriber(FollowerSession session, int channelId, uint methodId, long subscriptionId) : ISubscriber
{
    public object? Owner => session;

    public long SubscriptionId => subscriptionId;

    public void Deliver(ReadOnlySpan<byte> value) => session.SendValue(channelId, methodId, subscriptionId, SubscriptionEventKind.Value, value);

    public void Complete(Exception? error)
    {
        if (error is null)
        {
            ReadOnlySpan<byte> nil = [MessagePackCode.Nil];
            session.SendValue(channelId, methodId, subscriptionId, SubscriptionEventKind.Completed, nil);
            return;
        }
        session.SendValue(channelId, methodId, subscriptionId, SubscriptionEventKind.Faulted,
            WireSerializer.ToBytes(error, RemoteError.For(session.ErrorDetail), WireSerializer.Standard));
    }
}
