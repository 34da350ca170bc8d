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
    private AuthExchange _leader = null!;
    private AuthExchange _follower = null!;

    [GlobalSetup]
    public void Setup()
    {
        _leader = AuthProof.Start(_secret, leader: true);
        _follower = AuthProof.Start(_secret, leader: false);
    }

    /// <summary>The follower's half computed whole on the spot: its share, the transcript from the leader's share, both proofs.</summary>
    [Benchmark]
    public int FollowerSide()
    {
        var own = AuthProof.Compute(_follower.Password, leader: false);
        var transcript = AuthProof.Transcript(own, _leader.Share, Port)!;
        return AuthProof.LeaderProof(transcript).Length + AuthProof.FollowerProof(transcript).Length;
    }

    /// <summary>The leader's half computed whole on the spot, as it runs for a follower when no prepared share is left.</summary>
    [Benchmark]
    public int LeaderSide()
    {
        var own = AuthProof.Compute(_leader.Password, leader: true);
        var transcript = AuthProof.Transcript(own, _follower.Share, Port)!;
        return AuthProof.LeaderProof(transcript).Length + AuthProof.FollowerProof(transcript).Length;
    }

    /// <summary>What is left on a connection's critical path with a share prepared in the background (either side).</summary>
    [Benchmark]
    public int WithPreparedShare()
    {
        var transcript = AuthProof.Transcript(_leader, _follower.Share, Port)!;
        return AuthProof.LeaderProof(transcript).Length + AuthProof.FollowerProof(transcript).Length;
    }
}
