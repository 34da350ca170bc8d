namespace ClusterSharing.Samples.Cluster;

/// <summary>The upstream every "machine" shares: one real client in the leader, elected on etcd.</summary>
[ClusterDelegate]
public partial interface IQuoteService
{
    /// <summary>Who answered: the leader's pid and the address it serves on. Safe to retry on a new leader.</summary>
    [Idempotent]
    Task<Answer> WhoAnswersAsync(string caller, CancellationToken cancellationToken = default);
}

/// <summary>One answer of the real client.</summary>
public sealed record Answer(int LeaderPid, string LeaderAddress, string Caller);

/// <summary>The real client: lives only in the leader process.</summary>
internal sealed class QuoteService(string address) : IQuoteService
{
    public Task<Answer> WhoAnswersAsync(string caller, CancellationToken cancellationToken = default) =>
        Task.FromResult(new Answer(Environment.ProcessId, address, caller));
}
