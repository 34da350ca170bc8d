using System.Diagnostics;
using System.Net;
using ClusterSharing.Coordination;
using ClusterSharing.Coordination.Etcd;
using ClusterSharing.Coordination.Redis;
using Microsoft.Extensions.Logging.Abstractions;
using StackExchange.Redis;
using static ClusterSharing.EngineTests.Coordination.ElectionSteps;

namespace ClusterSharing.EngineTests.Coordination.Redis;

/// <summary>The Redis election engine against a real redis-server on loopback; candidates "on different machines" bind 127.0.0.x.</summary>
public sealed class RedisElectionTests
{
    private static readonly TimeSpan Ttl = TimeSpan.FromSeconds(2);

    [Fact]
    public async Task One_of_two_candidates_wins_and_the_other_follows_its_endpoint_fingerprint_and_epoch()
    {
        await using var redis = await RedisServer.StartAsync();
        await using var a = Candidate(redis, "127.0.0.1", fingerprint: "AA:01");
        await using var b = Candidate(redis, "127.0.0.2", fingerprint: "BB:02");

        var term = await LeadAsync(a);
        var follow = Assert.IsType<FollowStep>(await b.NextAsync(mayLead: true, CancellationToken.None));

        Assert.Equal(term.Endpoint, follow.Leader.Endpoint);
        Assert.Equal(IPAddress.Parse("127.0.0.1"), ((IPEndPoint)follow.Leader.Endpoint).Address);
        Assert.Equal(term.Epoch, follow.Leader.Epoch);
        Assert.True(term.Epoch > 0);
        Assert.Equal("AA:01", follow.Leader.CertificateFingerprint);
        Assert.True(term.IsCurrent);
        await Task.Delay(Ttl * 2); // renewals keep it
        Assert.True(term.IsCurrent);
        Assert.False(term.Lost.IsCancellationRequested);
    }

    [Fact]
    public async Task A_candidate_that_may_not_lead_or_is_not_eligible_waits_while_nobody_leads()
    {
        await using var redis = await RedisServer.StartAsync();
        await using var follower = Candidate(redis, "127.0.0.1");
        await using var ineligible = new RedisElection(Settings(redis, "127.0.0.2") with { Eligible = false }, NullLogger.Instance);

        var wait = Assert.IsType<WaitStep>(await follower.NextAsync(mayLead: false, CancellationToken.None));
        Assert.True(wait.Status.Contains("no leader"), wait.Status);
        wait = Assert.IsType<WaitStep>(await ineligible.NextAsync(mayLead: true, CancellationToken.None));
        Assert.Contains("Eligible is false", wait.Status);
    }

    [Fact]
    public async Task Resigning_hands_leadership_to_the_next_candidate_with_a_higher_epoch()
    {
        await using var redis = await RedisServer.StartAsync();
        await using var a = Candidate(redis, "127.0.0.1");
        await using var b = Candidate(redis, "127.0.0.2");
        var first = await LeadAsync(a);
        Assert.IsType<FollowStep>(await b.NextAsync(mayLead: true, CancellationToken.None));

        await first.ResignAsync();
        await first.DisposeAsync();
        await first.DisposeAsync(); // the node and the election may both dispose a term

        Assert.False(first.IsCurrent);
        Assert.False(first.Lost.IsCancellationRequested); // resigning is not losing
        var clock = Stopwatch.StartNew();
        var second = await LeadAsync(b);
        Assert.True(clock.Elapsed < Ttl, $"b led {clock.Elapsed} after the resignation: it waited for an expiry, not for the deletion");
        Assert.True(second.Epoch > first.Epoch, $"epoch {second.Epoch} should exceed {first.Epoch}");
        var follow = await FollowAsync(a);
        Assert.Equal(second.Endpoint, follow.Leader.Endpoint);
    }

    [Fact]
    public async Task Deleting_the_leader_key_on_Redis_ends_the_term_and_a_new_holder_deposes_it_with_its_epoch()
    {
        await using var redis = await RedisServer.StartAsync();
        await using var a = Candidate(redis, "127.0.0.1");
        var term = await LeadAsync(a);
        var settings = Settings(redis, "127.0.0.1");

        await using (var operator_ = await ConnectionMultiplexer.ConnectAsync(redis.Endpoint))
            await operator_.GetDatabase().KeyDeleteAsync(settings.LeaderKey);

        await WaitForAsync(term.Lost);
        Assert.False(term.IsCurrent);
        Assert.Contains("is gone", term.LostReason);
    }

    [Fact]
    public async Task A_leader_that_cannot_reach_Redis_is_no_longer_current_before_its_key_could_expire_and_then_loses_its_term()
    {
        await using var redis = await RedisServer.StartAsync();
        await using var a = Candidate(redis, "127.0.0.1");
        var term = await LeadAsync(a);
        await Task.Delay(Ttl); // a few renewals
        Assert.True(term.IsCurrent);

        long stoppedAt = Stopwatch.GetTimestamp();
        await redis.StopAsync();

        // Every renewal Redis acknowledged was sent before it stopped, so the term's validity ends before stoppedAt + TTL.
        var remaining = Ttl - Stopwatch.GetElapsedTime(stoppedAt);
        if (remaining > TimeSpan.Zero) await Task.Delay(remaining);
        Assert.False(term.IsCurrent);
        Assert.False(term.Confirm());
        await WaitForAsync(term.Lost);
        Assert.Contains("could not be renewed", term.LostReason);
    }

    [Fact]
    public async Task After_Redis_restarts_empty_a_newcomer_leads_with_an_epoch_above_every_epoch_seen_before()
    {
        await using var redis = await RedisServer.StartAsync();
        await using var a = Candidate(redis, "127.0.0.1");
        await using var b = Candidate(redis, "127.0.0.2");
        var first = await LeadAsync(a);
        await a.DisposeAsync(); // resigns
        var second = await LeadAsync(b);
        Assert.True(second.Epoch > first.Epoch);
        await using var c = Candidate(redis, "127.0.0.3");
        Assert.Equal(second.Epoch, (await FollowAsync(c)).Leader.Epoch);

        await redis.StopAsync();
        await WaitForAsync(second.Lost);
        var unreachable = Assert.IsType<WaitStep>(await c.NextAsync(mayLead: true, CancellationToken.None));
        Assert.Contains(redis.Endpoint, unreachable.Status);
        await redis.RestartAsync(); // no persistence: no keys, the epoch counter is gone

        // A newcomer that has seen no epoch, with the highest weight so that it is the one that campaigns: the counter
        // is re-seeded from what b and c report, so its epoch is above b's.
        await using var newcomer = new RedisElection(Settings(redis, "127.0.0.4") with { Weight = 5 }, NullLogger.Instance);
        Assert.Equal(0, newcomer.SeenEpoch);
        Assert.IsType<WaitStep>(await newcomer.NextAsync(mayLead: true, CancellationToken.None)); // registers; the empty Redis settles
        var waiting = BackgroundFollowersAsync(b, c);
        var third = await LeadAsync(newcomer);
        Assert.True(third.Epoch > second.Epoch, $"epoch {third.Epoch} after the restart should exceed {second.Epoch}");
        foreach (var follow in await waiting) Assert.Equal(third.Epoch, follow.Leader.Epoch);
    }

    [Fact]
    public async Task A_follower_that_lost_a_killed_leader_waits_for_its_key_to_expire_and_then_takes_over()
    {
        await using var redis = await RedisServer.StartAsync();
        await using var b = Candidate(redis, "127.0.0.2");
        var settings = Settings(redis, "127.0.0.1");
        const long deadEpoch = 41;
        await using (var dead = await ConnectionMultiplexer.ConnectAsync(redis.Endpoint))
        {
            // What a killed leader leaves behind: its key, which nobody renews or deletes, and the counter.
            var record = new LeaderRecord("127.0.0.1:9", null, "dead", 1).ToByteString().ToStringUtf8();
            var database = dead.GetDatabase();
            await database.StringSetAsync(settings.EpochKey, deadEpoch);
            await database.StringSetAsync(settings.LeaderKey, $"{{\"epoch\":{deadEpoch},{record[1..]}", Ttl);
        }
        var follow = Assert.IsType<FollowStep>(await b.NextAsync(mayLead: true, CancellationToken.None));
        Assert.Equal(deadEpoch, follow.Leader.Epoch);

        b.LeaderUnreachable(follow.Leader);
        var next = Assert.IsType<WaitStep>(await b.NextAsync(mayLead: true, CancellationToken.None));
        Assert.Contains("does not answer", next.Status);

        var second = await LeadAsync(b);
        Assert.Equal(deadEpoch + 1, second.Epoch);
    }

    [Fact]
    public async Task When_nobody_leads_the_live_candidate_with_the_highest_weight_campaigns_first()
    {
        await using var redis = await RedisServer.StartAsync();
        await using var low = Candidate(redis, "127.0.0.1");
        await using var high = new RedisElection(Settings(redis, "127.0.0.2") with { Weight = 10 }, NullLogger.Instance);
        Assert.IsType<WaitStep>(await high.NextAsync(mayLead: true, CancellationToken.None)); // registers (first start: settling)

        var wait = Assert.IsType<WaitStep>(await low.NextAsync(mayLead: true, CancellationToken.None));
        Assert.Contains(high.CandidateId, wait.Status);
        var term = await LeadAsync(high);
        Assert.Equal(term.Epoch, (await FollowAsync(low)).Leader.Epoch);
    }

    [Fact]
    public async Task A_higher_weight_candidate_joining_takes_over_through_a_handover_and_the_old_leader_follows_it()
    {
        await using var redis = await RedisServer.StartAsync();
        await using var low = Candidate(redis, "127.0.0.1");
        var first = await LeadAsync(low);

        await using var high = new RedisElection(Settings(redis, "127.0.0.2") with { Weight = 10 }, NullLogger.Instance);
        Assert.IsType<FollowStep>(await high.NextAsync(mayLead: true, CancellationToken.None)); // joins: registers, follows for now

        await WaitForAsync(first.Lost);
        Assert.False(first.IsCurrent);
        Assert.Contains("handed over", first.LostReason);
        await first.DisposeAsync(); // what the node does once it stopped serving: deletes the key

        var second = await LeadAsync(high);
        Assert.True(second.Epoch > first.Epoch);
        var follow = await FollowAsync(low);
        Assert.Equal(second.Epoch, follow.Leader.Epoch);
        await Task.Delay(Ttl); // the weaker one stays a follower: no handover back
        Assert.True(second.IsCurrent);
    }

    [Fact]
    public async Task With_a_password_a_candidate_with_it_leads_and_one_without_is_told_why_it_waits()
    {
        await using var redis = await RedisServer.StartAsync(password: "redis-password");
        await using var anonymous = Candidate(redis, "127.0.0.2");
        await using var member = new RedisElection(Settings(redis, "127.0.0.1") with { Password = "redis-password" }, NullLogger.Instance);

        var term = await LeadAsync(member);
        Assert.True(term.IsCurrent);
        var refused = Assert.IsType<WaitStep>(await anonymous.NextAsync(mayLead: true, CancellationToken.None));
        Assert.Contains(redis.Endpoint, refused.Status);
    }

    [Fact]
    public async Task Over_TLS_to_Redis_a_candidate_that_trusts_its_CA_leads_and_a_plain_or_untrusting_one_is_told_why_it_waits()
    {
        await using var redis = await RedisServer.StartAsync(tls: true);
        await using var plain = Candidate(redis, "127.0.0.2");
        await using var member = new RedisElection(Settings(redis, "127.0.0.1") with
        {
            UseTls = true, TrustedCertificateAuthority = redis.CertificateAuthority,
        }, NullLogger.Instance);

        var term = await LeadAsync(member);
        Assert.True(term.IsCurrent);
        var refused = Assert.IsType<WaitStep>(await plain.NextAsync(mayLead: true, CancellationToken.None));
        Assert.Contains(redis.Endpoint, refused.Status);
        // TLS without trusting the CA: Redis's certificate is refused, so it never follows.
        await using var untrusting = new RedisElection(Settings(redis, "127.0.0.3") with { UseTls = true }, NullLogger.Instance);
        refused = Assert.IsType<WaitStep>(await untrusting.NextAsync(mayLead: true, CancellationToken.None));
        Assert.Contains(redis.Endpoint, refused.Status);
    }

    private static async Task<FollowStep[]> BackgroundFollowersAsync(params RedisElection[] elections) =>
        await Task.WhenAll(elections.Select(e => Task.Run(() => FollowAsync(e))));

    private static RedisElectionSettings Settings(RedisServer redis, string address, string? fingerprint = null) => new()
    {
        Endpoints = [redis.Endpoint],
        ClusterName = "tests",
        LeaseTtl = Ttl,
        Listen = new IPEndPoint(IPAddress.Parse(address), 0),
        CertificateFingerprint = fingerprint,
    };

    private static RedisElection Candidate(RedisServer redis, string address, string? fingerprint = null) =>
        new(Settings(redis, address, fingerprint), NullLogger.Instance);
}
