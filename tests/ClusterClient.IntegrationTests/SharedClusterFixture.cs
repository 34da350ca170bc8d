namespace ClusterSharing.IntegrationTests;

/// <summary>One leader and three followers, started once for the tests that leave the cluster as they found it.</summary>
public sealed class SharedClusterFixture : IAsyncLifetime
{
    public static readonly string[] CommonArguments = ["--max-wait-ms", "20000", "--response-timeout-ms", "20000"];

    public HostCluster Cluster { get; } = new(CommonArguments);

    public HostProcess Leader { get; private set; } = null!;

    public HostProcess[] Followers { get; private set; } = [];

    public async Task InitializeAsync()
    {
        (Leader, Followers) = await Cluster.StartReadyAsync(4);
    }

    public async Task DisposeAsync() => await Cluster.DisposeAsync();
}
