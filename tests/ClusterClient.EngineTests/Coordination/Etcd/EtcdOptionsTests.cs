using System.Net;
using ClusterSharing.Coordination.Etcd;

namespace ClusterSharing.EngineTests.Coordination.Etcd;

public sealed class EtcdOptionsTests
{
    private static ClusterClientOptions Cluster(Action<EtcdOptions>? configure = null) =>
        new ClusterClientOptions { BindAddress = IPAddress.Parse("127.0.0.2"), Port = 17_000 }
            .UseSecret("a shared secret of enough length")
            .UseEtcd("http://127.0.0.1:2379, http://127.0.0.1:2380", configure);

    [Fact]
    public void UseEtcd_builds_the_engine_settings_from_the_options()
    {
        var options = Cluster(e =>
        {
            e.ClusterName = "billing";
            e.KeyPrefix = "/apps";
            e.LeaseTtl = TimeSpan.FromSeconds(3);
        });
        options.AdvertiseAddress = "worker-2.internal";
        options.Validate();

        using var certificate = Transport.TlsCertificate.CreateSelfSigned();
        var settings = EtcdElectionSettings.FromOptions(options, certificate);

        Assert.Equal(["http://127.0.0.1:2379/", "http://127.0.0.1:2380/"], settings.Endpoints.Select(e => e.ToString()));
        Assert.Equal("/apps/billing/leader", settings.LeaderKey);
        Assert.Equal(new IPEndPoint(IPAddress.Parse("127.0.0.2"), 17_000), settings.Listen);
        Assert.Equal("worker-2.internal", settings.AdvertiseHost);
        Assert.Equal(Transport.TlsCertificate.Fingerprint(certificate), settings.CertificateFingerprint);
        Assert.True(settings.SafetyMargin < settings.LeaseTtl && settings.RenewEvery < settings.LeaseTtl - settings.SafetyMargin);
    }

    [Theory]
    [InlineData("etcd-1:2379", "not a client URL")]
    [InlineData("ftp://etcd-1:2379", "not a client URL")]
    public void A_bad_endpoint_is_refused_with_an_example_of_a_good_one(string endpoint, string expected)
    {
        var options = new ClusterClientOptions().UseSecret("a shared secret of enough length").UseEtcd(endpoint);
        var error = Assert.Throws<ArgumentException>(options.Validate);
        Assert.Contains(expected, error.Message);
        Assert.Contains("http://", error.Message);
    }

    [Fact]
    public void A_lease_ttl_below_two_seconds_or_not_whole_seconds_is_refused()
    {
        Assert.Contains("whole number of seconds", Assert.Throws<ArgumentException>(Cluster(e => e.LeaseTtl = TimeSpan.FromSeconds(1)).Validate).Message);
        Assert.Contains("whole number of seconds", Assert.Throws<ArgumentException>(Cluster(e => e.LeaseTtl = TimeSpan.FromMilliseconds(2500)).Validate).Message);
    }

    [Fact]
    public void A_cluster_scope_needs_a_shared_secret()
    {
        var options = new ClusterClientOptions { Secret = null }.UseEtcd("http://127.0.0.1:2379");
        var error = Assert.Throws<ArgumentException>(options.Validate);
        Assert.Contains("Secret shared by every machine", error.Message);
    }

    [Fact]
    public void Binding_every_interface_needs_an_advertise_address()
    {
        var options = Cluster();
        options.BindAddress = IPAddress.Any;
        var error = Assert.Throws<ArgumentException>(options.Validate);
        Assert.Contains("set AdvertiseAddress", error.Message);

        options.AdvertiseAddress = "10.0.0.5";
        options.Validate();
    }

    [Fact]
    public void Cluster_only_options_without_UseEtcd_are_refused()
    {
        var options = new ClusterClientOptions { AdvertiseAddress = "10.0.0.5" };
        Assert.Contains("UseEtcd", Assert.Throws<ArgumentException>(options.Validate).Message);
    }

    [Fact]
    public void A_username_without_a_password_is_refused()
    {
        Assert.Contains("Password", Assert.Throws<ArgumentException>(Cluster(e => e.Username = "cc").Validate).Message);
    }
}
