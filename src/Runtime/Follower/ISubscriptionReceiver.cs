using ClusterSharing.Protocol;

namespace ClusterSharing.Follower;

/// <summary>Receives subscription values pushed by the leader.</summary>
internal interface ISubscriptionReceiver
{
    /// <summary>Called on the read loop; the frame is valid only during the call.</summary>
    void OnSubscriptionFrame(in Frame frame, in SubscribeResultHeader header);
}
