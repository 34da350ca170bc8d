using System.Net;
using System.Net.Sockets;
using ClusterSharing.Node;
using ClusterSharing.Proxies;

namespace ClusterSharing.Generators.Tests.Conformance;

/// <summary>
/// <see cref="ClusterClientOptions.LeaderCalls"/> on both proxy paths behind the real runtime: a leader node and a
/// follower node in this process, each calling the same failing and DateTime-carrying members.
/// </summary>
public sealed class ErrorShapeConformanceTests
{
    private static int FreePort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }

    private static async Task RunAsync(ProxyGenerationMode mode, LeaderCallMode leaderCalls, Func<IConformance, IConformance, Task> body)
    {
        int port = FreePort();
        string state = Directory.CreateTempSubdirectory("cc-shape-").FullName;
        ClusterClientOptions Options(ClusterRole role) => new()
        {
            Port = port,
            Role = role,
            StateDirectory = state,
            MaxWaitTime = TimeSpan.FromSeconds(30),
            ResponseTimeout = TimeSpan.FromSeconds(30),
            ProxyGeneration = mode,
            LeaderCalls = leaderCalls,
        };
        var contract = ContractResolver.Resolve<IConformance>(mode);
        var leaderOptions = Options(ClusterRole.Leader);
        var followerOptions = Options(ClusterRole.Follower);
        await using var leaderNode = new ClusterNode(leaderOptions);
        await using var followerNode = new ClusterNode(followerOptions);
        await using var leader = ClusterClient<IConformance>.Open(leaderNode, contract, () => new ConformanceService(), leaderOptions, ownsNodeReference: false);
        await using var follower = ClusterClient<IConformance>.Open(followerNode, contract, () => throw new InvalidOperationException("followers never build the client"), followerOptions, ownsNodeReference: false);
        await leader.ReadyAsync();
        await follower.ReadyAsync();
        try
        {
            await body(leader.Client, follower.Client);
        }
        finally
        {
            Directory.Delete(state, recursive: true);
        }
    }

    [Theory]
    [InlineData(ProxyGenerationMode.AlwaysGenerated)]
    [InlineData(ProxyGenerationMode.AlwaysDynamic)]
    public Task SameAsFollowers_gives_the_leader_and_the_follower_the_same_exception_and_the_same_DateTime_kind(ProxyGenerationMode mode) =>
        RunAsync(mode, LeaderCallMode.SameAsFollowers, async (leader, follower) =>
        {
            var atLeader = await Assert.ThrowsAsync<ClusterRemoteException>(() => leader.FailAsync("boom"));
            var atFollower = await Assert.ThrowsAsync<ClusterRemoteException>(() => follower.FailAsync("boom"));
            Assert.Equal(atFollower.Message, atLeader.Message);
            Assert.Equal(typeof(InvalidOperationException).FullName, atLeader.RemoteType);
            Assert.IsType<InvalidOperationException>(atLeader.InnerException);

            // Thrown synchronously by the real client, with a code: the same on both roles.
            var codedAtLeader = await Assert.ThrowsAsync<ClusterRemoteException>(() => leader.FailSynchronouslyAsync("C9"));
            var codedAtFollower = await Assert.ThrowsAsync<ClusterRemoteException>(() => follower.FailSynchronouslyAsync("C9"));
            Assert.Equal(("C9", "C9"), (codedAtLeader.Code, codedAtFollower.Code));
            Assert.Equal(codedAtFollower.RemoteType, codedAtLeader.RemoteType);

            var local = new Temporal(new DateTime(2026, 12, 2, 9, 30, 0, DateTimeKind.Local), DateTimeOffset.UnixEpoch, TimeSpan.FromSeconds(3), Guid.Empty);
            var fromLeader = await leader.EchoTemporalAsync(local);
            var fromFollower = await follower.EchoTemporalAsync(local);
            Assert.Equal(fromFollower.When.Kind, fromLeader.When.Kind);
            Assert.Equal(DateTimeKind.Utc, fromLeader.When.Kind);
            Assert.Equal(local.When.ToUniversalTime(), fromLeader.When);
            Assert.Equal(fromFollower, fromLeader);
        });

    [Theory]
    [InlineData(ProxyGenerationMode.AlwaysGenerated)]
    [InlineData(ProxyGenerationMode.AlwaysDynamic)]
    public Task Direct_gives_the_leader_the_real_exception_and_the_follower_a_ClusterRemoteException(ProxyGenerationMode mode) =>
        RunAsync(mode, LeaderCallMode.Direct, async (leader, follower) =>
        {
            Assert.Equal("boom", (await Assert.ThrowsAsync<InvalidOperationException>(() => leader.FailAsync("boom"))).Message);
            var atFollower = await Assert.ThrowsAsync<ClusterRemoteException>(() => follower.FailAsync("boom"));
            Assert.Equal(typeof(InvalidOperationException).FullName, atFollower.RemoteType);
            Assert.Equal(5, await leader.AddAsync(2, 3));
        });
}
