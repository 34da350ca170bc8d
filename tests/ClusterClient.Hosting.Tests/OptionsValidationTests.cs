using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Options;

namespace ClusterSharing.Hosting.Tests;

[Collection(GenericHosts.Name)]
public sealed class OptionsValidationTests
{
    private static IHost Build(Dictionary<string, string?> settings, Action<ClusterClientOptions>? configure = null)
    {
        var builder = Host.CreateEmptyApplicationBuilder(new HostApplicationBuilderSettings());
        builder.Configuration.AddInMemoryCollection(settings);
        builder.Services.AddClusterClient<IPingService>(_ => new PingService(), "ClusterClient", configure);
        return builder.Build();
    }

    [Fact]
    public async Task Start_fails_with_the_configuration_key_when_the_port_is_out_of_range()
    {
        using var host = Build(new() { ["ClusterClient:Port"] = "70000", ["ClusterClient:SingleMode"] = "true" });
        var error = await Assert.ThrowsAsync<OptionsValidationException>(() => host.StartAsync());
        string message = Assert.Single(error.Failures);
        Assert.Contains("configuration key 'ClusterClient:Port'", message);
        Assert.Contains("Port must be between 1 and 65535 (was 70000)", message);
        Assert.Contains(typeof(IPingService).FullName!, message);
        Assert.DoesNotContain("(Parameter", message);
    }

    [Fact]
    public async Task Start_fails_when_a_secret_set_in_code_is_too_short()
    {
        using var host = Build(new() { ["ClusterClient:SingleMode"] = "true" }, o => o.UseSecret("short"));
        // UseSecret refuses a short passphrase at once (before validation), naming the minimum.
        var error = await Assert.ThrowsAsync<ArgumentException>(() => host.StartAsync());
        Assert.Contains("at least 16 bytes of UTF-8 (was 5)", error.Message);
    }

    [Fact]
    public async Task Start_fails_when_a_timeout_is_not_positive()
    {
        using var host = Build(new() { ["ClusterClient:SingleMode"] = "true", ["ClusterClient:ResponseTimeout"] = "00:00:00" });
        var error = await Assert.ThrowsAsync<OptionsValidationException>(() => host.StartAsync());
        string message = Assert.Single(error.Failures);
        Assert.Contains("configuration key 'ClusterClient:ResponseTimeout'", message);
        Assert.Contains("ResponseTimeout must be positive", message);
    }

    [Fact]
    public void Options_are_bound_from_the_section_then_configured_in_code()
    {
        using var host = Build(new()
        {
            ["ClusterClient:Port"] = "7123",
            ["ClusterClient:MaxWaitTime"] = "00:00:07",
            ["ClusterClient:Name"] = "from-config",
        }, o => o.Name = "from-code");
        var options = host.Services.GetRequiredService<IOptionsMonitor<ClusterClientOptions>>()
            .Get(ClusterClientServiceCollectionExtensions.OptionsName<IPingService>());
        Assert.Equal(7123, options.Port);
        Assert.Equal(TimeSpan.FromSeconds(7), options.MaxWaitTime);
        Assert.Equal("from-code", options.Name);
        // DI's logger factory, so each room logs under its own category.
        Assert.Null(options.Logger);
        Assert.Same(host.Services.GetRequiredService<Microsoft.Extensions.Logging.ILoggerFactory>(), options.LoggerFactory);
        Assert.NotNull(options.LoggerFor("Leader"));
    }

    [Fact]
    public void Registering_the_same_contract_twice_is_refused()
    {
        var services = new ServiceCollection();
        services.AddClusterClient<IPingService>(_ => new PingService());
        var error = Assert.Throws<InvalidOperationException>(() => services.AddClusterClient<IPingService>(_ => new PingService()));
        Assert.Contains("called twice", error.Message);
    }
}
