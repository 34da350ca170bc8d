using System.Diagnostics;
using System.Net;
using ClusterSharing.Coordination;
using ClusterSharing.Coordination.Etcd;
using ClusterSharing.Transport;
using Etcdserverpb;
using Microsoft.Extensions.Logging.Abstractions;
using static ClusterSharing.EngineTests.Coordination.ElectionSteps;

namespace ClusterSharing.EngineTests.Coordination.Etcd;

/// <summary>The etcd election engine against a real etcd on loopback; candidates "on different machines" bind 127.0.0.x.</summary>
public sealed class EtcdElectionTests
{
    private static readonly TimeSpan Ttl = TimeSpan.FromSeconds(2);

    [Fact]
    public async Task One_of_two_candidates_wins_and_the_other_follows_its_endpoint_and_fingerprint()
    {
        await using var etcd = await EtcdServer.StartAsync();
        await using var a = Candidate(etcd, "127.0.0.1", fingerprint: "AA:01");
        await using var b = Candidate(etcd, "127.0.0.2", fingerprint: "BB:02");

        var term = await LeadAsync(a);
        // As the node's loop would, past a transient wait (an etcd request that failed once): told to follow the winner.
        var follow = await FollowAsync(b);

        Assert.Equal(term.Endpoint, follow.Leader.Endpoint);
        Assert.Equal(IPAddress.Parse("127.0.0.1"), ((IPEndPoint)follow.Leader.Endpoint).Address);
        Assert.Equal(term.Epoch, follow.Leader.Epoch);
        Assert.Equal("AA:01", follow.Leader.CertificateFingerprint);
        Assert.True(term.IsCurrent);
        Assert.True(term.Listener.IsBound);
    }

    [Fact]
    public async Task A_follower_reaches_the_elected_leader_over_TLS_pinned_to_the_fingerprint_published_in_etcd()
    {
        await using var etcd = await EtcdServer.StartAsync();
        using var certificate = TlsCertificate.CreateSelfSigned();
        var leaderSettings = Settings(etcd, "127.0.0.1") with { Certificate = certificate, CertificateFingerprint = TlsCertificate.Fingerprint(certificate) };
        await using var a = new EtcdElection(leaderSettings, NullLogger.Instance);
        await using var b = Candidate(etcd, "127.0.0.2");
        var term = await LeadAsync(a);
        var follow = Assert.IsType<FollowStep>(await b.NextAsync(mayLead: true, CancellationToken.None));

        var accepted = AcceptTlsAsync(term);
        await using var client = await FrameConnection.ConnectAsync(new TlsEndPoint(follow.Leader.Endpoint, follow.Leader.CertificateFingerprint!));
        await using var server = await accepted;

        Assert.Equal(System.Security.Authentication.SslProtocols.Tls13, client.TlsProtocol);
        Assert.Same(certificate, term.Certificate);
    }

    private static async Task<FrameConnection> AcceptTlsAsync(ILeadershipTerm term)
    {
        var socket = await term.Listener.AcceptAsync();
        return await TlsTransport.AcceptAsync(socket, term.Certificate!, null, TimeSpan.FromSeconds(10));
    }

    [Fact]
    public async Task A_candidate_that_may_not_lead_waits_while_nobody_leads()
    {
        await using var etcd = await EtcdServer.StartAsync();
        await using var follower = Candidate(etcd, "127.0.0.1");

        var wait = Assert.IsType<WaitStep>(await follower.NextAsync(mayLead: false, CancellationToken.None));
        Assert.Contains("no leader", wait.Status);
    }

    [Fact]
    public async Task Resigning_hands_leadership_to_the_next_candidate_with_a_higher_epoch()
    {
        await using var etcd = await EtcdServer.StartAsync();
        await using var a = Candidate(etcd, "127.0.0.1");
        await using var b = Candidate(etcd, "127.0.0.2");
        var first = await LeadAsync(a);
        Assert.IsType<FollowStep>(await b.NextAsync(mayLead: true, CancellationToken.None));

        await first.ResignAsync();
        await first.DisposeAsync();
        await first.DisposeAsync(); // the node and the election may both dispose a term

        Assert.False(first.IsCurrent);
        Assert.False(first.Lost.IsCancellationRequested); // resigning is not losing
        var second = await LeadAsync(b);
        Assert.True(second.Epoch > first.Epoch, $"epoch {second.Epoch} should exceed {first.Epoch}");
        var follow = Assert.IsType<FollowStep>(await a.NextAsync(mayLead: true, CancellationToken.None));
        Assert.Equal(second.Endpoint, follow.Leader.Endpoint);
    }

    [Fact]
    public async Task Revoking_the_leaders_lease_on_etcd_ends_its_term()
    {
        await using var etcd = await EtcdServer.StartAsync();
        await using var a = Candidate(etcd, "127.0.0.1");
        var term = Assert.IsType<EtcdLeadershipTerm>(await LeadAsync(a));

        using (var operator_ = new EtcdConnection(Settings(etcd, "127.0.0.3")))
        {
            var (channel, options) = await operator_.UnaryAsync(CancellationToken.None);
            await channel.Lease.LeaseRevokeAsync(new LeaseRevokeRequest { ID = term.LeaseId }, options);
        }

        await WaitForAsync(term.Lost);
        Assert.False(term.IsCurrent);
        Assert.NotNull(term.LostReason);
    }

    [Fact]
    public async Task A_leader_that_cannot_reach_etcd_is_no_longer_current_before_its_lease_could_expire_and_then_loses_its_term()
    {
        await using var etcd = await EtcdServer.StartAsync();
        await using var a = Candidate(etcd, "127.0.0.1");
        var term = await LeadAsync(a);
        await Task.Delay(Ttl); // a few renewals
        Assert.True(term.IsCurrent);

        long stoppedAt = Stopwatch.GetTimestamp();
        await etcd.StopAsync();

        // Every renewal etcd acknowledged was sent before it stopped, so the term's validity ends before stoppedAt + TTL.
        var remaining = Ttl - Stopwatch.GetElapsedTime(stoppedAt);
        if (remaining > TimeSpan.Zero) await Task.Delay(remaining);
        Assert.False(term.IsCurrent);
        await WaitForAsync(term.Lost);
        Assert.Contains("could not be renewed", term.LostReason);
    }

    [Fact]
    public async Task After_etcd_restarts_the_candidates_campaign_again_and_the_new_term_has_a_higher_epoch()
    {
        await using var etcd = await EtcdServer.StartAsync();
        await using var a = Candidate(etcd, "127.0.0.1");
        await using var b = Candidate(etcd, "127.0.0.2");
        var first = await LeadAsync(a);
        await etcd.StopAsync();
        await WaitForAsync(first.Lost);

        var unreachable = Assert.IsType<WaitStep>(await b.NextAsync(mayLead: true, CancellationToken.None));
        Assert.Contains(etcd.ClientUrl, unreachable.Status);

        await etcd.RestartAsync();
        var second = await LeadAsync(a); // revokes the lease of its lost term first, so its old key does not linger
        Assert.True(second.Epoch > first.Epoch);
        var follow = await FollowAsync(b); // its channel may need a moment to reconnect: it waits meanwhile

        Assert.Equal(second.Epoch, follow.Leader.Epoch);
    }

    [Fact]
    public async Task A_follower_that_lost_a_killed_leader_waits_for_its_lease_to_expire_and_then_takes_over()
    {
        await using var etcd = await EtcdServer.StartAsync();
        await using var b = Candidate(etcd, "127.0.0.2");
        var settings = Settings(etcd, "127.0.0.1");
        long deadEpoch;
        var sincePut = Stopwatch.StartNew();
        using (var dead = new EtcdConnection(settings))
        {
            // What a killed leader leaves behind: its key, bound to a lease nobody renews or revokes.
            var (channel, options) = await dead.UnaryAsync(CancellationToken.None);
            var lease = await channel.Lease.LeaseGrantAsync(new LeaseGrantRequest { TTL = (long)Ttl.TotalSeconds }, options);
            var record = new LeaderRecord("127.0.0.1:9", null, "dead", 1);
            var put = await channel.KV.PutAsync(new PutRequest
            {
                Key = Google.Protobuf.ByteString.CopyFromUtf8(settings.LeaderKey), Value = record.ToByteString(), Lease = lease.ID,
            }, options);
            deadEpoch = put.Header.Revision;
        }
        var follow = Assert.IsType<FollowStep>(await b.NextAsync(mayLead: true, CancellationToken.None));
        Assert.Equal(deadEpoch, follow.Leader.Epoch);

        b.LeaderUnreachable(follow.Leader);
        // One step: it watches the key until the lease expires (nobody reconnects to the dead leader meanwhile), then
        // campaigns at once.
        var lead = Assert.IsType<LeadStep>(await b.NextAsync(mayLead: true, CancellationToken.None));
        await using var second = lead.Term;
        Assert.True(sincePut.Elapsed >= Ttl - TimeSpan.FromMilliseconds(100), $"Took over {sincePut.Elapsed} after the put, before a {Ttl} lease could expire.");
        Assert.True(second.Epoch > deadEpoch);
        Assert.True(second.IsCurrent);
    }

    [Fact]
    public async Task A_follower_waiting_on_a_silent_leader_takes_over_in_the_same_step_when_that_leader_resigns()
    {
        await using var etcd = await EtcdServer.StartAsync();
        await using var a = Candidate(etcd, "127.0.0.1");
        await using var b = Candidate(etcd, "127.0.0.2");
        var first = await LeadAsync(a);
        var follow = Assert.IsType<FollowStep>(await b.NextAsync(mayLead: true, CancellationToken.None));

        // The follower saw its connection close (the leader is closing) and waits on the key; the leader then resigns.
        b.LeaderUnreachable(follow.Leader);
        var next = b.NextAsync(mayLead: true, CancellationToken.None);
        await Task.Delay(200);
        Assert.False(next.IsCompleted, "The follower did not wait for the key to change.");
        await first.DisposeAsync();

        var lead = Assert.IsType<LeadStep>(await next.WaitAsync(Patience));
        await using var second = lead.Term;
        Assert.True(second.Epoch > first.Epoch, $"epoch {second.Epoch} should exceed {first.Epoch}");
        Assert.True(second.IsCurrent);
        var followed = Assert.IsType<FollowStep>(await a.NextAsync(mayLead: true, CancellationToken.None));
        Assert.Equal(second.Epoch, followed.Leader.Epoch);
    }

    [Fact]
    public async Task With_authentication_enabled_a_candidate_with_credentials_leads_and_one_without_is_told_why_it_waits()
    {
        await using var etcd = await EtcdServer.StartAsync();
        using (var admin = Grpc.Net.Client.GrpcChannel.ForAddress(etcd.ClientUrl))
        {
            var auth = new Auth.AuthClient(admin);
            await auth.UserAddAsync(new AuthUserAddRequest { Name = "root", Password = "root-password" });
            await auth.RoleAddAsync(new AuthRoleAddRequest { Name = "root" });
            await auth.UserGrantRoleAsync(new AuthUserGrantRoleRequest { User = "root", Role = "root" });
            await auth.AuthEnableAsync(new AuthEnableRequest());
        }
        await using var anonymous = Candidate(etcd, "127.0.0.2");
        await using var member = new EtcdElection(Settings(etcd, "127.0.0.1") with { Username = "root", Password = "root-password" }, NullLogger.Instance);

        var term = await LeadAsync(member);
        Assert.True(term.IsCurrent);
        var refused = Assert.IsType<WaitStep>(await anonymous.NextAsync(mayLead: true, CancellationToken.None));
        Assert.Contains(etcd.ClientUrl, refused.Status);
    }

    private static EtcdElectionSettings Settings(EtcdServer etcd, string address, string? fingerprint = null) => new()
    {
        Endpoints = [new Uri(etcd.ClientUrl)],
        ClusterName = "tests",
        LeaseTtl = Ttl,
        Listen = new IPEndPoint(IPAddress.Parse(address), 0),
        CertificateFingerprint = fingerprint,
    };

    private static EtcdElection Candidate(EtcdServer etcd, string address, string? fingerprint = null) =>
        new(Settings(etcd, address, fingerprint), NullLogger.Instance);
}
