using System.Collections.Concurrent;
using System.Net;
using System.Net.Sockets;
using ClusterSharing.Coordination;
using ClusterSharing.Coordination.Local;
using ClusterSharing.Node;

namespace ClusterSharing.Tests.Coordination;

/// <summary>
/// The node drives any engine through the seam alone: it leads on the term it is given, steps down when the term is
/// lost, resigns it when closing, and reports a leader it cannot reach. A scripted engine stands in for etcd or Redis.
/// </summary>
public sealed class ElectionSeamTests
{
    [Fact]
    public async Task A_node_leads_with_the_engines_epoch_and_steps_down_when_its_term_is_lost()
    {
        var engine = new ScriptedElection();
        var term = new ScriptedTerm(epoch: 41);
        engine.Steps.Enqueue(new LeadStep(term));
        await using var cluster = new TestCluster();
        await using var node = new ClusterNode(cluster.Options(), (_, _, _) => engine);
        var roles = new ConcurrentQueue<(bool IsLeader, long Epoch)>();
        node.RoleChanged += (leader, epoch) => roles.Enqueue((leader, epoch));
        await using var client = ClusterClient<ICalculator>.Open(node, CalculatorContract.Instance, () => new Calculator(), cluster.Options(), ownsNodeReference: false);
        await client.ReadyAsync();
        Assert.True(node.IsLeader);
        Assert.Equal(41, node.Epoch);

        term.Lose("the engine says epoch 42 holds the scope now", successorEpoch: 42);

        await TestCluster.WaitUntilAsync(() => !node.IsLeader && term.Disposed, "the node to step down and dispose the lost term");
        Assert.Equal(42, node.Epoch);
        await TestCluster.WaitUntilAsync(() => roles.Contains((false, 42)), "RoleChanged(false, 42)");
        Assert.False(term.Resigned); // lost, not given up
    }

    [Fact]
    public async Task A_closing_node_resigns_its_term_and_disposes_the_engine()
    {
        var engine = new ScriptedElection();
        var term = new ScriptedTerm(epoch: 5);
        engine.Steps.Enqueue(new LeadStep(term));
        await using var cluster = new TestCluster();
        var node = new ClusterNode(cluster.Options(), (_, _, _) => engine);
        var client = ClusterClient<ICalculator>.Open(node, CalculatorContract.Instance, () => new Calculator(), cluster.Options(), ownsNodeReference: false);
        await client.ReadyAsync();

        await client.DisposeAsync();
        await node.DisposeAsync();

        Assert.True(term.Resigned);
        Assert.True(engine.Disposed);
    }

    [Fact]
    public async Task A_node_reports_a_leader_it_cannot_reach_to_its_engine()
    {
        var engine = new ScriptedElection();
        int port = TestCluster.FreePort(); // nothing listens there
        var address = new LeaderAddress(new IPEndPoint(IPAddress.Loopback, port), 9) { EngineState = "opaque" };
        engine.Steps.Enqueue(new FollowStep(address));
        await using var cluster = new TestCluster();
        await using var node = new ClusterNode(cluster.Options(), (_, _, _) => engine);
        await using var client = ClusterClient<ICalculator>.Open(node, CalculatorContract.Instance, () => new Calculator(), cluster.Options(), ownsNodeReference: false);

        await TestCluster.WaitUntilAsync(() => engine.Unreachable.Contains(address), "the engine to hear the leader is unreachable");
        Assert.False(node.IsLeader);
    }

    /// <summary>Hands out the queued steps, then waits.</summary>
    private sealed class ScriptedElection : ILeaderElection
    {
        public ConcurrentQueue<ElectionStep> Steps { get; } = new();

        public ConcurrentQueue<LeaderAddress> Unreachable { get; } = new();

        public bool Disposed { get; private set; }

        public string Description => "scripted";

        public Task<ElectionStep> NextAsync(bool mayLead, CancellationToken cancellationToken) =>
            Task.FromResult(Steps.TryDequeue(out var step) ? step : new WaitStep("the script has no more steps", TimeSpan.FromMilliseconds(20)));

        public void LeaderUnreachable(LeaderAddress followed) => Unreachable.Enqueue(followed);

        public ValueTask DisposeAsync()
        {
            Disposed = true;
            return ValueTask.CompletedTask;
        }
    }

    private sealed class ScriptedTerm(long epoch) : ILeadershipTerm
    {
        private readonly CancellationTokenSource _lost = new();

        public long Epoch { get; } = epoch;

        public Socket Listener { get; } = PortElection.TryListen(IPAddress.Loopback, 0)!;

        public EndPoint Endpoint => Listener.LocalEndPoint!;

        public CancellationToken Lost => _lost.Token;

        public string? LostReason { get; private set; }

        public long SuccessorEpoch { get; private set; }

        public bool IsCurrent => !_lost.IsCancellationRequested && !Resigned;

        public bool Resigned { get; private set; }

        public bool Disposed { get; private set; }

        public void Lose(string reason, long successorEpoch)
        {
            LostReason = reason;
            SuccessorEpoch = successorEpoch;
            _ = Task.Run(_lost.Cancel);
        }

        public ValueTask ResignAsync(CancellationToken cancellationToken = default)
        {
            if (!_lost.IsCancellationRequested) Resigned = true;
            return ValueTask.CompletedTask;
        }

        public async ValueTask DisposeAsync()
        {
            await ResignAsync();
            Listener.Dispose();
            Disposed = true;
        }
    }
}
