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

    private static Frame Response(byte[] data) => FrameOf(PacketType.AuthResponse, 1, new AuthHeader(0, data));

    [Fact]
    public void Halves_with_the_same_secret_prove_themselves_to_each_other_the_leader_first()
    {
        var leader = new LeaderHandshake(Secret, Port);
        var follower = new FollowerHandshake(Secret, Port);
        Assert.False(leader.IsAuthenticated);

        Assert.Equal(LeaderHandshakeStep.Challenge, leader.Receive(Hello(7), out var leaderShare, out _));
        Assert.Equal(7, leader.HelloEpoch);
        Assert.Equal(AuthProof.ShareLength, leaderShare!.Length);
        var followerShare = follower.OnChallenge(leaderShare);
        Assert.Equal(AuthProof.ShareLength, followerShare!.Length);

        Assert.Equal(LeaderHandshakeStep.Challenge, leader.Receive(Response(followerShare), out var leaderProof, out _));
        Assert.False(leader.IsAuthenticated);
        var followerProof = follower.OnChallenge(leaderProof!);
        Assert.Equal(AuthProof.ProofLength, followerProof!.Length);
        Assert.Null(follower.Failure);

        Assert.Equal(LeaderHandshakeStep.Authenticated, leader.Receive(Response(followerProof), out _, out _));
        Assert.True(leader.IsAuthenticated);
        Assert.True(follower.TryComplete("127.0.0.1"));
        // Both ends derive the same pulse tokens from the session, one a direction.
        Assert.Equal(leader.PulseTokens, follower.PulseTokens);
        Assert.NotEqual(0, leader.PulseTokens.FromFollower);
        Assert.NotEqual(leader.PulseTokens.FromFollower, leader.PulseTokens.FromLeader);
    }

    [Fact]
    public void A_follower_sends_no_proof_to_a_leader_that_cannot_prove_the_secret()
    {
        // Finding 10: a squatter (here: a leader with another secret) gets the follower's share, a random group element,
        // and nothing it could test a guess against offline.
        var squatter = new LeaderHandshake(OtherSecret, Port);
        var follower = new FollowerHandshake(Secret, Port, () => "uid 1001 (mallory)");
        squatter.Receive(Hello(1), out var share, out _);
        var followerShare = follower.OnChallenge(share!)!;
        squatter.Receive(Response(followerShare), out var forgedProof, out _);

        Assert.Null(follower.OnChallenge(forgedProof!));
        Assert.Contains("could not prove it knows this process's secret", follower.Failure);
        Assert.Contains("was sent no proof", follower.Failure);
        Assert.Contains("uid 1001 (mallory)", follower.Failure);
        Assert.Contains($"port {Port}", follower.Failure);
        Assert.False(follower.TryComplete("127.0.0.1"));
    }

    [Fact]
    public async Task Prepared_shares_are_refilled_in_the_background_each_handed_out_once_and_valid()
    {
        byte[] secret = Encoding.UTF8.GetBytes("a secret used by this test alone");
        var first = AuthProof.Start(secret, leader: true);
        // The first use computes inline and starts the background refill (after its pause).
        var deadline = DateTime.UtcNow.AddSeconds(30);
        var password = first.Password;
        while ((password.Prepared(leader: true).Count < AuthProof.Password.PreparedLeaderShares
                || password.Prepared(leader: false).Count < AuthProof.Password.PreparedFollowerShares) && DateTime.UtcNow < deadline)
            await Task.Delay(20);
        Assert.Equal(AuthProof.Password.PreparedLeaderShares, password.Prepared(leader: true).Count);
        Assert.Equal(AuthProof.Password.PreparedFollowerShares, password.Prepared(leader: false).Count);

        // Every share handed out is distinct (prepared ones, then computed ones), and each pair agrees on the transcript.
        var shares = new HashSet<string>();
        for (int i = 0; i < AuthProof.Password.PreparedLeaderShares + 2; i++)
        {
            var leader = AuthProof.Start(secret, leader: true);
            var follower = AuthProof.Start(secret, leader: false);
            Assert.True(shares.Add(Convert.ToHexString(leader.Share)));
            Assert.True(shares.Add(Convert.ToHexString(follower.Share)));
            var leaderTranscript = AuthProof.Transcript(leader, follower.Share, Port);
            Assert.NotNull(leaderTranscript);
            Assert.Equal(leaderTranscript, AuthProof.Transcript(follower, leader.Share, Port));
        }
        Assert.DoesNotContain(Convert.ToHexString(first.Share), shares);
    }

    [Fact]
    public void Shares_are_fresh_so_two_sessions_with_one_secret_differ()
    {
        var first = new LeaderHandshake(Secret, Port);
        var second = new LeaderHandshake(Secret, Port);
        first.Receive(Hello(1), out var a, out _);
        second.Receive(Hello(1), out var b, out _);
        Assert.NotEqual(a, b);
    }

    [Fact]
    public void The_leader_half_rejects_a_follower_whose_proof_does_not_match()
    {
        var leader = new LeaderHandshake(Secret, Port);
        var follower = new FollowerHandshake(Secret, Port);
        leader.Receive(Hello(1), out var share, out _);
        leader.Receive(Response(follower.OnChallenge(share!)!), out _, out _);

        Assert.Equal(LeaderHandshakeStep.Reject, leader.Receive(Response(new byte[AuthProof.ProofLength]), out _, out var rejection));
        Assert.Contains("different secrets", rejection);
        Assert.False(leader.IsAuthenticated);
    }

    [Theory]
    [InlineData("zero")]
    [InlineData("one")]
    [InlineData("at least p")]
    public void Shares_outside_the_group_are_refused(string kind)
    {
        var share = new byte[AuthProof.ShareLength];
        if (kind == "one") share[^1] = 1;
        if (kind == "at least p") Array.Fill(share, (byte)0xFF);
        var leader = new LeaderHandshake(Secret, Port);
        leader.Receive(Hello(1), out _, out _);
        Assert.Equal(LeaderHandshakeStep.Reject, leader.Receive(Response(share), out _, out var rejection));
        Assert.Contains("not a valid group element", rejection);

        var follower = new FollowerHandshake(Secret, Port);
        Assert.Null(follower.OnChallenge(share));
        Assert.Contains("invalid key-exchange share", follower.Failure);
    }

    [Fact]
    public void A_share_of_the_wrong_length_is_refused()
    {
        var leader = new LeaderHandshake(Secret, Port);
        leader.Receive(Hello(1), out _, out _);
        Assert.Equal(LeaderHandshakeStep.Reject, leader.Receive(Response(new byte[64]), out _, out var rejection));
        Assert.Contains("64 bytes instead of 256", rejection);
    }

    [Fact]
    public void A_follower_without_a_secret_fails_on_the_leaders_challenge()
    {
        var follower = new FollowerHandshake(null, Port);

        Assert.Null(follower.OnChallenge(new byte[AuthProof.ShareLength]));
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
    public void An_old_style_32_byte_challenge_is_answered_with_nothing()
    {
        // The handshake before the leader proved first: the follower would have sent a proof right away.
        var follower = new FollowerHandshake(Secret, Port, () => "uid 1001 (mallory)");

        Assert.Null(follower.OnChallenge(new byte[32]));
        Assert.Contains("32-byte challenge", follower.Failure);
        Assert.Contains("uid 1001 (mallory)", follower.Failure);
    }

    [Fact]
    public void A_goodbye_after_the_followers_proof_reads_as_a_rejected_proof()
    {
        var leader = new LeaderHandshake(Secret, Port);
        var follower = new FollowerHandshake(Secret, Port);
        leader.Receive(Hello(1), out var share, out _);
        leader.Receive(Response(follower.OnChallenge(share!)!), out var proof, out _);
        follower.OnChallenge(proof!);

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
