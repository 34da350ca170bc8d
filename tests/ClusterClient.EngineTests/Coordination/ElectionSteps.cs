using System.Diagnostics;
using ClusterSharing.Coordination;

namespace ClusterSharing.EngineTests.Coordination;

/// <summary>Drives an election engine as the node's loop would, bounded in time: shared by the engine tests of every engine.</summary>
public static class ElectionSteps
{
    /// <summary>How long a helper waits for an outcome.</summary>
    public static readonly TimeSpan Patience = TimeSpan.FromSeconds(20);

    /// <summary>Asks for steps until this candidate leads (bounded), as the node's loop would.</summary>
    internal static async Task<ILeadershipTerm> LeadAsync(ILeaderElection election)
    {
        var deadline = Stopwatch.StartNew();
        var steps = new List<string>();
        while (deadline.Elapsed < Patience)
        {
            using var timeout = new CancellationTokenSource(Patience);
            var step = await election.NextAsync(mayLead: true, timeout.Token);
            if (step is LeadStep lead) return lead.Term;
            steps.Add(step.ToString());
            if (step is WaitStep wait) await Task.Delay(wait.Delay);
            else await Task.Delay(50);
        }
        throw new TimeoutException($"No leadership within {Patience}; steps: {string.Join("; ", steps.TakeLast(5))}");
    }

    /// <summary>Asks for steps until this candidate is told to follow (bounded), skipping waits.</summary>
    internal static async Task<FollowStep> FollowAsync(ILeaderElection election, bool mayLead = true)
    {
        var deadline = Stopwatch.StartNew();
        while (true)
        {
            var step = await election.NextAsync(mayLead, CancellationToken.None);
            if (step is FollowStep follow) return follow;
            var wait = Assert.IsType<WaitStep>(step);
            if (deadline.Elapsed > Patience) Assert.Fail($"Not told to follow within {Patience}; last: {wait.Status}");
            await Task.Delay(wait.Delay);
        }
    }

    /// <summary>Waits (bounded) until <paramref name="token"/> fires.</summary>
    public static async Task WaitForAsync(CancellationToken token)
    {
        var fired = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        using var registration = token.Register(() => fired.TrySetResult());
        await fired.Task.WaitAsync(Patience);
    }
}
