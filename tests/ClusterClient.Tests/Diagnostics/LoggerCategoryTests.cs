using System.Collections.Concurrent;
using Microsoft.Extensions.Logging;

namespace ClusterSharing.Tests.Diagnostics;

public sealed class LoggerCategoryTests
{
    [Fact]
    public async Task With_a_logger_factory_each_room_logs_under_its_own_category()
    {
        await using var cluster = new TestCluster();
        var leaderLogs = new CapturingLoggerFactory();
        var followerLogs = new CapturingLoggerFactory();
        var (_, leader) = cluster.Start(configure: o => o.LoggerFactory = leaderLogs);
        await leader.ReadyAsync();
        var (_, follower) = cluster.Start(configure: o => o.LoggerFactory = followerLogs);
        await follower.ReadyAsync();
        Assert.True(leader.IsLeader);
        Assert.Equal(5, await follower.Client.AddAsync(2, 3));

        // The node room says which role it took; the leader room logs the follower it admitted.
        await TestCluster.WaitUntilAsync(() => leaderLogs.Has("ClusterSharing.Leader"), "a log entry of the leader room");
        Assert.True(leaderLogs.Has("ClusterSharing.Node"), leaderLogs.Describe());
        Assert.True(followerLogs.Has("ClusterSharing.Node"), followerLogs.Describe());
        Assert.All(leaderLogs.Categories.Concat(followerLogs.Categories), c => Assert.StartsWith("ClusterSharing.", c));
        Assert.DoesNotContain("ClusterSharing.Leader", followerLogs.Categories.Where(c => followerLogs.Count(c) > 0));
    }

    [Fact]
    public void A_logger_set_in_code_is_used_for_every_room()
    {
        var factory = new CapturingLoggerFactory();
        var options = new ClusterClientOptions { LoggerFactory = factory };
        Assert.NotNull(options.LoggerFor("Leader"));
        Assert.Contains("ClusterSharing.Leader", factory.Categories);

        var single = factory.CreateLogger("mine");
        options.Logger = single;
        Assert.Same(single, options.LoggerFor("Leader"));
        Assert.Same(single, options.LoggerFor("Follower"));
        Assert.Null(new ClusterClientOptions().LoggerFor("Leader"));
    }

    private sealed class CapturingLoggerFactory : ILoggerFactory
    {
        private readonly ConcurrentDictionary<string, int> _entries = new();

        public IEnumerable<string> Categories => _entries.Keys;

        public int Count(string category) => _entries.TryGetValue(category, out int n) ? n : 0;

        public bool Has(string category) => Count(category) > 0;

        public string Describe() => string.Join(", ", _entries.Select(e => $"{e.Key}={e.Value}"));

        public ILogger CreateLogger(string categoryName)
        {
            _entries.TryAdd(categoryName, 0);
            return new Logger(this, categoryName);
        }

        public void AddProvider(ILoggerProvider provider) => throw new NotSupportedException();

        public void Dispose()
        {
        }

        private sealed class Logger(CapturingLoggerFactory owner, string category) : ILogger
        {
            public IDisposable? BeginScope<TState>(TState state) where TState : notnull => null;

            public bool IsEnabled(LogLevel logLevel) => true;

            public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter) =>
                owner._entries.AddOrUpdate(category, 1, static (_, n) => n + 1);
        }
    }
}
