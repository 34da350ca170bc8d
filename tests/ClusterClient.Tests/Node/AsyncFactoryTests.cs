namespace ClusterSharing.Tests.Node;

/// <summary>The asynchronous client factory: awaited on the leader, retried and reported like the synchronous one.</summary>
public sealed class AsyncFactoryTests
{
    [Fact]
    public async Task An_async_factory_is_awaited_once_and_calls_made_meanwhile_wait_for_it()
    {
        await using var cluster = new TestCluster();
        int calls = 0;
        var release = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        Func<CancellationToken, ValueTask<ICalculator>> factory = async ct =>
        {
            Interlocked.Increment(ref calls);
            await release.Task.WaitAsync(ct);
            return new Calculator();
        };
        var (_, leader) = cluster.Start(factory, o => o.Role = ClusterRole.Leader);
        var (_, follower) = cluster.Start(factory, o => o.Role = ClusterRole.Follower);

        var early = follower.Client.AddAsync(2, 3);
        await TestCluster.WaitUntilAsync(() => Volatile.Read(ref calls) == 1, "the factory to start");
        Assert.False(early.IsCompleted);
        Assert.False(leader.IsReady);

        release.SetResult();
        Assert.Equal(5, await early);
        await leader.ReadyAsync();
        await follower.ReadyAsync();
        Assert.Equal(1, Volatile.Read(ref calls));
    }

    [Fact]
    public async Task A_faulted_async_factory_is_retried_and_reaches_every_ReadyAsync_with_its_message()
    {
        await using var cluster = new TestCluster();
        int attempts = 0;
        Func<CancellationToken, ValueTask<ICalculator>> factory = async ct =>
        {
            await Task.Delay(20, ct);
            if (Interlocked.Increment(ref attempts) <= 2) throw new InvalidOperationException("connect refused (42)");
            return new Calculator();
        };
        var (_, leader) = cluster.Start(factory, o => o.Role = ClusterRole.Leader);
        var (_, follower) = cluster.Start(factory, o => o.Role = ClusterRole.Follower);

        var atLeader = await Assert.ThrowsAsync<ClusterFactoryException>(() => leader.ReadyAsync());
        Assert.Contains("System.InvalidOperationException: connect refused (42)", atLeader.Message);

        // Retried with backoff until it succeeds; errors are not sticky.
        for (int attempt = 0; ; attempt++)
        {
            try
            {
                await follower.ReadyAsync();
                break;
            }
            catch (ClusterFactoryException e) when (attempt < 20)
            {
                Assert.Contains("connect refused (42)", e.Message);
            }
        }
        Assert.Equal(7, await follower.Client.AddAsync(3, 4));
        Assert.Equal(3, Volatile.Read(ref attempts));
    }

    [Fact]
    public async Task Disposing_cancels_a_pending_async_factory()
    {
        await using var cluster = new TestCluster();
        var started = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var cancelled = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        Func<CancellationToken, ValueTask<ICalculator>> factory = async ct =>
        {
            started.TrySetResult();
            using var registration = ct.Register(() => cancelled.TrySetResult());
            await Task.Delay(Timeout.Infinite, ct);
            return new Calculator();
        };
        var (_, leader) = cluster.Start(factory, o => o.Role = ClusterRole.Leader);
        await started.Task.WaitAsync(TimeSpan.FromSeconds(30));

        await leader.DisposeAsync();
        await cancelled.Task.WaitAsync(TimeSpan.FromSeconds(10));
    }

    [Fact]
    public async Task Create_accepts_an_async_factory_in_single_mode()
    {
        int port = TestCluster.FreePort();
        await using var handle = await ClusterClient.Create<ICalculator>(async ct =>
        {
            await Task.Yield();
            return new Calculator();
        }, o => { o.Port = port; o.SingleMode = true; }).ReadyAsync();
        Assert.Equal(9, await handle.Client.AddAsync(4, 5));
    }
}
