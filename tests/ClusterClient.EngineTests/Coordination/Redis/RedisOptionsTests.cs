using System.Net;
using ClusterSharing.Coordination;
using ClusterSharing.Coordination.Redis;
using Microsoft.Extensions.Logging.Abstractions;

namespace ClusterSharing.EngineTests.Coordination.Redis;

public sealed class RedisOptionsTests
{
    private static ClusterClientOptions Cluster(string configuration = "127.0.0.1:6379, redis-2:6380", Action<RedisOptions>? configure = null) =>
        new ClusterClientOptions { BindAddress = IPAddress.Parse("127.0.0.2"), Port = 17_000 }
            .UseSecret("a shared secret of enough length")
            .UseRedis(configuration, configure);

    [Fact]
    public async Task UseRedis_builds_the_engine_settings_from_the_options_and_the_configuration_string()
    {
        var options = Cluster("127.0.0.1:6379,redis-2:6380,user=billing,password=pw,ssl=true,sslHost=redis.internal,defaultDatabase=2", r =>
        {
            r.ClusterName = "billing";
            r.KeyPrefix = "apps";
            r.LeaseTtl = TimeSpan.FromMilliseconds(2500);
        });
        options.Weight = 7;
        options.Eligible = false;
        options.Validate();

        using var certificate = Transport.TlsCertificate.CreateSelfSigned();
        var settings = RedisElectionSettings.FromOptions(options, certificate);

        Assert.Equal(["127.0.0.1:6379", "redis-2:6380"], settings.Endpoints);
        Assert.Equal(("billing", "pw", true, "redis.internal", 2), (settings.User, settings.Password, settings.UseTls, settings.TlsHost, settings.Database));
        Assert.Equal("apps:{billing}:leader", settings.LeaderKey);
        Assert.Equal("apps:{billing}:epoch", settings.EpochKey);
        Assert.Equal((7, false), (settings.Weight, settings.Eligible));
        Assert.Equal(new IPEndPoint(IPAddress.Parse("127.0.0.2"), 17_000), settings.Listen);
        Assert.Equal(Transport.TlsCertificate.Fingerprint(certificate), settings.CertificateFingerprint);
        Assert.True(settings.SafetyMargin < settings.LeaseTtl && settings.RenewEvery < settings.LeaseTtl - settings.SafetyMargin);
        await using var election = LeaderElections.For(options)(options, null!, NullLogger.Instance);
        Assert.IsType<RedisElection>(election);
    }

    [Theory]
    [InlineData("redis-1:notaport", null, "not host:port")]
    [InlineData("redis-1:6379,timeout=5", null, "is not supported")]
    [InlineData("redis-1:6379", "ttl", "LeaseTtl")]
    [InlineData("redis-1:6379", "name", "ClusterName")]
    [InlineData("redis-1:6379", "tls-ca", "UseTls")]
    public void A_bad_setting_is_refused_naming_it(string configuration, string? change, string expected)
    {
        var error = Assert.ThrowsAny<ArgumentException>(() =>
        {
            var options = Cluster(configuration, r =>
            {
                if (change == "ttl") r.LeaseTtl = TimeSpan.FromMilliseconds(500);
                if (change == "name") r.ClusterName = "a{b}";
                if (change == "tls-ca") r.TrustedCertificateAuthority = Transport.TlsCertificate.CreateSelfSigned();
            });
            options.Validate();
        });
        Assert.Contains(expected, error.Message);
    }

    [Fact]
    public void A_cluster_scope_on_both_engines_is_refused()
    {
        var options = Cluster().UseEtcd("http://127.0.0.1:2379");
        var error = Assert.Throws<ArgumentException>(options.Validate);
        Assert.Contains("UseEtcd and UseRedis", error.Message);
    }

    [Fact]
    public void A_cluster_scope_on_Redis_needs_the_shared_secret()
    {
        var options = new ClusterClientOptions { BindAddress = IPAddress.Parse("127.0.0.2") }.UseRedis("127.0.0.1:6379");
        options.Secret = null;
        var error = Assert.Throws<ArgumentException>(options.Validate);
        Assert.Contains("Secret", error.Message);
    }
}
