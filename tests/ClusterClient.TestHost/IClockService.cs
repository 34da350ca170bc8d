namespace ClusterSharing.TestHost;

/// <summary>A second contract, to prove that several channels share one port (one listener, one connection per process).</summary>
[ClusterDelegate]
public partial interface IClockService
{
    Task<int> GetLeaderPidAsync();

    Task<long> GetTicksAsync();
}

internal sealed class ClockService : IClockService
{
    public Task<int> GetLeaderPidAsync() => Task.FromResult(Environment.ProcessId);

    public Task<long> GetTicksAsync() => Task.FromResult(DateTime.UtcNow.Ticks);
}
