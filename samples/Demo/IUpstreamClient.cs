namespace ClusterSharing.Demo;

/// <summary>
/// The client every worker wants: in real life a connection to a registry, a broker or a rate-limited API.
/// With ClusterClient only the leader process holds a real one; the other workers share it.
/// </summary>
[ClusterDelegate]
public partial interface IUpstreamClient
{
    /// <summary>A request/response call answered by the real client.</summary>
    Task<UpstreamAnswer> QueryAsync(string question, CancellationToken cancellationToken = default);

    /// <summary>Cheap and safe to repeat, so it is retried on a new leader if the old one dies mid-call.</summary>
    [Idempotent]
    Task<int> PingAsync();
}

/// <summary>Who answered: the leader's pid and the id of its one real connection.</summary>
public sealed record UpstreamAnswer(int LeaderPid, string ConnectionId, string Text);

/// <summary>The real client; constructed only in the leader.</summary>
internal sealed class UpstreamClient : IUpstreamClient
{
    private readonly string _connectionId = Guid.NewGuid().ToString("N")[..8];

    public Task<UpstreamAnswer> QueryAsync(string question, CancellationToken cancellationToken = default) =>
        Task.FromResult(new UpstreamAnswer(Environment.ProcessId, _connectionId, $"answer to '{question}'"));

    public Task<int> PingAsync() => Task.FromResult(Environment.ProcessId);
}
