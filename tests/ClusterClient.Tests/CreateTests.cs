namespace ClusterSharing.Tests;

/// <summary>The public entry point: options are validated at once, naming the option, and Create elects.</summary>
public sealed class CreateTests
{
    [Theory]
    [InlineData(0, "Port")]
    [InlineData(70000, "Port")]
    public void Create_rejects_a_bad_port_at_once(int port, string name)
    {
        var error = Assert.Throws<ArgumentException>(() => ClusterClient.Create<ICalculator>(() => new Calculator(), o => o.Port = port));
        Assert.Equal(name, error.ParamName);
        Assert.Contains(port.ToString(System.Globalization.CultureInfo.InvariantCulture), error.Message);
    }

    [Fact]
    public void Create_rejects_non_positive_timeouts_naming_the_option()
    {
        var error = Assert.Throws<ArgumentException>(() => ClusterClient.Create<ICalculator>(() => new Calculator(), o => o.MaxWaitTime = TimeSpan.Zero));
        Assert.Equal("MaxWaitTime", error.ParamName);
        error = Assert.Throws<ArgumentException>(() => ClusterClient.Create<ICalculator>(() => new Calculator(), o => o.HeartbeatInterval = TimeSpan.FromSeconds(-1)));
        Assert.Equal("HeartbeatInterval", error.ParamName);
        Assert.Throws<ArgumentNullException>(() => ClusterClient.Create<ICalculator>((Func<ICalculator>)null!));
        Assert.Throws<ArgumentNullException>(() => ClusterClient.Create<ICalculator>((Func<CancellationToken, ValueTask<ICalculator>>)null!));
    }

    [Fact]
    public void Create_rejects_a_header_size_that_leaves_no_room_for_the_frame_header()
    {
        // Before, this passed validation and failed every election attempt inside ProtocolLimits.
        var error = Assert.Throws<ArgumentException>(() => ClusterClient.Create<ICalculator>(() => new Calculator(), o => { o.MaxFrameSize = 65536; o.MaxHeaderSize = 65536; }));
        Assert.Equal("MaxHeaderSize", error.ParamName);
        Assert.Contains("24-byte frame header", error.Message);
    }

    [Fact]
    public async Task Create_elects_through_the_public_entry_point()
    {
        int port = TestCluster.FreePort();
        await using var client = await ClusterClient.Create<ICalculator>(() => new Calculator(), o =>
        {
            o.Port = port;
            o.SingleMode = false;
        }).ReadyAsync();
        Assert.True(client.IsLeader);
        Assert.Equal(7, await client.Client.AddAsync(3, 4));
    }
}
