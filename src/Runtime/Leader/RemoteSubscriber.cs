using ClusterSharing.Protocol;
using MessagePack;

namespace ClusterSharing.Leader;

/// <summary>A follower's subscription: values go to its connection as SubscribeResult frames.</summary>
internal sealed class RemoteSubscriber(FollowerSession session, int channelId, uint methodId, long subscriptionId) : ISubscriber
{
    public object? Owner => session;

    public long SubscriptionId => subscriptionId;

    public void Deliver(ReadOnlySpan<byte> value) => session.SendValue(channelId, methodId, subscriptionId, SubscriptionEventKind.Value, value);

    public void Attached()
    {
        ReadOnlySpan<byte> nil = [MessagePackCode.Nil];
        session.SendValue(channelId, methodId, subscriptionId, SubscriptionEventKind.Attached, nil);
    }

    public void Complete(Exception? error)
    {
        if (error is null)
        {
            ReadOnlySpan<byte> nil = [MessagePackCode.Nil];
            session.SendValue(channelId, methodId, subscriptionId, SubscriptionEventKind.Completed, nil);
            return;
        }
        // ClusterClient's own refusals (limits, unknown members) reach the follower as such, not as the real client's errors.
        session.SendValue(channelId, methodId, subscriptionId, SubscriptionEventKind.Faulted, RemoteError.ToBytes(error, session.ErrorDetail));
    }
}
