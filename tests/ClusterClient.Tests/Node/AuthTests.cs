using System.Buffers;
using System.Net;
using System.Net.Sockets;
using System.Runtime.CompilerServices;
using System.Text;
using System.Threading.Channels;
using ClusterSharing.Leader;
using ClusterSharing.Protocol;
using ClusterSharing.Transport;

namespace ClusterSharing.Tests.Node;

/// <summary>The shared-secret handshake: HMAC-SHA256 challenge/response in both directions; the secret never travels.</summary>
public sealed class AuthTests
{
    private const string Secret = "a shared secret of some length";

    private static Action<ClusterClientOptions> With(string? secret, ClusterRole role = ClusterRole.Auto, int maxWaitMs = 20_000) => o =>
    {
        // No secret here means no authentication at all (Open), not the per-user default.
        o.Secret = secret is null ? null : Encoding.UTF8.GetBytes(secret);
        o.Security = secret is null ? ClusterSecurity.Open : ClusterSecurity.Authenticated;
        o.Role = role;
        o.MaxWaitTime = TimeSpan.FromMilliseconds(maxWaitMs);
    };

    [Fact]
    public async Task Processes_with_the_same_secret_work_together()
    {
        await using var cluster = new TestCluster();
        var (_, leader) = cluster.Start(configure: With(Secret));
        await leader.ReadyAsync();
        var (_, follower) = cluster.Start(configure: With(Secret, ClusterRole.Follower));
        await follower.ReadyAsync();
        Assert.Equal(await leader.Client.WhoAmIAsync(), await follower.Client.WhoAmIAsync());
    }

    [Theory]
    [InlineData(null, "requires a shared secret")]
    [InlineData("another secret, just as long", "different secrets")]
    public async Task A_follower_without_the_secret_is_rejected_with_a_clear_error(string? secret, string expected)
    {
        await using var cluster = new TestCluster();
        var (_, leader) = cluster.Start(configure: With(Secret));
        await leader.ReadyAsync();
        var (_, intruder) = cluster.Start(configure: With(secret, ClusterRole.Follower, maxWaitMs: 6000));
        var error = await Assert.ThrowsAsync<ClusterClientException>(() => intruder.ReadyAsync());
        Assert.True(error.Message.Contains("authentication failed") && error.Message.Contains(expected), error.Message);
        Assert.DoesNotContain(Secret, error.Message);
        Assert.Equal(await leader.Client.WhoAmIAsync(), await leader.Client.WhoAmIAsync()); // still serving
    }

    [Fact]
    public async Task A_follower_with_a_secret_refuses_a_leader_without_one()
    {
        await using var cluster = new TestCluster();
        var (_, leader) = cluster.Start(configure: With(null));
        await leader.ReadyAsync();
        var (_, follower) = cluster.Start(configure: With(Secret, ClusterRole.Follower, maxWaitMs: 6000));
        var error = await Assert.ThrowsAsync<ClusterClientException>(() => follower.ReadyAsync());
        Assert.True(error.Message.Contains("authentication failed") && error.Message.Contains("does not use a shared secret"), error.Message);
    }

    [Fact]
    public async Task An_unauthenticated_connection_that_sends_anything_else_is_closed_with_a_reason()
    {
        await using var cluster = new TestCluster();
        var (_, leader) = cluster.Start(configure: With(Secret));
        await leader.ReadyAsync();
        await using var rogue = await FrameConnection.ConnectAsync(new IPEndPoint(IPAddress.Loopback, cluster.Port));
        var goodbye = Channel.CreateUnbounded<string>();
        var run = rogue.RunAsync(frame =>
        {
            if (frame.Type == PacketType.Goodbye) goodbye.Writer.TryWrite(frame.ReadHeader<GoodbyeHeader>().Reason ?? "");
            return default;
        });
        uint fingerprint = CalculatorContract.Instance.Fingerprint;
        rogue.Send(PacketType.RegisterChannel, 1, new RegisterChannelHeader(0, leader.Name, fingerprint, 1));
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(20));
        string reason = await goodbye.Reader.ReadAsync(timeout.Token);
        Assert.Contains("authentication failed", reason);
        Assert.Contains("RegisterChannel before authenticating", reason);
        await run.WaitAsync(TimeSpan.FromSeconds(20)); // and the connection is closed
    }

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public async Task The_follower_checks_the_leaders_proof_before_it_proves_itself(bool leaderKnowsSecret)
    {
        // A hand-driven leader (the real leader half of the handshake, with the cluster's secret or another one): it
        // sends its share, receives the follower's, proves itself (or fails to), and sees a follower proof only if it passed.
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        int port = ((IPEndPoint)listener.LocalEndpoint).Port;
        byte[] secret = leaderKnowsSecret ? Encoding.UTF8.GetBytes(Secret) : Encoding.UTF8.GetBytes("not the secret at all, no");
        var proofChecked = new TaskCompletionSource<bool>(TaskCreationOptions.RunContinuationsAsynchronously);
        // Auth responses per connection, in accept order. The fake serves every connection the follower opens, so a
        // retry (a loaded machine, a longer wait) meets the same leader and fails, or passes, the same way.
        var authResponses = new System.Collections.Concurrent.ConcurrentQueue<StrongBox<int>>();
        using var stop = new CancellationTokenSource();
        var fake = Task.Run(async () =>
        {
            var served = new List<Task>();
            for (int accepted = 0; accepted < 20; accepted++)
            {
                Socket socket;
                try { socket = await listener.AcceptSocketAsync(stop.Token); }
                catch (Exception e) when (e is OperationCanceledException or SocketException or ObjectDisposedException) { break; }
                var responses = new StrongBox<int>();
                authResponses.Enqueue(responses);
                served.Add(Task.Run(async () =>
                {
                    using var owned = socket;
                    await using var connection = new FrameConnection(socket);
                    var handshake = new LeaderHandshake(secret, port);
                    await connection.RunAsync(frame =>
                    {
                        if (frame.Type == PacketType.AuthResponse) Interlocked.Increment(ref responses.Value);
                        switch (handshake.Receive(frame, out var reply, out _))
                        {
                            case LeaderHandshakeStep.Challenge:
                                connection.Send(PacketType.AuthChallenge, frame.RequestId, new AuthHeader(0, reply!));
                                break;
                            case LeaderHandshakeStep.Authenticated:
                                proofChecked.TrySetResult(true);
                                connection.Send(PacketType.HeartbeatResponse, frame.RequestId, new HeartbeatHeader(1, 0));
                                break;
                            case LeaderHandshakeStep.Reject:
                                proofChecked.TrySetResult(false);
                                break;
                        }
                        return default;
                    });
                }));
            }
            await Task.WhenAll(served);
        });

        await using var cluster = new TestClusterAt(port);
        var (_, follower) = cluster.Start(o => { With(Secret, ClusterRole.Follower, maxWaitMs: 6000)(o); });
        if (leaderKnowsSecret)
        {
            Assert.True(await proofChecked.Task.WaitAsync(TimeSpan.FromSeconds(20)), "The follower's proof did not verify.");
            // Past authentication the fake leader never answers the registration; that the follower waits proves it accepted the leader.
            var error = await Assert.ThrowsAsync<ClusterClientException>(() => follower.ReadyAsync());
            Assert.DoesNotContain("authentication failed", error.Message);
        }
        else
        {
            var error = await Assert.ThrowsAsync<ClusterClientException>(() => follower.ReadyAsync());
            Assert.Contains("authentication failed", error.Message);
            Assert.Contains("could not prove", error.Message);
        }
        await cluster.DisposeAsync();
        stop.Cancel();
        listener.Stop();
        await fake.WaitAsync(TimeSpan.FromSeconds(20));
        // With the right secret: the share, then the proof; with another: the share only (never a proof to a leader
        // that failed to prove itself), on the first connection and on every retry.
        var counts = authResponses.Select(r => Volatile.Read(ref r.Value)).ToArray();
        Assert.NotEmpty(counts);
        Assert.Equal(leaderKnowsSecret ? 2 : 1, counts[0]);
        Assert.All(counts, c => Assert.True(c <= (leaderKnowsSecret ? 2 : 1), string.Join(",", counts)));
    }

    [Fact]
    public void Options_refuse_a_short_secret_and_a_non_loopback_bind_without_one()
    {
        var shortSecret = new ClusterClientOptions { Secret = [1, 2, 3] };
        Assert.Contains("at least 16 bytes", Assert.Throws<ArgumentException>(shortSecret.Validate).Message);
        var exposed = new ClusterClientOptions { Secret = null, BindAddress = IPAddress.Any };
        Assert.Contains("not a loopback address", Assert.Throws<ArgumentException>(exposed.Validate).Message);
        new ClusterClientOptions { BindAddress = IPAddress.Any }.UseSecret(Secret).Validate();
    }

    /// <summary>Nodes on a given port with their own state directory.</summary>
    internal sealed class TestClusterAt(int port) : IAsyncDisposable
    {
        private readonly List<ClusterSharing.Node.ClusterNode> _nodes = new();
        private readonly string _directory = Directory.CreateTempSubdirectory("cc-test-").FullName;
        private bool _disposed;

        public (ClusterSharing.Node.ClusterNode, ClusterClient<ICalculator>) Start(Action<ClusterClientOptions> configure)
        {
            var options = new ClusterClientOptions { Port = port, SingleMode = false, StateDirectory = _directory, ConnectTimeout = TimeSpan.FromSeconds(5) };
            configure(options);
            var node = new ClusterSharing.Node.ClusterNode(options);
            _nodes.Add(node);
            return (node, ClusterClient<ICalculator>.Open(node, CalculatorContract.Instance, () => new Calculator(), options, ownsNodeReference: false));
        }

        public async ValueTask DisposeAsync()
        {
            if (_disposed) return;
            _disposed = true;
            foreach (var node in _nodes) await node.DisposeAsync();
            Directory.Delete(_directory, recursive: true);
        }
    }
}
