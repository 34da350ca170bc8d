using BenchmarkDotNet.Attributes;
using ClusterSharing.Protocol;

namespace ClusterSharing.Benchmarks;

/// <summary>
/// The CPU cost of one authenticated handshake (SPAKE2 over the 2048-bit MODP group, then key confirmation), per side:
/// paid once per connection, so it adds to every follower's reconnection after a failover, never to a call.
/// </summary>
[MemoryDiagnoser]
public class HandshakeBenchmarks
{
    private const int Port = 7777;
    private readonly byte[] _secret = Enumerable.Range(1, 32).Select(i => (byte)i).ToArray();
    private byte[] _leaderShare = [];
    private byte[] _followerShare = [];

    [GlobalSetup]
    public void Setup()
    {
        _leaderShare = AuthProof.Start(_secret, leader: true).Share;
        _followerShare = AuthProof.Start(_secret, leader: false).Share;
    }

    /// <summary>The follower's half: its share, the transcript from the leader's share, both proofs.</summary>
    [Benchmark]
    public int FollowerSide()
    {
        var own = AuthProof.Start(_secret, leader: false);
        var transcript = AuthProof.Transcript(own, _leaderShare, Port)!;
        return AuthProof.LeaderProof(transcript).Length + AuthProof.FollowerProof(transcript).Length;
    }

    /// <summary>The leader's half, as it runs once for every follower that connects.</summary>
    [Benchmark]
    public int LeaderSide()
    {
        var own = AuthProof.Start(_secret, leader: true);
        var transcript = AuthProof.Transcript(own, _followerShare, Port)!;
        return AuthProof.LeaderProof(transcript).Length + AuthProof.FollowerProof(transcript).Length;
    }
}
