using System.Net.Sockets;
using ClusterSharing.Coordination.Local;
using Microsoft.Extensions.Logging.Abstractions;

namespace ClusterSharing.Tests.Coordination.Local;

/// <summary>The Unix domain socket transport: exclusive election, file mode 0600, stale socket files.</summary>
public sealed class UnixSocketTests
{
    private static Action<ClusterClientOptions> Unix(string? path = null) => o =>
    {
        o.Transport = ClusterTransport.UnixSocket;
        if (path is not null) o.SocketPath = path;
    };

    private static string SocketPathOf(TestCluster cluster) => Path.Combine(cluster.StateDirectory, $"cc-{cluster.Port}.sock");

    [Fact]
    public async Task Nodes_elect_one_leader_and_call_it_over_a_socket_file_only_the_user_can_open()
    {
        Assert.False(OperatingSystem.IsWindows(), "This test needs Unix file modes (Linux, macOS).");
        await using var cluster = new TestCluster();
        var started = Enumerable.Range(0, 3).Select(_ => cluster.Start(configure: Unix())).ToArray();
        foreach (var (_, client) in started) await client.ReadyAsync();
        Assert.Single(started, s => s.Client.IsLeader);
        int leaderId = await started.Single(s => s.Client.IsLeader).Client.Client.WhoAmIAsync();
        foreach (var (_, client) in started) Assert.Equal(leaderId, await client.Client.WhoAmIAsync());

        string path = SocketPathOf(cluster);
        Assert.True(File.Exists(path), $"No socket file at {path}.");
        Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, OperatingSystem.IsWindows() ? default : File.GetUnixFileMode(path));
        // No TCP listener was opened on the port.
        Assert.NotNull(TestClusterProbe.TryBindTcp(cluster.Port));
    }

    [Fact]
    public async Task A_stale_socket_file_left_by_a_killed_leader_does_not_block_the_election()
    {
        Assert.False(OperatingSystem.IsWindows(), "This test needs Unix sockets (Linux, macOS).");
        await using var cluster = new TestCluster();
        string path = SocketPathOf(cluster);
        // A bound socket that does not listen: the file exists and connecting is refused, as after a SIGKILL.
        using (var stale = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified))
        {
            stale.Bind(new UnixDomainSocketEndPoint(path));
            Assert.True(File.Exists(path));
            var (_, leader) = cluster.Start(configure: Unix());
            await leader.ReadyAsync();
            Assert.True(leader.IsLeader);
            var (_, follower) = cluster.Start(configure: Unix());
            await follower.ReadyAsync();
            Assert.Equal(await leader.Client.WhoAmIAsync(), await follower.Client.WhoAmIAsync());
        }
    }

    [Fact]
    public async Task Binding_the_socket_path_is_exclusive_and_stale_files_are_replaced()
    {
        Assert.False(OperatingSystem.IsWindows(), "This test needs Unix sockets (Linux, macOS).");
        string directory = Directory.CreateTempSubdirectory("cc-uds-").FullName;
        try
        {
            var options = new ClusterClientOptions { Port = 4100, Transport = ClusterTransport.UnixSocket, StateDirectory = directory };
            var endpoint = ElectionEndpoint.Create(options, NullLogger.Instance);
            using (var first = await endpoint.TryListenPrimaryAsync(CancellationToken.None))
            {
                Assert.NotNull(first);
                // A live listener holds the path: nobody else binds it, and it is not mistaken for a stale file.
                Assert.Null(await endpoint.TryListenPrimaryAsync(CancellationToken.None));
                Assert.False(await ElectionEndpoint.IsStaleAsync(endpoint.Primary, CancellationToken.None));
            }
            // A socket file of ours that nobody accepts on (a killed leader's) is replaced; any other file is left alone
            // (SecurityTests.A_regular_file_at_SocketPath_survives_and_is_not_mistaken_for_a_stale_socket).
            File.Delete(endpoint.SocketPath!);
            using (var killed = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified))
                killed.Bind(new UnixDomainSocketEndPoint(endpoint.SocketPath!));
            Assert.True(await ElectionEndpoint.IsStaleAsync(endpoint.Primary, CancellationToken.None));
            using var second = await endpoint.TryListenPrimaryAsync(CancellationToken.None);
            Assert.NotNull(second);
        }
        finally
        {
            Directory.Delete(directory, recursive: true);
        }
    }

    [Fact]
    public async Task A_leader_killed_over_unix_sockets_is_replaced()
    {
        Assert.False(OperatingSystem.IsWindows(), "This test needs Unix sockets (Linux, macOS).");
        await using var cluster = new TestCluster();
        var (leaderNode, leader) = cluster.Start(configure: Unix());
        await leader.ReadyAsync();
        var (_, follower) = cluster.Start(configure: Unix());
        await follower.ReadyAsync();
        await leaderNode.DisposeAsync();
        await TestCluster.WaitUntilAsync(() => follower.IsLeader, "the follower to take over");
        Assert.Equal(2, follower.Epoch);
        Assert.True(await follower.Client.WhoAmIAsync() > 0);
    }

    [Fact]
    public void Options_validate_the_socket_path()
    {
        var tooLong = new ClusterClientOptions { Transport = ClusterTransport.UnixSocket, SocketPath = "/tmp/" + new string('x', 200) };
        Assert.Contains("SocketPath", Assert.Throws<ArgumentException>(tooLong.Validate).Message);
    }
}

internal static class TestClusterProbe
{
    public static Socket? TryBindTcp(int port)
    {
        var socket = PortElection.TryListen(port);
        socket?.Dispose();
        return socket;
    }
}
