using ClusterSharing.Generators.Tests.Support;
using ClusterSharing.Proxies;
using ClusterSharing.Proxies.Dynamic;

namespace ClusterSharing.Generators.Tests.Conformance;

/// <summary>Generated code and the dynamic fallback must be interchangeable on the wire: same methods, same ids, same bytes.</summary>
public sealed class GeneratedAndDynamicEquivalenceTests
{
    private static ClusterContract<IConformance> Generated => ContractResolver.Resolve<IConformance>(ProxyGenerationMode.AlwaysGenerated);

    private static ClusterContract<IConformance> Dynamic() => new DynamicClusterContract<IConformance>();

    private static string Describe(ClusterMethod m) =>
        $"{m.Name} | {m.Signature} | 0x{m.Id:x8} | {m.Kind} | timeout {m.TimeoutMilliseconds} | idempotent {m.Idempotent} | broadcast {m.Broadcast} | paired 0x{m.PairedId:x8}";

    [Fact]
    public void Both_contracts_expose_identical_methods()
    {
        var generated = Generated;
        var dynamic = Dynamic();
        Assert.IsNotType<DynamicClusterContract<IConformance>>(generated);
        Assert.Equal(generated.Name, dynamic.Name);
        Assert.Equal(generated.Methods.Select(Describe), dynamic.Methods.Select(Describe));
    }

    [Fact]
    public void Generated_ids_are_the_hash_of_the_dynamic_signatures()
    {
        var dynamicSignatures = Dynamic().Methods.ToDictionary(m => m.Name + "#" + m.Signature, m => m.Signature);
        foreach (var method in Generated.Methods)
        {
            Assert.Equal(ClusterMethodId.Compute(dynamicSignatures[method.Name + "#" + method.Signature]), method.Id);
        }
    }

    [Fact]
    public async Task The_same_calls_produce_byte_identical_payloads()
    {
        var generated = await RecordAsync(Generated, Generated);
        var dynamic = await RecordAsync(Dynamic(), Dynamic());
        Assert.Equal(generated.Keys.Order(), dynamic.Keys.Order());
        foreach (var (key, bytes) in generated)
        {
            Assert.True(bytes.SequenceEqual(dynamic[key]), $"{key}: generated {string.Join(" ", bytes)} vs dynamic {string.Join(" ", dynamic[key])}");
        }
    }

    [Fact]
    public async Task Generated_proxy_talks_to_dynamic_dispatch()
    {
        var results = await RecordAsync(proxyContract: Generated, dispatchContract: Dynamic());
        Assert.NotEmpty(results);
    }

    [Fact]
    public async Task Dynamic_proxy_talks_to_generated_dispatch()
    {
        var results = await RecordAsync(proxyContract: Dynamic(), dispatchContract: Generated);
        Assert.NotEmpty(results);
    }

    /// <summary>Runs one fixed scenario and returns every payload, grouped per (method, kind) in call order, as hex.</summary>
    private static async Task<Dictionary<string, string[]>> RecordAsync(ClusterContract<IConformance> proxyContract, ClusterContract<IConformance> dispatchContract)
    {
        var service = new ConformanceService();
        var invoker = new LoopbackInvoker<IConformance>(dispatchContract, service);
        var proxy = proxyContract.CreateProxy(invoker);

        await proxy.PingAsync();
        Assert.Equal(7, await proxy.AddAsync(3, 4));
        Assert.Equal(long.MaxValue, await proxy.AddAsync(long.MaxValue - 1, 1L));
        Assert.Equal("ü", await proxy.EchoAsync("ü", CancellationToken.None));
        Assert.Null(await proxy.EchoAsync(null));
        var primitives = new Primitives(true, 200, -100, -30000, 60000, -70000, 4000000000, long.MinValue, ulong.MaxValue, 1.5f, Math.PI, 'x');
        Assert.Equal(primitives, await proxy.EchoPrimitivesAsync(primitives));
        await proxy.ResetAsync(CancellationToken.None);
        var temporal = new Temporal(new DateTime(2001, 2, 3, 4, 5, 6, DateTimeKind.Utc).AddTicks(7), new DateTimeOffset(2001, 2, 3, 4, 5, 6, TimeSpan.FromHours(-8)),
            TimeSpan.FromMilliseconds(-1.5), Guid.Parse("0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0"));
        Assert.Equal(temporal, await proxy.EchoTemporalAsync(temporal));
        Assert.Equal(new byte[] { 9, 8, 7 }, await proxy.EchoBytesAsync([9, 8, 7]));
        await proxy.EchoEnumsAsync(Color.Green, Permissions.Read | Permissions.Write, Extreme.Max, Wide.Top);
        await proxy.EchoOptionalsAsync(5, Guid.Empty, new DateTime(2020, 1, 1, 0, 0, 0, DateTimeKind.Utc), null, new Point { X = 1, Y = 2 });
        var order = ProxyConformanceTests.SampleOrder();
        Structural.Equal(order, await proxy.EchoOrderAsync(order));
        var priority = new PriorityOrder(order.Id, null, order.Lines, order.Tags, Color.Blue, -1);
        Structural.Equal(priority, await proxy.EchoPriorityOrderAsync(priority));
        var settings = new Settings { Name = "s", Values = [1, 2], Map = new() { ["k"] = null }, Numbers = [3], Blob = [4], Labels = ["x"],
            ByLine = new Dictionary<int, Line> { [5] = new("l", 1, 2.5) }, Stream = [6L], Permissions = Permissions.Admin };
        Structural.Equal(settings, await proxy.EchoSettingsAsync(settings));
        Assert.Null(await proxy.EchoSettingsAsync(null));
        var account = new Account("o", new Money(-5, 99)) { Note = null };
        Structural.Equal(account, await proxy.EchoAccountAsync(account));
        await proxy.EchoPointAsync(new Point { X = 3, Y = 4 });
        Assert.Equal(new Size(0.1, -0.0), await proxy.EchoSizeAsync(new Size(0.1, -0.0)));
        var chain = new LinkedNode(1, new LinkedNode(2, null));
        Assert.Equal(chain, await proxy.EchoChainAsync(chain));
        var tree = new TreeNode { Name = "r", Children = [new() { Name = "c" }] };
        Structural.Equal(tree, await proxy.EchoTreeAsync(tree));
        Structural.Equal(new Outer.Inner("i", [1]), await proxy.EchoInnerAsync(new Outer.Inner("i", [1])));
        Assert.Equal(new[] { 2, 1 }, await proxy.ReverseAsync([1, 2]));
        Assert.Equal(new string?[] { null, "a" }, await proxy.SortAsync(["a", null]));
        await proxy.EchoLinesAsync([new Line("a", 1, null)]);
        await proxy.EchoCountsAsync(new Dictionary<string, int> { ["a"] = 1, ["b"] = -1 });
        await proxy.EchoNamesAsync(new Dictionary<int, string?> { [1] = "one", [2] = null });
        var failure = await Assert.ThrowsAsync<ClusterRemoteException>(() => proxy.FailAsync("no"));
        Assert.Equal("no", failure.RemoteMessage);
        Assert.Equal(42, await proxy.GetVersionAsync());
        proxy.Record("r");
        proxy.Log(1, "l");
        proxy.Publish(new Notice("p", 1, "x"));
        proxy.Announce("a");
        await invoker.DrainAsync();
        Assert.Equal(["r", "1:l"], service.Recorded.Take(2));

        var query = new Query("q", 2);
        var received = new List<Notice>();
        Action<Notice> listener = received.Add;
        proxy.Subscribe(query, listener);
        service.Emit(query, new Notice("q", 1, "v"));
        proxy.Unsubscribe(query, listener);
        Assert.Single(received);
        var work = new List<int>();
        proxy.SubscribeWork("w", work.Add);
        service.EmitWork("w", 11);
        proxy.UnsubscribeWork("w", null);
        Assert.Equal([11], work);
        var counted = new List<int>();
        await foreach (var value in proxy.SubscribeCounter(100, CancellationToken.None)) counted.Add(value);
        Assert.Equal([100, 101, 102], counted);
        string? renamed = null;
        EventHandler<string> onRenamed = (_, name) => renamed = name;
        proxy.Renamed += onRenamed;
        service.RaiseRenamed("r2");
        proxy.Renamed -= onRenamed;
        Assert.Equal("r2", renamed);
        var ticks = new List<int>();
        await foreach (var tick in proxy.SubscribeTicks(2)) ticks.Add(tick);
        Assert.Equal([0, 1], ticks);
        proxy.Touch("t", CancellationToken.None);
        await invoker.DrainAsync();
        Assert.Equal(9, await proxy.AddThreeAsync(2, 3, 4));
        await proxy.CloseAsync(CancellationToken.None);
        Assert.True(service.ClosedWithToken);
        proxy.Disconnect();
        Assert.True(service.Disconnected);
        await proxy.ShutdownAsync();
        Assert.True(service.Closed);
        Assert.Empty(invoker.BackgroundErrors);
        Assert.Equal(0, invoker.ActiveSubscriptions);

        return invoker.Payloads
            .GroupBy(p => $"{p.MethodName} 0x{p.MethodId:x8} {p.Kind}")
            .ToDictionary(g => g.Key, g => g.Select(p => Convert.ToHexString(p.Bytes)).ToArray());
    }
}
