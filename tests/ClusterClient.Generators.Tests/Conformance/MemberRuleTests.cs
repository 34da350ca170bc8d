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
        // The loopback invoker refuses a Close member sent as a oneway, and dispatches a close onto the target.
        var invoker = new LoopbackInvoker<IInheritedDisposalContract>(Contract<IInheritedDisposalContract>(path), service);
        var proxy = Contract<IInheritedDisposalContract>(path).CreateProxy(invoker);
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
}
