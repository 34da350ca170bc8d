using ClusterSharing.Generators.Tests.Support;
using ClusterSharing.Proxies;
using ClusterSharing.Proxies.Dynamic;

namespace ClusterSharing.Generators.Tests.Conformance;

/// <summary>
/// Awaitable subscriptions and last-value publications through a contract (generated or dynamic), a
/// <see cref="LoopbackInvoker{T}"/> and the real <see cref="AttachConformanceService"/>.
/// </summary>
public abstract class AttachConformanceTests
{
    private static readonly Query News = new("news", 1);

    protected AttachConformanceTests()
    {
        Contract = CreateContract();
        Service = new AttachConformanceService();
        Invoker = new LoopbackInvoker<IAttachConformance>(Contract, Service);
        Proxy = Contract.CreateProxy(Invoker);
    }

    protected ClusterContract<IAttachConformance> Contract { get; }
    protected AttachConformanceService Service { get; }
    protected LoopbackInvoker<IAttachConformance> Invoker { get; }
    protected IAttachConformance Proxy { get; }

    protected abstract ClusterContract<IAttachConformance> CreateContract();

    private ClusterMethod Method(string name) => Assert.Single(Contract.Methods, m => m.Name == name);

    [Fact]
    public void Awaitable_members_are_classified_and_flagged()
    {
        foreach (var name in new[] { "SubscribeNews", "Follow", "SubscribeFeed", "WatchCounter" })
        {
            Assert.Equal(ClusterMethodKind.Subscribe, Method(name).Kind);
            Assert.True(Method(name).Awaitable, name);
        }
        Assert.Equal(Method("SubscribeNews").Id, Method("UnsubscribeNews").PairedId);
        Assert.Equal(ClusterMethodKind.Invoke, Method("SubscribeCountAsync").Kind);
        Assert.False(Method("SubscribeCountAsync").Awaitable);
        Assert.Equal("System.Threading.Tasks.Task SubscribeNews(ClusterSharing.Generators.Tests.Conformance.Query,System.Action<ClusterSharing.Generators.Tests.Conformance.Notice>)",
            Method("SubscribeNews").Signature);
        Assert.Equal("System.Threading.Tasks.Task<System.Collections.Generic.IAsyncEnumerable<ClusterSharing.Generators.Tests.Conformance.Notice>> SubscribeFeed(ClusterSharing.Generators.Tests.Conformance.Query)",
            Method("SubscribeFeed").Signature);
    }

    [Fact]
    public void Last_value_publications_are_flagged()
    {
        Assert.Equal(ClusterMethodKind.Publish, Method("PublishState").Kind);
        Assert.True(Method("PublishState").LastValue);
        Assert.True(Method("PublishPrice").LastValue);
        Assert.False(Method("SubscribeNews").LastValue);
    }

    [Fact]
    public async Task Awaited_subscribe_completes_only_when_the_real_subscribe_has_completed()
    {
        Service.NewsGate = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var received = new List<Notice>();
        var subscribed = Proxy.SubscribeNews(News, received.Add);
        await Task.Delay(50);
        Assert.False(subscribed.IsCompleted);
        Assert.Equal(0, Service.NewsListeners);

        Service.NewsGate.SetResult();
        await subscribed.WaitAsync(TimeSpan.FromSeconds(10));
        Assert.Equal(1, Service.NewsListeners);
        Service.EmitNews(News, new Notice("news", 1, "x"));
        Assert.Equal(new Notice("news", 1, "x"), Assert.Single(received));

        Proxy.UnsubscribeNews(News, received.Add);
        Assert.Equal(1, Invoker.RealUnsubscribes);
    }

    [Fact]
    public async Task A_second_awaited_subscribe_of_the_same_key_shares_the_real_subscription()
    {
        var first = new List<Notice>();
        var second = new List<Notice>();
        await Proxy.SubscribeNews(News, first.Add);
        await Proxy.SubscribeNews(new Query("news", 1), second.Add);
        Assert.Equal(1, Service.NewsListeners);
        Service.EmitNews(News, new Notice("news", 2, null));
        Assert.Single(first);
        Assert.Single(second);
    }

    [Fact]
    public async Task Awaited_subscribe_fails_with_the_real_error_and_leaves_nothing_subscribed()
    {
        var error = await Assert.ThrowsAsync<ClusterRemoteException>(async () => await Proxy.Follow(AttachConformanceService.RefusedTopic, _ => { }));
        Assert.Equal(typeof(InvalidOperationException).FullName, error.RemoteType);
        Assert.Contains("closed", error.RemoteMessage);
        Assert.Equal(0, Invoker.ActiveSubscriptions);
        Assert.Equal(0, Service.Followers);
    }

    [Fact]
    public async Task Awaited_valuetask_subscribe_without_token_attaches()
    {
        var received = new List<int>();
        await Proxy.Follow("jobs", received.Add);
        Service.EmitFollow(7);
        Assert.Equal([7], received);
    }

    [Fact]
    public async Task Cancelled_awaited_subscribe_throws_and_removes_the_listener()
    {
        Service.NewsGate = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        using var cancel = new CancellationTokenSource();
        var subscribed = Proxy.SubscribeNews(News, _ => { }, cancel.Token);
        cancel.Cancel();
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => subscribed);
        Assert.Equal(0, Invoker.ActiveSubscriptions);
    }

    [Fact]
    public async Task Awaited_stream_is_handed_out_once_attached_and_yields_the_real_values()
    {
        var stream = await Proxy.SubscribeFeed(News, CancellationToken.None);
        Assert.Equal(1, Service.FeedsStarted);
        var values = new List<long>();
        await foreach (var notice in stream) values.Add(notice.Sequence);
        Assert.Equal([1L, 2L, 3L], values);
    }

    [Fact]
    public async Task Awaited_valuetask_stream_yields_the_real_values()
    {
        var stream = await Proxy.WatchCounter(10, CancellationToken.None);
        var values = new List<int>();
        await foreach (var value in stream) values.Add(value);
        Assert.Equal([10, 11, 12], values);
    }

    [Fact]
    public async Task A_subscribe_named_call_of_another_shape_is_an_ordinary_invoke()
    {
        Assert.Equal(42, await Proxy.SubscribeCountAsync(21));
    }

    [Fact]
    public async Task Last_value_publications_reach_the_real_client_with_key_and_value()
    {
        Proxy.PublishState(new Notice("state", 1, "a"));
        Proxy.PublishPrice("ACME", 12.5);
        await Invoker.DrainAsync();
        Assert.Equal(new Notice("state", 1, "a"), Assert.Single(Service.States));
        Assert.Equal(("ACME", 12.5), Assert.Single(Service.Prices));
        Assert.Empty(Invoker.BackgroundErrors);
    }
}

/// <summary>The awaitable/last-value suite over the generated contract.</summary>
public sealed class GeneratedAttachConformanceTests : AttachConformanceTests
{
    protected override ClusterContract<IAttachConformance> CreateContract() => ContractResolver.Resolve<IAttachConformance>(ProxyGenerationMode.AlwaysGenerated);

    [Fact]
    public void Generated_and_dynamic_contracts_agree_on_every_member()
    {
        Assert.IsNotType<DynamicClusterContract<IAttachConformance>>(Contract);
        var dynamic = new DynamicClusterContract<IAttachConformance>();
        Assert.Equal(
            Contract.Methods.Select(m => (m.Id, m.Name, m.Signature, m.Kind, m.PairedId, m.Awaitable, m.LastValue)),
            dynamic.Methods.Select(m => (m.Id, m.Name, m.Signature, m.Kind, m.PairedId, m.Awaitable, m.LastValue)));
        Assert.Equal(Contract.Fingerprint, dynamic.Fingerprint);
    }
}

/// <summary>The awaitable/last-value suite over the Castle.Core fallback.</summary>
public sealed class DynamicAttachConformanceTests : AttachConformanceTests
{
    protected override ClusterContract<IAttachConformance> CreateContract() => new DynamicClusterContract<IAttachConformance>();
}
