using System.Buffers;
using ClusterSharing.Generators.Tests.Generator.Contracts;
using ClusterSharing.Generators.Tests.Support;
using ClusterSharing.Proxies;
using ClusterSharing.Serialization;
using MessagePack;
using MessagePack.Formatters;

namespace ClusterSharing.Generators.Tests.Generator;

/// <summary>
/// The contract the build generated for <see cref="IShopClient"/>, driven through a byte round trip
/// (proxy -> argument bytes -> DispatchAsync on the real client -> result bytes -> proxy).
/// </summary>
public sealed class GeneratedRoundTripTests
{
    private static readonly TimeSpan Patience = TimeSpan.FromSeconds(30);

    private static ClusterContract<IShopClient> Contract =>
        ClusterContractRegistry.TryGetGenerated<IShopClient>() ?? throw new InvalidOperationException("The module initializer did not register IShopClient.");

    private static (IShopClient Proxy, ShopClient Real, LoopbackInvoker<IShopClient> Invoker) Create()
    {
        var real = new ShopClient();
        var invoker = new LoopbackInvoker<IShopClient>(Contract, real);
        return (Contract.CreateProxy(invoker), real, invoker);
    }

    [Fact]
    public void Module_initializer_registers_the_contract_with_its_channel_name_and_every_member()
    {
        var contract = Contract;
        Assert.Equal("shop", contract.Name);
        Assert.Equal(16, contract.Methods.Count);
        Assert.Equal(contract.Methods.Count, contract.Methods.Select(m => m.Id).Distinct().Count());
        var byName = contract.Methods.ToLookup(m => m.Name);
        Assert.Equal(2, byName["AddAsync"].Count());
        Assert.Equal(ClusterMethodKind.Oneway, byName["Report"].Single().Kind);
        Assert.Equal(ClusterMethodKind.Oneway, byName["Log"].Single().Kind);
        Assert.Equal(ClusterMethodKind.Subscribe, byName["WatchOrders"].Single().Kind);
        Assert.False(byName["WatchOrders"].Single().Broadcast);
        Assert.Equal(ClusterMethodKind.Publish, byName["Publish"].Single().Kind);
        Assert.Equal(ClusterMethodKind.Event, byName["OrderShipped"].Single().Kind);
        Assert.Equal(ClusterMethodKind.Close, byName["DisposeAsync"].Single().Kind);
        var echo = byName["EchoAsync"].Single();
        Assert.True(echo.Idempotent);
        Assert.Equal(2500, echo.TimeoutMilliseconds);
        Assert.Equal(byName["Subscribe"].Single().Id, byName["Unsubscribe"].Single().PairedId);
    }

    [Fact]
    public async Task Invoke_round_trips_every_primitive_and_both_overloads()
    {
        var (proxy, _, _) = Create();
        Assert.Equal(5, await proxy.AddAsync(2, 3));
        Assert.Equal(6, await proxy.AddAsync(1, 2, 3));
        string? echoed = await proxy.EchoAsync("hi", 'Ω', true, 1.5, 2.25f, long.MinValue, ulong.MaxValue, short.MinValue, ushort.MaxValue, sbyte.MinValue, byte.MaxValue, uint.MaxValue);
        Assert.Equal(string.Join("|", "hi", 'Ω', true, 1.5, 2.25f, long.MinValue, ulong.MaxValue, short.MinValue, ushort.MaxValue, sbyte.MinValue, byte.MaxValue, uint.MaxValue), echoed);
        Assert.Null(await proxy.EchoAsync(null, 'a', false, 0, 0, 0, 0, 0, 0, 0, 0, 0));
    }

    [Fact]
    public async Task Invoke_round_trips_records_classes_structs_enums_dates_guids_collections_and_null()
    {
        var (proxy, _, _) = Create();
        var order = await proxy.GetOrderAsync(7);
        AssertOrder(ShopClient.SampleOrder(7), order);
        Assert.Null(await proxy.GetOrderAsync(0));

        var filter = new Dictionary<string, List<int>> { ["ids"] = [3, 4] };
        var orders = await proxy.ListOrdersAsync(OrderState.Shipped, filter);
        Assert.Equal([3, 4], orders.Select(o => o.Id));
        Assert.Empty(await proxy.ListOrdersAsync(OrderState.New, filter));
        Assert.Equal(2, (await proxy.ListOrdersAsync(null, filter)).Length);
    }

    private static void AssertOrder(Order expected, Order? actual)
    {
        Assert.NotNull(actual);
        Assert.Equal(expected.Id, actual.Id);
        Assert.Equal(expected.Customer!.Name, actual.Customer!.Name);
        Assert.Equal(expected.Customer.Address, actual.Customer.Address);
        Assert.Equal(expected.Customer.Tags, actual.Customer.Tags);
        Assert.Equal(expected.Lines, actual.Lines);
        Assert.Equal(expected.State, actual.State);
        Assert.Equal(expected.CreatedAt, actual.CreatedAt);
        Assert.Equal(expected.ShippedAt, actual.ShippedAt);
        Assert.Equal(expected.ShippedAt!.Value.Offset, actual.ShippedAt!.Value.Offset);
        Assert.Equal(expected.Counters, actual.Counters);
        Assert.Equal(expected.Token, actual.Token);
        Assert.Equal(expected.Age, actual.Age);
        Assert.Equal(expected.Blob, actual.Blob);
    }

    [Fact]
    public async Task Recursive_types_round_trip_and_a_cycle_fails_with_a_serialization_error()
    {
        var (proxy, _, _) = Create();
        var leaf = new TreeNode { Name = "leaf" };
        var root = new TreeNode { Name = "root", Children = [leaf, new TreeNode { Name = "other" }] };
        var echoed = await proxy.EchoTreeAsync(root);
        Assert.Equal("root", echoed.Name);
        Assert.Equal(["leaf", "other"], echoed.Children.Select(c => c.Name));
        Assert.Null(echoed.Parent);

        leaf.Parent = root;
        var error = await Assert.ThrowsAsync<MessagePackSerializationException>(async () => await proxy.EchoTreeAsync(root));
        Assert.Contains("cycle", error.Message);
    }

    [Fact]
    public async Task Void_invokes_complete_and_pass_the_cancellation_token_to_the_leader_call()
    {
        var (proxy, real, _) = Create();
        await proxy.PingAsync();
        using var cts = new CancellationTokenSource();
        await proxy.ResetAsync(cts.Token);
        Assert.Equal(["ping", "reset"], real.Calls);
    }

    [Fact]
    public async Task A_failing_real_call_surfaces_as_a_remote_exception_with_its_type_and_message()
    {
        var (proxy, _, _) = Create();
        var error = await Assert.ThrowsAsync<ClusterRemoteException>(() => proxy.GetOrderAsync(-1));
        Assert.Equal(typeof(InvalidOperationException).FullName, error.RemoteType);
        Assert.Equal("Order -1 is invalid.", error.RemoteMessage);
    }

    [Fact]
    public async Task Oneway_and_publish_reach_the_real_client()
    {
        var (proxy, real, invoker) = Create();
        proxy.Report("cpu", 0.5);
        proxy.Log("hello");
        proxy.Publish(new ServiceQuery("self", 3));
        await invoker.DrainAsync();
        Assert.Equal(["report cpu=0.5", "log hello", "publish self"], real.Calls);
        Assert.Equal(new ServiceQuery("self", 3), real.LastQuery);
        Assert.Empty(invoker.BackgroundErrors);
    }

    [Fact]
    public void Listener_subscription_delivers_values_and_unsubscribe_passes_the_leader_listener_back()
    {
        var (proxy, real, invoker) = Create();
        var received = new List<string[]>();
        Action<string[]> listener = received.Add;
        var query = new ServiceQuery("registry", null);
        proxy.Subscribe(query, listener);
        Assert.Equal(query, real.LastQuery);
        var leaderListener = real.Listener;
        Assert.NotNull(leaderListener);

        leaderListener(["a:1", "b:2"]);
        Assert.Equal([["a:1", "b:2"]], received);

        proxy.Unsubscribe(query, listener);
        Assert.Same(leaderListener, real.RemovedListener);
        Assert.Null(real.Listener);
        Assert.Equal(1, invoker.RealUnsubscribes);
    }

    [Fact]
    public async Task Stream_subscription_yields_every_value_and_completes_with_the_real_stream()
    {
        var (proxy, _, _) = Create();
        var ids = new List<int>();
        using var cts = new CancellationTokenSource(Patience);
        await foreach (var order in proxy.WatchOrders(OrderState.Shipped, cts.Token)) ids.Add(order.Id);
        Assert.Equal([1, 2], ids);
    }

    [Fact]
    public async Task Leaving_a_stream_early_cancels_the_real_stream()
    {
        var (proxy, real, invoker) = Create();
        using var cts = new CancellationTokenSource(Patience);
        await foreach (var order in proxy.WatchOrders(OrderState.New, cts.Token))
        {
            if (order.Id == 2) break;
        }
        Assert.Equal((1, 0), (invoker.RealUnsubscribes, invoker.NothingUndone));
        await real.StreamCanceled.Task.WaitAsync(Patience);
    }

    [Fact]
    public void Event_handlers_receive_values_with_the_proxy_as_sender_and_are_removed_from_the_real_client()
    {
        var (proxy, real, _) = Create();
        var received = new List<(object? Sender, Order Order)>();
        EventHandler<Order> handler = (sender, order) => received.Add((sender, order));
        proxy.OrderShipped += handler;
        Assert.True(real.HasShippedHandlers);
        real.RaiseShipped(ShopClient.SampleOrder(9));
        var (sender, order) = Assert.Single(received);
        Assert.Same(proxy, sender);
        AssertOrder(ShopClient.SampleOrder(9), order);

        proxy.OrderShipped -= handler;
        Assert.False(real.HasShippedHandlers);
    }

    [Fact]
    public async Task DisposeAsync_is_the_close_member()
    {
        var (proxy, real, _) = Create();
        await proxy.DisposeAsync();
        Assert.True(real.Disposed);
    }

    [Fact]
    public async Task Arguments_are_an_array_in_declaration_order_without_the_cancellation_token()
    {
        var (proxy, _, invoker) = Create();
        await proxy.AddAsync(2, 3, CancellationToken.None);
        var args = invoker.Payloads.First(p => p.Kind == LoopbackPayloadKind.Arguments);
        Assert.Equal(new byte[] { 0x92, 0x02, 0x03 }, args.Bytes);
        var result = invoker.Payloads.First(p => p.Kind == LoopbackPayloadKind.Result);
        Assert.Equal(new byte[] { 0x05 }, result.Bytes);
    }

    [Fact]
    public void Registration_is_the_value_alone_as_a_map_keyed_by_property_name()
    {
        var (proxy, _, invoker) = Create();
        proxy.Subscribe(new ServiceQuery("s", null), _ => { });
        var registration = invoker.Payloads.Single(p => p.Kind == LoopbackPayloadKind.Registration);
        byte[] expected = [0x82, 0xa7, .. "Service"u8, 0xa1, (byte)'s', 0xa7, .. "Version"u8, 0xc0];
        Assert.Equal(expected, registration.Bytes);
    }

    [Fact]
    public async Task Leader_process_calls_the_real_client_directly_with_the_same_token()
    {
        var real = new ShopClient();
        var proxy = Contract.CreateProxy(new LocalTargetInvoker<IShopClient>(real));
        using var cts = new CancellationTokenSource();
        Assert.Equal(7, await proxy.AddAsync(3, 4, cts.Token));
        Assert.Equal(cts.Token, real.LastToken);
        proxy.Log("direct");
        Assert.Equal(["log direct"], real.Calls);
        var order = await proxy.GetOrderAsync(1);
        Assert.Same(order!.Customer!.Tags, order.Customer.Tags);
    }

    [Fact]
    public void Dispatch_of_an_unknown_method_id_throws_a_clear_error()
    {
        var stranger = new ClusterMethod(0xdeadbeef, "Missing", "void Missing()", ClusterMethodKind.Invoke);
        var error = Assert.Throws<ClusterClientException>(() => Dispatch(stranger, [0x90]));
        Assert.Contains("0xdeadbeef", error.Message);
        Assert.Contains("Missing", error.Message);
    }

    [Fact]
    public void Dispatch_rejects_a_wrong_argument_count()
    {
        var add = Contract.Methods.First(m => m.Signature.EndsWith("AddAsync(System.Int32,System.Int32)", StringComparison.Ordinal));
        var error = Assert.Throws<MessagePackSerializationException>(() => Dispatch(add, [0x91, 0x01]));
        Assert.Contains("AddAsync takes 2 argument(s)", error.Message);
    }

    [Fact]
    public async Task Object_reader_skips_unknown_keys_and_defaults_missing_ones()
    {
        var publish = Contract.Methods.Single(m => m.Name == "Publish");
        var real = new ShopClient();
        // [{"Extra": [1, {"x": 2}], "Service": "svc"}]: unknown member skipped whole, Version missing.
        byte[] args = [0x91, 0x82, 0xa5, .. "Extra"u8, 0x92, 0x01, 0x81, 0xa1, (byte)'x', 0x02, 0xa7, .. "Service"u8, 0xa3, .. "svc"u8];
        await DispatchFullyRead(real, publish, args);
        Assert.Equal(new ServiceQuery("svc", null), real.LastQuery);
    }

    [Fact]
    public async Task A_missing_key_keeps_the_property_initializer_of_a_settable_property()
    {
        var echo = Contract.Methods.Single(m => m.Name == "EchoTreeAsync");
        var reply = new CapturingReply();
        // [{"Name": "x"}]: Parent and Children are missing.
        await DispatchFullyRead(new ShopClient(), echo, [0x91, 0x81, 0xa4, .. "Name"u8, 0xa1, (byte)'x'], reply);
        var node = Assert.IsType<TreeNode>(reply.Value);
        Assert.Equal("x", node.Name);
        Assert.Null(node.Parent);
        Assert.NotNull(node.Children);
        Assert.Empty(node.Children);
    }

    private sealed class CapturingReply : IReplyWriter
    {
        public object? Value { get; private set; }
        public void WriteResult<TResult>(TResult value, IMessagePackFormatter<TResult> formatter, MessagePackSerializerOptions options) => Value = value;
        public void WriteVoid() { }
    }

    private static ValueTask DispatchFullyRead(ShopClient real, ClusterMethod method, byte[] arguments, IReplyWriter? reply = null)
    {
        var reader = Wire.Reader(arguments);
        var task = Contract.DispatchAsync(real, method, ref reader, Wire.Options(Contract), reply ?? new NoReply(), CancellationToken.None);
        Assert.True(reader.End);
        return task;
    }

    private static void Dispatch(ClusterMethod method, byte[] arguments)
    {
        var reader = Wire.Reader(arguments);
        _ = Contract.DispatchAsync(new ShopClient(), method, ref reader, Wire.Options(Contract), new NoReply(), CancellationToken.None);
    }

    private sealed class NoReply : IReplyWriter
    {
        public void WriteResult<TResult>(TResult value, IMessagePackFormatter<TResult> formatter, MessagePackSerializerOptions options) { }
        public void WriteVoid() { }
    }
}
