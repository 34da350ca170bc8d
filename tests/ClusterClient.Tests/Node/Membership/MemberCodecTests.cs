using System.Buffers;
using ClusterSharing.Node.Membership;
using ClusterSharing.Protocol;
using ClusterSharing.Serialization;
using MessagePack;
using static ClusterSharing.Tests.Node.Membership.MemberViewTests;

namespace ClusterSharing.Tests.Node.Membership;

public sealed class MemberCodecTests
{
    [Fact]
    public void A_member_record_round_trips()
    {
        var member = Member("a", leader: true, revision: 4, joinedSecond: 9, advertisement: [0xa1, 0x78]);
        var decoded = MemberCodec.DecodeOne(new ReadOnlySequence<byte>(MemberCodec.Encode(member)), DecodingLimits.UntrustedData);
        Assert.True(member.SameAs(decoded));
        Assert.Equal(member.LastSeen, decoded.LastSeen);
        var many = MemberCodec.DecodeMany(new ReadOnlySequence<byte>(MemberCodec.EncodeMany([member, Member("b")])), DecodingLimits.UntrustedData);
        Assert.Equal(["a", "b"], many.Select(m => m.Id));
        Assert.Equal(["a", "b"], MemberCodec.DecodeIds(new ReadOnlySequence<byte>(MemberCodec.EncodeIds(["a", "b"])), DecodingLimits.UntrustedData));
    }

    [Fact]
    public void Oversized_advertisements_bad_ids_and_junk_are_protocol_errors()
    {
        var oversized = Member("a", advertisement: new byte[MembershipLimits.MaxAdvertisementBytes + 1]);
        Assert.Throws<ProtocolException>(() => MemberCodec.DecodeOne(new ReadOnlySequence<byte>(MemberCodec.Encode(oversized)), DecodingLimits.UntrustedData));
        var longId = Member(new string('x', MembershipLimits.MaxMemberIdLength + 1));
        Assert.Throws<ProtocolException>(() => MemberCodec.DecodeOne(new ReadOnlySequence<byte>(MemberCodec.Encode(longId)), DecodingLimits.UntrustedData));
        Assert.Throws<ProtocolException>(() => MemberCodec.DecodeOne(new ReadOnlySequence<byte>(MessagePackSerializer.Serialize(new[] { 1, 2 })), DecodingLimits.UntrustedData));
        Assert.Throws<ProtocolException>(() => MemberCodec.DecodeMany(new ReadOnlySequence<byte>([0xc1]), DecodingLimits.UntrustedData));
    }
}
