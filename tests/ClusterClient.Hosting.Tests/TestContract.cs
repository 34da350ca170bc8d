namespace ClusterSharing.Hosting.Tests;

[ClusterDelegate]
public partial interface IPingService
{
    Task<string> PingAsync(string text);
}

internal sealed class PingService : IPingService
{
    public Task<string> PingAsync(string text) => Task.FromResult("pong " + text);
}

internal sealed class FailingFactory
{
    public static IPingService Create() => throw new InvalidOperationException("the upstream is down");
}
