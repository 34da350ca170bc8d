using ClusterSharing.Protocol;

namespace ClusterSharing.Follower;

/// <summary>Takes the membership frames the leader sends (<see cref="PacketType.MemberView"/>, <see cref="PacketType.MemberMessage"/>,
/// <see cref="PacketType.MemberMessageAck"/>) on the connection's read loop; the frame's slices are valid only during the call.</summary>
internal interface IMemberReceiver
{
    /// <exception cref="ProtocolException">The frame is malformed (the connection closes).</exception>
    void OnMemberFrame(LeaderConnection connection, in Frame frame);
}
