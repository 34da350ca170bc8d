using System.Buffers;
using System.Text;
using ClusterSharing.Protocol;

namespace ClusterSharing.Tests.Protocol;

/// <summary>The two halves of the connection handshake, driven frame by frame without sockets.</summary>
public sealed class HandshakeTests
{
    private const int Port = 47_001;
    private static readonly byte[] Secret = Encoding.UTF8.GetBytes("a shared secret of some length");
    private static readonly byte[] OtherSecret = Encoding.UTF8.GetBytes("another secret, just as long");

    private static Frame FrameOf<THeader>(PacketType type, long requestId, in THeader header) where THeader : struct, IPacketHeader<THeader>
    {
        var output = new ArrayBufferWriter<byte>();
        FrameWriter.WriteFrame(output, type, requestId, header, ReadOnlySpan<byte>.Empty, ProtocolLimits.Default);
        var buffer = new ReadOnlySequence<byte>(output.WrittenMemory.ToArray());
        Assert.True(FrameReader.TryReadFrame(ref buffer, ProtocolLimits.Default, out var frame));
        return frame;
    }

    private static Frame Hello(long knownEpoch) => FrameOf(PacketType.Heartbeat, 1, new HeartbeatHeader(knownEpoch, 0));

    [Fact]
    public void Halves_with_the_same_secret_prove_themselves_to_each_other()
    {
        var leader = new LeaderHandshake(Secret, Port);
        var follower = new FollowerHandshake(Secret, Port);
        Assert.False(leader.IsAuthenticated);

        Assert.Equal(LeaderHandshakeStep.Challenge, leader.Receive(Hello(7), out var nonce, out _));
        Assert.Equal(7, leader.HelloEpoch);
        var response = follower.OnChallenge(nonce!);
        Assert.NotNull(response);

        Assert.Equal(LeaderHandshakeStep.Authenticated, leader.Receive(FrameOf(PacketType.AuthResponse, 1, new AuthHeader(0, response!)), out var proof, out _));
        Assert.True(leader.IsAuthenticated);
        Assert.Null(follower.OnChallenge(proof!));
        Assert.Null(follower.Failure);
        Assert.True(follower.TryComplete("127.0.0.1"));
    }

    [Fact]
    public void The_leader_half_rejects_a_follower_with_another_secret()
    {
        var leader = new LeaderHandshake(Secret, Port);
        var follower = new FollowerHandshake(OtherSecret, Port);
        leader.Receive(Hello(1), out var nonce, out _);
        var response = follower.OnChallenge(nonce!)!;

        Assert.Equal(LeaderHandshakeStep.Reject, leader.Receive(FrameOf(PacketType.AuthResponse, 1, new AuthHeader(0, response)), out _, out var rejection));
        Assert.Contains("different secrets", rejection);
        Assert.False(leader.IsAuthenticated);
    }

    [Fact]
    public void The_follower_half_refuses_a_leader_whose_proof_does_not_match()
    {
        var follower = new FollowerHandshake(Secret, Port);
        follower.OnChallenge(new byte[AuthProof.NonceLength]);

        Assert.Null(follower.OnChallenge(new byte[AuthProof.ProofLength]));
        Assert.Contains("could not prove it knows this process's secret", follower.Failure);
    }

    [Fact]
    public void A_follower_without_a_secret_fails_on_the_leaders_challenge()
    {
        var follower = new FollowerHandshake(null, Port);

        Assert.Null(follower.OnChallenge(new byte[AuthProof.NonceLength]));
        Assert.Contains("requires a shared secret and this process has none", follower.Failure);
    }

    [Fact]
    public void A_follower_with_a_secret_does_not_accept_a_leader_that_never_proved_itself()
    {
        var follower = new FollowerHandshake(Secret, Port);

        Assert.False(follower.TryComplete("127.0.0.1"));
        Assert.Contains("does not use a shared secret", follower.Failure);
    }

    [Fact]
    public void A_goodbye_right_after_the_proof_reads_as_a_rejected_proof()
    {
        var follower = new FollowerHandshake(Secret, Port);
        follower.OnChallenge(new byte[AuthProof.NonceLength]);

        follower.OnGoodbye("authentication failed: its proof does not match");
        Assert.Contains("rejected this process's proof", follower.Failure);
    }

    [Fact]
    public void A_malformed_challenge_is_a_protocol_error()
    {
        var follower = new FollowerHandshake(Secret, Port);

        Assert.Throws<ProtocolException>(() => follower.OnChallenge(new byte[3]));
    }

    [Fact]
    public void Before_authentication_the_leader_half_rejects_anything_but_the_handshake_and_only_once()
    {
        var leader = new LeaderHandshake(Secret, Port);

        Assert.Equal(LeaderHandshakeStep.Ignore, leader.Receive(FrameOf(PacketType.Heartbeat, 0, new HeartbeatHeader(0, 0)), out _, out _));
        Assert.Equal(LeaderHandshakeStep.Reject, leader.Receive(FrameOf(PacketType.Cancel, 5, new EpochHeader(0)), out _, out var rejection));
        Assert.Contains("Cancel before authenticating", rejection);
        Assert.True(leader.TryReject());
        Assert.False(leader.TryReject());
        Assert.Equal(LeaderHandshakeStep.Ignore, leader.Receive(Hello(1), out _, out _));
    }

    [Fact]
    public void Without_a_secret_both_halves_are_done_at_once()
    {
        Assert.True(new LeaderHandshake(null, Port).IsAuthenticated);
        Assert.True(new FollowerHandshake(null, Port).TryComplete("127.0.0.1"));
    }
}
