namespace ClusterSharing.Hosting;

/// <summary>
/// Work that runs only in the process that leads, registered with
/// <see cref="ClusterClientBuilder{T}.AddLeaderWork{TWork}(Action{LeaderWorkOptions}?)"/>: the hosted service passes
/// <see cref="RunAsync"/> to <see cref="ClusterClient{T}.WhenLeader"/> at start-up and disposes the registration at shutdown.
/// </summary>
public interface ILeaderWork
{
    /// <summary>Runs while this process leads; returns when <paramref name="leadershipLost"/> fires (or earlier, ending the work for this term).</summary>
    /// <param name="leadershipLost">Fires when this process stops leading or the host stops.</param>
    /// <returns>A task that completes when the work has stopped.</returns>
    Task RunAsync(CancellationToken leadershipLost);
}

/// <summary>One leader work of a registration, resolved by the hosted service when the host starts.</summary>
/// <typeparam name="T">The contract whose leadership the work follows.</typeparam>
internal sealed class LeaderWorkDescriptor<T>(Func<IServiceProvider, CancellationToken, Task> work, Action<LeaderWorkOptions>? configure, string name)
    where T : class
{
    public Func<IServiceProvider, CancellationToken, Task> Work { get; } = work;

    public LeaderWorkOptions CreateOptions()
    {
        var options = new LeaderWorkOptions { Name = name };
        configure?.Invoke(options);
        return options;
    }
}
