using System.Net;
using System.Net.Sockets;
using ClusterSharing.Generators.Tests.Support;
using ClusterSharing.Proxies;
using ClusterSharing.Proxies.Dynamic;

namespace ClusterSharing.Generators.Tests.Conformance;

/// <summary>Member rules checked on both paths, each over the generated and the dynamic contract of the same interface.</summary>
public sealed class MemberRuleTests
{
    public static TheoryData<ProxyGenerationMode> Paths => new() { ProxyGenerationMode.AlwaysGenerated, ProxyGenerationMode.AlwaysDynamic };

    private static ClusterContract<T> Contract<T>(ProxyGenerationMode path) where T : class
    {
        var contract = ContractResolver.Resolve<T>(path);
        Assert.Equal(path == ProxyGenerationMode.AlwaysDynamic, contract is DynamicClusterContract<T>);
        return contract;
    }

    private static string Describe(ClusterMethod m) => $"{m.Name} | {m.Signature} | 0x{m.Id:x8} | {m.Kind}";

    private static int FreePort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }

    [Fact]
    public void Both_paths_list_the_same_members_for_disposable_contracts()
    {
        Assert.Equal(Contract<IDisposableContract>(ProxyGenerationMode.AlwaysGenerated).Methods.Select(Describe),
            Contract<IDisposableContract>(ProxyGenerationMode.AlwaysDynamic).Methods.Select(Describe));
        Assert.Equal(Contract<IInheritedDisposalContract>(ProxyGenerationMode.AlwaysGenerated).Methods.Select(Describe),
            Contract<IInheritedDisposalContract>(ProxyGenerationMode.AlwaysDynamic).Methods.Select(Describe));
    }

    [Theory]
    [MemberData(nameof(Paths))]
    public void Dispose_declared_or_inherited_is_a_close_member(ProxyGenerationMode path)
    {
        var declared = Assert.Single(Contract<IDisposableContract>(path).Methods, m => m.Name == "Dispose");
        Assert.Equal(ClusterMethodKind.Close, declared.Kind);
        Assert.Equal("void Dispose()", declared.Signature);
        var inherited = Contract<IInheritedDisposalContract>(path).Methods;
        Assert.Equal(ClusterMethodKind.Close, Assert.Single(inherited, m => m.Name == "Dispose").Kind);
        Assert.Equal(ClusterMethodKind.Close, Assert.Single(inherited, m => m.Name == "DisposeAsync").Kind);
        Assert.DoesNotContain(inherited, m => m.Kind == ClusterMethodKind.Oneway);
    }

    [Theory]
    [MemberData(nameof(Paths))]
    public async Task Disposing_a_proxy_goes_through_the_invokers_close(ProxyGenerationMode path)
    {
        var service = new DisposalService();
        var contract = Contract<IInheritedDisposalContract>(path);
        // The loopback invoker refuses a Close member sent through any other invoker member, and dispatches a close onto the target.
        Assert.All(contract.Methods.Where(m => m.Name.StartsWith("Dispose", StringComparison.Ordinal)), m => Assert.Equal(ClusterMethodKind.Close, m.Kind));
        var invoker = new LoopbackInvoker<IInheritedDisposalContract>(contract, service);
        var proxy = contract.CreateProxy(invoker);
        Assert.Equal("disposal", await proxy.NameAsync());
        proxy.Dispose();
        await proxy.DisposeAsync();
        Assert.Equal(["NameAsync", "Dispose", "DisposeAsync"], invoker.Payloads.Where(p => p.Kind == LoopbackPayloadKind.Arguments).Select(p => p.MethodName));
        Assert.Equal((1, 1), (service.Disposed, service.DisposedAsync));
        Assert.Empty(invoker.BackgroundErrors);
    }

    [Theory]
    [MemberData(nameof(Paths))]
    public async Task Disposing_one_handles_proxy_leaves_the_shared_real_client_alone(ProxyGenerationMode path)
    {
        var service = new DisposalService();
        int port = FreePort();
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(60));
        void Configure(ClusterClientOptions o)
        {
            o.Port = port;
            o.Role = ClusterRole.Leader;
            o.ProxyGeneration = path;
        }
        var first = await ClusterClient.Create<IDisposableContract>(() => service, Configure).ReadyAsync(timeout.Token);
        var second = await ClusterClient.Create<IDisposableContract>(() => service, Configure).ReadyAsync(timeout.Token);
        try
        {
            first.Client.Dispose();
            // Closing one handle is not disposing the client every handle shares.
            Assert.Equal(0, service.Disposed + service.DisposedAsync);
            Assert.Equal(0, await second.Client.GetAsync());
        }
        finally
        {
            await second.DisposeAsync();
            await first.DisposeAsync();
        }
        // The last handle of the leading process disposes the real client, once.
        Assert.Equal(1, service.Disposed + service.DisposedAsync);
    }

    [Theory]
    [MemberData(nameof(Paths))]
    public void Own_members_come_first_then_base_interfaces_by_canonical_name(ProxyGenerationMode path) =>
        Assert.Equal(["OwnAsync", "AlphaAsync", "AlphaChanged", "OmegaAsync", "ZetaAsync", "ZetaFire"],
            Contract<ITwoBasesContract>(path).Methods.Select(m => m.Name));

    [Fact]
    public void Both_paths_list_the_same_members_for_a_contract_with_two_bases() =>
        Assert.Equal(Contract<ITwoBasesContract>(ProxyGenerationMode.AlwaysGenerated).Methods.Select(Describe),
            Contract<ITwoBasesContract>(ProxyGenerationMode.AlwaysDynamic).Methods.Select(Describe));

    [Theory]
    [InlineData(ProxyGenerationMode.AlwaysGenerated, ProxyGenerationMode.AlwaysDynamic)]
    [InlineData(ProxyGenerationMode.AlwaysDynamic, ProxyGenerationMode.AlwaysGenerated)]
    public async Task A_proxy_of_one_path_drives_the_dispatch_of_the_other_through_every_base(ProxyGenerationMode proxyPath, ProxyGenerationMode dispatchPath)
    {
        var service = new TwoBasesService();
        var invoker = new LoopbackInvoker<ITwoBasesContract>(Contract<ITwoBasesContract>(dispatchPath), service);
        var proxy = Contract<ITwoBasesContract>(proxyPath).CreateProxy(invoker);
        Assert.Equal(1, await proxy.OwnAsync());
        Assert.Equal("a!", await proxy.AlphaAsync("a"));
        await proxy.OmegaAsync();
        Assert.Equal(42, await proxy.ZetaAsync(21));
        proxy.ZetaFire(7);
        await invoker.DrainAsync();
        int changed = 0;
        EventHandler<int> handler = (_, value) => changed = value;
        proxy.AlphaChanged += handler;
        service.RaiseAlphaChanged(5);
        proxy.AlphaChanged -= handler;
        Assert.Equal(5, changed);
        lock (service.Calls) Assert.Equal(["OwnAsync", "AlphaAsync", "OmegaAsync", "ZetaAsync", "ZetaFire:7"], service.Calls);
        Assert.Empty(invoker.BackgroundErrors);
    }
}
