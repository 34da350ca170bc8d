using ClusterSharing.Generators.Tests.Support;
using ClusterSharing.Proxies;

namespace ClusterSharing.Generators.Tests.Conformance;

/// <summary>
/// The behaviour every contract of <see cref="IConformance"/> must show, whichever way it was made. Each call goes through
/// <see cref="LoopbackInvoker{T}"/>, so arguments, results and pushed values really cross as bytes.
/// </summary>
public abstract class ProxyConformanceTests : ConformanceTestBase
{
    [Fact]
    public async Task Task_invoke_without_result_reaches_the_real_client()
    {
        await Proxy.PingAsync();
        await Proxy.PingAsync();
        Assert.Equal(2, Service.Pings);
    }

    [Fact]
    public async Task Overloads_reach_their_own_member()
    {
        Assert.Equal(5, await Proxy.AddAsync(2, 3));
        Assert.Equal((1L << 40) + 1, await Proxy.AddAsync(1L << 40, 1L));
        Assert.Equal(["AddAsync(int,int)", "AddAsync(long,long)"], Service.Calls);
        var overloads = Contract.Methods.Where(m => m.Name == "AddAsync").ToList();
        Assert.Equal(2, overloads.Count);
        Assert.NotEqual(overloads[0].Id, overloads[1].Id);
    }

    [Theory]
    [InlineData(null)]
    [InlineData("")]
    [InlineData("plain ascii")]
    [InlineData("héllo wörld, 日本語, emoji 🌍🚀, rtl שלום")]
    public async Task Strings_round_trip_including_null_and_unicode(string? text)
    {
        Assert.Equal(text, await Proxy.EchoAsync(text));
    }

    [Fact]
    public async Task Long_strings_round_trip()
    {
        string text = string.Concat(Enumerable.Repeat("0123456789abcdef€", 5000));
        Assert.Equal(text, await Proxy.EchoAsync(text));
    }

    [Fact]
    public async Task Cancellation_token_reaches_the_real_call()
    {
        using var cts = new CancellationTokenSource();
        await Proxy.EchoAsync("x", cts.Token);
        Assert.True(Service.LastTokenCouldCancel);
        await Proxy.ResetAsync(cts.Token);
        Assert.Contains("ResetAsync", Service.Calls);
    }

    [Fact]
    public async Task Canceling_the_caller_cancels_the_real_call()
    {
        using var cts = new CancellationTokenSource();
        var call = Proxy.WaitForCancellationAsync(cts.Token);
        await Service.WaitStarted.Task.WaitAsync(TimeSpan.FromSeconds(15));
        cts.Cancel();
        var error = await Assert.ThrowsAnyAsync<OperationCanceledException>(() => call).WaitAsync(TimeSpan.FromSeconds(15));
        Assert.Equal(cts.Token, error.CancellationToken);
    }

    [Fact]
    public async Task Primitives_round_trip_at_their_extremes()
    {
        var low = new Primitives(false, byte.MinValue, sbyte.MinValue, short.MinValue, ushort.MinValue, int.MinValue, uint.MinValue, long.MinValue,
            ulong.MinValue, float.MinValue, double.MinValue, char.MinValue);
        var high = new Primitives(true, byte.MaxValue, sbyte.MaxValue, short.MaxValue, ushort.MaxValue, int.MaxValue, uint.MaxValue, long.MaxValue,
            ulong.MaxValue, float.MaxValue, double.MaxValue, char.MaxValue);
        var odd = new Primitives(true, 127, -32, -33, 256, 65536, 4294967295, -2147483649, 18446744073709551615, float.NaN, double.NegativeInfinity, 'é');
        Assert.Equal(low, await Proxy.EchoPrimitivesAsync(low));
        Assert.Equal(high, await Proxy.EchoPrimitivesAsync(high));
        Assert.Equal(odd, await Proxy.EchoPrimitivesAsync(odd));
    }

    [Fact]
    public async Task Dates_times_and_guids_round_trip()
    {
        var value = new Temporal(
            new DateTime(2024, 2, 29, 23, 59, 58, DateTimeKind.Utc).AddTicks(1234567),
            new DateTimeOffset(1969, 7, 20, 20, 17, 40, TimeSpan.FromMinutes(330)).AddTicks(9),
            TimeSpan.FromTicks(-123456789012345),
            Guid.Parse("00112233-4455-6677-8899-aabbccddeeff"));
        var echoed = await Proxy.EchoTemporalAsync(value);
        Assert.Equal(value.When, echoed.When);
        Assert.Equal(DateTimeKind.Utc, echoed.When.Kind);
        Assert.Equal(value.At, echoed.At);
        Assert.Equal(value.At.Offset, echoed.At.Offset);
        Assert.Equal(value.Span, echoed.Span);
        Assert.Equal(value.Id, echoed.Id);
        var extremes = new Temporal(DateTime.SpecifyKind(DateTime.MinValue, DateTimeKind.Utc), DateTimeOffset.MaxValue, TimeSpan.MaxValue, Guid.Empty);
        Assert.Equal(extremes, await Proxy.EchoTemporalAsync(extremes));
    }

    [Fact]
    public async Task Byte_arrays_round_trip_as_binary()
    {
        Assert.Null(await Proxy.EchoBytesAsync(null));
        Assert.Equal(Array.Empty<byte>(), await Proxy.EchoBytesAsync([]));
        var data = Enumerable.Range(0, 70_000).Select(i => (byte)(i * 31)).ToArray();
        Assert.Equal(data, await Proxy.EchoBytesAsync(data));
        var encoded = Invoker.Payloads.Last(p => p.Kind == LoopbackPayloadKind.Arguments).Bytes;
        Assert.Equal(0xc6, encoded[1]); // bin32 right after the fixarray header
    }

    [Fact]
    public async Task Enums_round_trip_including_undefined_values()
    {
        var expected = new EnumBag(Color.Blue, Permissions.Read | Permissions.Admin, Extreme.Min, Wide.Top);
        Assert.Equal(expected, await Proxy.EchoEnumsAsync(Color.Blue, Permissions.Read | Permissions.Admin, Extreme.Min, Wide.Top));
        var undefined = new EnumBag((Color)999, (Permissions)255, Extreme.Max, Wide.Zero);
        Assert.Equal(undefined, await Proxy.EchoEnumsAsync((Color)999, (Permissions)255, Extreme.Max, Wide.Zero));
    }

    [Fact]
    public async Task Nullables_round_trip_as_nil_or_value()
    {
        var none = new Optionals(null, null, null, null, null);
        Assert.Equal(none, await Proxy.EchoOptionalsAsync(null, null, null, null, null));
        var when = new DateTime(2030, 1, 2, 3, 4, 5, DateTimeKind.Utc);
        var id = Guid.NewGuid();
        var some = await Proxy.EchoOptionalsAsync(0, id, when, Color.Green, new Point { X = -1, Y = 2 });
        Structural.Equal(new Optionals(0, id, when, Color.Green, new Point { X = -1, Y = 2 }), some);
    }

    [Fact]
    public async Task Records_with_constructor_parameters_round_trip()
    {
        var order = SampleOrder();
        var echoed = await Proxy.EchoOrderAsync(order);
        Assert.NotSame(order, echoed);
        Structural.Equal(order, echoed);
        var empty = new Order(Guid.Empty, null, [], new Dictionary<string, int>(), (Color)0);
        Structural.Equal(empty, await Proxy.EchoOrderAsync(empty));
    }

    [Fact]
    public async Task Derived_records_round_trip_with_base_members_first()
    {
        var order = SampleOrder();
        var priority = new PriorityOrder(order.Id, order.Customer, order.Lines, order.Tags, order.Color, 7);
        var echoed = await Proxy.EchoPriorityOrderAsync(priority);
        Structural.Equal(priority, echoed);
        var arguments = Invoker.Payloads.Last(p => p.Kind == LoopbackPayloadKind.Arguments).Bytes;
        // [ {Id: ...  : fixarray(1), fixmap(6), fixstr(2) "Id"
        Assert.Equal(new byte[] { 0x91, 0x86, 0xa2, (byte)'I', (byte)'d' }, arguments[..5]);
    }

    [Fact]
    public async Task Classes_with_setters_round_trip()
    {
        var settings = new Settings
        {
            Name = "primary",
            Values = [1, -1, int.MaxValue],
            Map = new() { ["a"] = "x", ["nil"] = null, ["ü"] = "ß" },
            Numbers = [],
            Blob = [0, 255],
            Labels = ["l1", "l2"],
            ByLine = new Dictionary<int, Line> { [1] = new("sku", 2, null) },
            Stream = [long.MinValue, 0, long.MaxValue],
            Permissions = Permissions.Write,
        };
        var echoed = await Proxy.EchoSettingsAsync(settings);
        Structural.Equal(settings, echoed);
        Assert.Null(await Proxy.EchoSettingsAsync(null));
        var sparse = new Settings();
        Structural.Equal(sparse, await Proxy.EchoSettingsAsync(sparse));
    }

    [Fact]
    public async Task Classes_mixing_constructor_and_setters_round_trip()
    {
        var account = new Account("ada", new Money(12, 34)) { Note = "vip" };
        Structural.Equal(account, await Proxy.EchoAccountAsync(account));
    }

    [Fact]
    public async Task Structs_round_trip()
    {
        var point = new Point { X = int.MinValue, Y = 7 };
        var echoedPoint = await Proxy.EchoPointAsync(point);
        Assert.Equal(point.X, echoedPoint.X);
        Assert.Equal(point.Y, echoedPoint.Y);
        Assert.Equal(new Size(1.5, double.Epsilon), await Proxy.EchoSizeAsync(new Size(1.5, double.Epsilon)));
    }

    [Fact]
    public async Task Recursive_and_nested_types_round_trip()
    {
        var chain = new LinkedNode(1, new LinkedNode(2, new LinkedNode(3, null)));
        Assert.Equal(chain, await Proxy.EchoChainAsync(chain));
        Assert.Null(await Proxy.EchoChainAsync(null));
        var tree = new TreeNode { Name = "root", Children = [new() { Name = "a" }, new() { Name = "b", Children = [new() { Name = "b1" }] }] };
        Structural.Equal(tree, await Proxy.EchoTreeAsync(tree));
        var inner = new Outer.Inner("nested", [3, 2, 1]);
        Structural.Equal(inner, await Proxy.EchoInnerAsync(inner));
    }

    [Fact]
    public async Task Collections_round_trip()
    {
        Assert.Equal(new[] { 3, 2, 1 }, await Proxy.ReverseAsync([1, 2, 3]));
        Assert.Empty(await Proxy.ReverseAsync([]));
        Assert.Equal(new string?[] { null, "a", "b" }, await Proxy.SortAsync(["b", null, "a"]));
        var lines = new[] { new Line("a", 1, 0.5), new Line("b", 2, null) };
        Structural.Equal<IReadOnlyList<Line>>(lines, await Proxy.EchoLinesAsync(lines));
        var counts = new Dictionary<string, int> { ["one"] = 1, ["two"] = 2, [""] = 0 };
        Assert.Equal(counts, await Proxy.EchoCountsAsync(counts));
        var names = new Dictionary<int, string?> { [int.MinValue] = null, [0] = "zero" };
        Assert.Equal(names, await Proxy.EchoNamesAsync(names));
    }

    [Fact]
    public async Task Remote_exceptions_keep_type_and_message()
    {
        var error = await Assert.ThrowsAsync<ClusterRemoteException>(() => Proxy.FailAsync("the leader says no"));
        Assert.Equal(typeof(InvalidOperationException).FullName, error.RemoteType);
        Assert.Equal("the leader says no", error.RemoteMessage);
        Assert.Contains(nameof(ConformanceService.FailAsync), error.RemoteStackTrace);
    }

    [Fact]
    public async Task Synchronous_remote_exceptions_fault_the_task_and_keep_their_code()
    {
        var pending = Proxy.FailSynchronouslyAsync("E42");
        var error = await Assert.ThrowsAsync<ClusterRemoteException>(() => pending);
        Assert.Equal(typeof(ArgumentException).FullName, error.RemoteType);
        Assert.StartsWith("Bad argument on the leader.", error.RemoteMessage);
        Assert.Equal("E42", error.Code);
    }

    [Fact]
    public async Task Idempotent_and_timeout_attributes_reach_the_method_metadata()
    {
        Assert.Equal(42, await Proxy.GetVersionAsync());
        var method = Method(nameof(IConformance.GetVersionAsync));
        Assert.True(method.Idempotent);
        Assert.Equal(2500, method.TimeoutMilliseconds);
        Assert.False(Method(nameof(IConformance.PingAsync)).Idempotent);
        Assert.Equal(0, Method(nameof(IConformance.PingAsync)).TimeoutMilliseconds);
    }

    [Fact]
    public async Task Oneway_members_reach_the_real_client()
    {
        Proxy.Record("first");
        Proxy.Log(3, "second");
        await Invoker.DrainAsync();
        Assert.Equal(["first", "3:second"], Service.Recorded);
        Assert.Equal(ClusterMethodKind.Oneway, Method(nameof(IConformance.Record)).Kind);
        Assert.Equal(ClusterMethodKind.Oneway, Method(nameof(IConformance.Log)).Kind);
    }

    [Fact]
    public async Task Oneway_failures_never_reach_the_caller()
    {
        Proxy.Log(-1, "rejected");
        await Invoker.DrainAsync();
        var error = Assert.IsType<ClusterRemoteException>(Assert.Single(Invoker.BackgroundErrors));
        Assert.Equal(typeof(ArgumentOutOfRangeException).FullName, error.RemoteType);
        Assert.Empty(Service.Recorded);
    }

    [Fact]
    public async Task Listener_subscription_fans_out_copies_and_shares_one_real_subscription()
    {
        var first = new List<Notice>();
        var second = new List<Notice>();
        Action<Notice> firstListener = first.Add;
        Action<Notice> secondListener = second.Add;
        Proxy.Subscribe(News, firstListener);
        Proxy.Subscribe(new Query("news", 1), secondListener);
        Assert.Equal(1, Service.ListenerCount);

        var notice = new Notice("news", 1, "héllo");
        Service.Emit(News, notice);
        Assert.Equal(notice, Assert.Single(first));
        Assert.Equal(notice, Assert.Single(second));
        Assert.NotSame(notice, first[0]);
        Assert.NotSame(first[0], second[0]);

        Proxy.Unsubscribe(News, firstListener);
        Assert.Equal(1, Service.ListenerCount);
        Service.Emit(News, notice with { Sequence = 2 });
        Assert.Single(first);
        Assert.Equal(2, second.Count);

        Proxy.Unsubscribe(News, secondListener);
        Assert.Equal(0, Service.ListenerCount);
        Assert.Equal(0, Invoker.ActiveSubscriptions);
        Assert.Equal(1, Invoker.RealUnsubscribes);
        await Task.CompletedTask;
    }

    [Fact]
    public void Unsubscribe_without_listener_removes_every_listener()
    {
        var received = new List<int>();
        Proxy.SubscribeWork("jobs", received.Add);
        Proxy.SubscribeWork("jobs", i => received.Add(-i));
        Service.EmitWork("jobs", 5);
        Assert.Equal([5, -5], received);
        Proxy.UnsubscribeWork("jobs", null);
        Assert.Equal(0, Service.WorkerCount);
        Service.EmitWork("jobs", 6);
        Assert.Equal(2, received.Count);
    }

    [Fact]
    public void Subscription_metadata_pairs_and_flags()
    {
        var subscribe = Method(nameof(IConformance.Subscribe));
        var unsubscribe = Method(nameof(IConformance.Unsubscribe));
        var work = Method(nameof(IConformance.SubscribeWork));
        var unwork = Method(nameof(IConformance.UnsubscribeWork));
        Assert.Equal(ClusterMethodKind.Subscribe, subscribe.Kind);
        Assert.Equal(ClusterMethodKind.Unsubscribe, unsubscribe.Kind);
        Assert.Equal(subscribe.Id, unsubscribe.PairedId);
        Assert.Equal(work.Id, unwork.PairedId);
        Assert.True(subscribe.Broadcast);
        Assert.False(work.Broadcast);
        Assert.Equal(ClusterMethodKind.Subscribe, Method(nameof(IConformance.WatchAsync)).Kind);
        Assert.Equal(ClusterMethodKind.Subscribe, Method(nameof(IConformance.SubscribeCounter)).Kind);
        Assert.Equal(ClusterMethodKind.Publish, Method(nameof(IConformance.Publish)).Kind);
        Assert.Equal(ClusterMethodKind.Publish, Method(nameof(IConformance.Announce)).Kind);
        Assert.Equal(ClusterMethodKind.Close, Method(nameof(IConformance.ShutdownAsync)).Kind);
        Assert.Equal(ClusterMethodKind.Event, Method(nameof(IConformance.Changed)).Kind);
        Assert.Equal("conformance", Contract.Name);
    }

    [Fact]
    public async Task Stream_subscription_yields_values_and_stops_the_real_stream_when_canceled()
    {
        using var cts = new CancellationTokenSource();
        var received = new List<Notice>();
        var reading = Task.Run(async () =>
        {
            try
            {
                await foreach (var notice in Proxy.WatchAsync(News, cts.Token))
                {
                    received.Add(notice);
                    if (received.Count == 2) cts.Cancel();
                }
            }
            catch (OperationCanceledException) when (cts.IsCancellationRequested)
            {
            }
        });
        await Eventually.TrueAsync(() => Service.StreamCount == 1, "the real stream is subscribed");
        Service.PushToStreams(new Notice("news", 1, "a"));
        Service.PushToStreams(new Notice("sports", 2, "filtered out by the real client"));
        Service.PushToStreams(new Notice("news", 3, null));
        await reading.WaitAsync(TimeSpan.FromSeconds(15));
        Assert.Equal([new Notice("news", 1, "a"), new Notice("news", 3, null)], received);
        await Eventually.TrueAsync(() => Service.StreamCount == 0, "the real stream is stopped");
        Assert.Equal(0, Invoker.ActiveSubscriptions);
    }

    [Fact]
    public async Task Finite_stream_completes()
    {
        var values = new List<int>();
        await foreach (var value in Proxy.SubscribeCounter(10, CancellationToken.None).WithCancellation(CancellationToken.None))
        {
            values.Add(value);
            Assert.True(values.Count <= 3);
        }
        Assert.Equal([10, 11, 12], values);
    }

    [Fact]
    public async Task Stream_failure_surfaces_as_remote_exception()
    {
        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(30));
        var reading = Task.Run(async () =>
        {
            await foreach (var _ in Proxy.WatchAsync(News, cts.Token))
            {
            }
        });
        await Eventually.TrueAsync(() => Service.StreamCount == 1, "the real stream is subscribed");
        Service.FailStreams(new TimeoutException("upstream went away"));
        var error = await Assert.ThrowsAsync<ClusterRemoteException>(() => reading.WaitAsync(TimeSpan.FromSeconds(15)));
        Assert.Equal(typeof(TimeoutException).FullName, error.RemoteType);
        Assert.Equal("upstream went away", error.RemoteMessage);
    }

    [Fact]
    public async Task Publications_reach_the_real_client()
    {
        Proxy.Publish(new Notice("self", 9, "endpoint"));
        Proxy.Announce("hello");
        await Invoker.DrainAsync();
        Assert.Equal(new Notice("self", 9, "endpoint"), Assert.Single(Service.Published));
        Assert.Equal("hello", Assert.Single(Service.Announced));
    }

    [Fact]
    public async Task Close_reaches_the_real_client()
    {
        await Proxy.ShutdownAsync();
        Assert.True(Service.Closed);
    }

    [Fact]
    public async Task Close_by_name_with_a_token_reaches_the_real_client()
    {
        await Proxy.CloseAsync(CancellationToken.None);
        Assert.True(Service.ClosedWithToken);
        Assert.Equal(ClusterMethodKind.Close, Method(nameof(IConformance.CloseAsync)).Kind);
        Assert.Equal("System.Threading.Tasks.ValueTask CloseAsync()", Method(nameof(IConformance.CloseAsync)).Signature);
    }

    [Fact]
    public void Synchronous_close_returns_after_the_real_close()
    {
        Proxy.Disconnect();
        Assert.True(Service.Disconnected);
        Assert.Equal(ClusterMethodKind.Close, Method(nameof(IConformance.Disconnect)).Kind);
    }

    [Fact]
    public async Task Oneway_with_a_token_leaves_the_token_off_the_wire()
    {
        Proxy.Touch("k", CancellationToken.None);
        await Invoker.DrainAsync();
        Assert.Equal(["touch:k"], Service.Recorded);
        Assert.Equal("void Touch(System.String)", Method(nameof(IConformance.Touch)).Signature);
    }

    [Fact]
    public async Task Stream_without_a_token_completes()
    {
        var values = new List<int>();
        await foreach (var value in Proxy.SubscribeTicks(3)) values.Add(value);
        Assert.Equal([0, 1, 2], values);
        Assert.Equal(ClusterMethodKind.Subscribe, Method(nameof(IConformance.SubscribeTicks)).Kind);
    }

    [Fact]
    public async Task Default_implementations_run_locally_over_forwarded_members()
    {
        Assert.Equal(6, await Proxy.AddThreeAsync(1, 2, 3));
        Assert.Equal(["AddAsync(int,int)", "AddAsync(int,int)"], Service.Calls);
        Assert.DoesNotContain(Contract.Methods, m => m.Name == nameof(IConformance.AddThreeAsync));
    }

    [Fact]
    public void Events_are_raised_with_the_proxy_as_sender()
    {
        var seen = new List<(object? Sender, Notice Value)>();
        EventHandler<Notice> handler = (sender, value) => seen.Add((sender, value));
        Proxy.Changed += handler;
        Assert.Equal(1, Service.ChangedHandlerCount);
        Service.RaiseChanged(new Notice("n", 1, "p"));
        var (sender, value) = Assert.Single(seen);
        Assert.Same(Proxy, sender);
        Assert.Equal(new Notice("n", 1, "p"), value);

        string? renamed = null;
        Proxy.Renamed += (_, name) => renamed = name;
        Service.RaiseRenamed("new name");
        Assert.Equal("new name", renamed);

        Proxy.Changed -= handler;
        Assert.Equal(0, Service.ChangedHandlerCount);
        Service.RaiseChanged(new Notice("n", 2, "p"));
        Assert.Single(seen);
    }

    [Fact]
    public void Method_ids_are_the_hash_of_the_canonical_signature()
    {
        foreach (var method in Contract.Methods)
        {
            Assert.Equal(ClusterMethodId.Compute(method.Signature), method.Id);
        }
        Assert.Equal("System.Threading.Tasks.Task<System.Int32> AddAsync(System.Int32,System.Int32)",
            Contract.Methods.First(m => m.Name == "AddAsync").Signature);
        Assert.Equal("System.Threading.Tasks.Task<System.String> EchoAsync(System.String)", Method("EchoAsync").Signature);
        Assert.Equal("System.Threading.Tasks.Task<ClusterSharing.Generators.Tests.Conformance.Outer.Inner> EchoInnerAsync(ClusterSharing.Generators.Tests.Conformance.Outer.Inner)",
            Method("EchoInnerAsync").Signature);
        Assert.Equal("System.Threading.Tasks.Task<ClusterSharing.Generators.Tests.Conformance.Optionals> EchoOptionalsAsync(System.Nullable<System.Int32>,System.Nullable<System.Guid>,System.Nullable<System.DateTime>,System.Nullable<ClusterSharing.Generators.Tests.Conformance.Color>,System.Nullable<ClusterSharing.Generators.Tests.Conformance.Point>)",
            Method("EchoOptionalsAsync").Signature);
        Assert.Equal("void Subscribe(ClusterSharing.Generators.Tests.Conformance.Query,System.Action<ClusterSharing.Generators.Tests.Conformance.Notice>)",
            Method("Subscribe").Signature);
        Assert.Equal("System.Collections.Generic.IAsyncEnumerable<System.Int32> SubscribeCounter(System.Int32)", Method("SubscribeCounter").Signature);
        Assert.Equal("event System.EventHandler<ClusterSharing.Generators.Tests.Conformance.Notice> Changed", Method("Changed").Signature);
    }

    [Fact]
    public void Methods_are_listed_in_declaration_order()
    {
        var expected = typeof(IConformance).GetMembers()
            .Where(m => m is System.Reflection.EventInfo || m is System.Reflection.MethodInfo { IsSpecialName: false, IsAbstract: true })
            .OrderBy(m => m is System.Reflection.EventInfo e ? e.AddMethod!.MetadataToken : m.MetadataToken)
            .Select(m => m.Name);
        Assert.Equal(expected, Contract.Methods.Select(m => m.Name));
    }

    [Fact]
    public async Task Leader_process_calls_the_real_client_directly_for_invokes_and_oneways()
    {
        var local = new LocalLeaderInvoker<IConformance>(Invoker, Service);
        var proxy = Contract.CreateProxy(local);
        using var cts = new CancellationTokenSource();
        Assert.Equal(5, await proxy.AddAsync(2, 3));
        Assert.Equal("x", await proxy.EchoAsync("x", cts.Token));
        Assert.True(Service.LastTokenCouldCancel);
        await proxy.PingAsync();
        await proxy.ResetAsync(cts.Token);
        var order = SampleOrder();
        Assert.Same(order, await proxy.EchoOrderAsync(order));
        Assert.Equal(new Size(1, 2), await proxy.EchoSizeAsync(new Size(1, 2)));
        await Assert.ThrowsAsync<InvalidOperationException>(() => proxy.FailAsync("local"));
        proxy.Record("direct");
        Assert.Equal(["direct"], Service.Recorded);
        Assert.Empty(local.Forwarded);
        Assert.Empty(Invoker.Payloads);

        proxy.Publish(new Notice("p", 1, null));
        proxy.Subscribe(News, _ => { });
        proxy.Changed += (_, _) => { };
        await foreach (var _ in proxy.SubscribeCounter(1, CancellationToken.None))
        {
        }
        await proxy.ShutdownAsync();
        Assert.Equal(["Publish", "Subscribe", "Changed", "SubscribeCounter", "ShutdownAsync"], local.Forwarded);
    }

    [Fact]
    public void Unknown_method_ids_are_refused_clearly()
    {
        var stranger = new ClusterMethod(0xdeadbeef, "Missing", "void Missing()", ClusterMethodKind.Invoke);
        var dispatch = Assert.Throws<ClusterClientException>(() =>
        {
            var reader = Wire.Reader(new byte[] { 0x90 });
            _ = Contract.DispatchAsync(Service, stranger, ref reader, Wire.Options(Contract), new NullReply(), CancellationToken.None);
        });
        Assert.Contains("deadbeef", dispatch.Message);
        var subscribe = Assert.Throws<ClusterClientException>(() =>
        {
            var reader = Wire.Reader(new byte[] { 0x90 });
            _ = Contract.Subscribe(Service, stranger, ref reader, Wire.Options(Contract), new NullSink());
        });
        Assert.Contains("deadbeef", subscribe.Message);
        var registration = Wire.Reader(new byte[] { 0x90 });
        Assert.False(Contract.Unsubscribe(Service, stranger, null, ref registration, Wire.Options(Contract), new object()));
        var wrongToken = Wire.Reader(new byte[] { 0xa1, (byte)'q' });
        Assert.False(Contract.Unsubscribe(Service, Method(nameof(IConformance.SubscribeWork)), Method(nameof(IConformance.UnsubscribeWork)), ref wrongToken, Wire.Options(Contract), new object()));
    }

    [Fact]
    public void Dispatching_a_truncated_argument_array_fails_clearly()
    {
        var method = Contract.Methods.First(m => m.Name == "AddAsync");
        Assert.Throws<MessagePack.MessagePackSerializationException>(() =>
        {
            var reader = Wire.Reader(new byte[] { 0x92, 0x01 });
            _ = Contract.DispatchAsync(Service, method, ref reader, Wire.Options(Contract), new NullReply(), CancellationToken.None);
        });
    }

    [Fact]
    public void Nesting_beyond_the_reader_limit_is_refused()
    {
        var bytes = new List<byte> { 0x91 };
        for (int i = 0; i < 40; i++)
        {
            bytes.AddRange([0x82, 0xa5, .. "Value"u8, 0x01, 0xa4, .. "Next"u8]);
        }
        bytes.Add(0xc0);
        var error = Assert.Throws<MessagePack.MessagePackSerializationException>(() =>
        {
            var reader = Wire.Reader(bytes.ToArray());
            _ = Contract.DispatchAsync(Service, Method(nameof(IConformance.EchoChainAsync)), ref reader, Wire.Options(Contract), new NullReply(), CancellationToken.None);
        });
        Assert.Contains("depth", error.Message);
    }

    [Fact]
    public async Task Garbage_arguments_fail_with_serialization_errors_and_never_hang()
    {
        var random = new Random(20241121);
        using var cts = new CancellationTokenSource();
        cts.Cancel();
        var pending = new List<Task>();
        var unexpected = new List<string>();
        foreach (var method in Contract.Methods.Where(m => m.Kind is ClusterMethodKind.Invoke or ClusterMethodKind.Oneway or ClusterMethodKind.Publish))
        {
            for (int round = 0; round < 300; round++)
            {
                var bytes = new byte[random.Next(0, 48)];
                random.NextBytes(bytes);
                // Half the inputs start like an argument array of the right size, so decoding gets past the first byte.
                if (bytes.Length > 0 && round % 2 == 0) bytes[0] = (byte)(0x90 | method.Signature.Count(c => c == ',') + 1);
                try
                {
                    var reader = Wire.Reader(bytes);
                    var dispatch = Contract.DispatchAsync(Service, method, ref reader, Wire.Options(Contract), new NullReply(), cts.Token);
                    pending.Add(dispatch.AsTask());
                }
                catch (MessagePack.MessagePackSerializationException)
                {
                }
                catch (Exception ex)
                {
                    unexpected.Add($"{method.Name} {Convert.ToHexString(bytes)}: {ex.GetType().Name}: {ex.Message}");
                }
            }
        }
        Assert.True(unexpected.Count == 0, string.Join(Environment.NewLine, unexpected.Take(20)));
        // Whatever decoded reached the real client; its own failures travel in the tasks. None may hang.
        await Task.WhenAll(pending.Select(t => t.ContinueWith(_ => { }, TaskScheduler.Default))).WaitAsync(TimeSpan.FromSeconds(30));
    }

    [Fact]
    public async Task Objects_read_keys_in_any_order_skip_unknown_ones_and_handle_missing_ones_like_generated_code()
    {
        // [ { "Permissions": 2, "Extra": [1, {"x": nil}], 7: "non-string key", "Name": "n" } ]
        byte[] arguments =
        [
            0x91, 0x84,
            0xab, .. "Permissions"u8, 0x02,
            0xa5, .. "Extra"u8, 0x92, 0x01, 0x81, 0xa1, (byte)'x', 0xc0,
            0x07, 0xae, .. "non-string key"u8,
            0xa4, .. "Name"u8, 0xa1, (byte)'n',
        ];
        var settings = await DispatchForResultAsync<Settings?>(nameof(IConformance.EchoSettingsAsync), arguments);
        Assert.NotNull(settings);
        Assert.Equal("n", settings.Name);
        Assert.Equal(Permissions.Write, settings.Permissions);
        // A missing plain-setter member keeps its initializer; a missing init-only one is assigned its default.
        Assert.Empty(settings.Values);
        Assert.Null(settings.Numbers);
        Assert.Null(settings.Region);

        // [ { "Owner": "o" } ]: the constructor gets the default for the missing Balance.
        var account = await DispatchForResultAsync<Account>(nameof(IConformance.EchoAccountAsync), [0x91, 0x81, 0xa5, .. "Owner"u8, 0xa1, (byte)'o']);
        Assert.Equal("o", account.Owner);
        Assert.Equal(default, account.Balance);

        // [ nil ] is not a struct.
        var error = await Assert.ThrowsAsync<MessagePack.MessagePackSerializationException>(
            () => DispatchForResultAsync<Point>(nameof(IConformance.EchoPointAsync), [0x91, 0xc0]));
        Assert.Contains("(a struct)", error.Message);
    }

    [Fact]
    public async Task Cyclic_object_graphs_fail_to_serialize_instead_of_overflowing_the_stack()
    {
        var root = new TreeNode { Name = "loop" };
        root.Children.Add(root);
        await Assert.ThrowsAsync<MessagePack.MessagePackSerializationException>(() => Proxy.EchoTreeAsync(root));
    }

    private async Task<TResult> DispatchForResultAsync<TResult>(string method, byte[] arguments)
    {
        var reply = new CapturingReply();
        ValueTask dispatch;
        {
            var reader = Wire.Reader(arguments);
            dispatch = Contract.DispatchAsync(Service, Method(method), ref reader, Wire.Options(Contract), reply, CancellationToken.None);
            Assert.True(reader.End);
        }
        await dispatch;
        return Assert.IsType<TResult>(reply.Value);
    }

    private sealed class CapturingReply : IReplyWriter
    {
        public object? Value { get; private set; }
        public void WriteResult<TResult>(TResult value, MessagePack.Formatters.IMessagePackFormatter<TResult> formatter, MessagePack.MessagePackSerializerOptions options) => Value = value;
        public void WriteVoid() { }
    }

    internal static Order SampleOrder() => new(
        Guid.Parse("6f9619ff-8b86-d011-b42d-00c04fc964ff"),
        "Zoë",
        [new Line("A-1", 2, 1.25), new Line("B-2", 1, null)],
        new Dictionary<string, int> { ["rush"] = 1, ["gift"] = 0 },
        Color.Red);

    private sealed class NullReply : IReplyWriter
    {
        public void WriteResult<TResult>(TResult value, MessagePack.Formatters.IMessagePackFormatter<TResult> formatter, MessagePack.MessagePackSerializerOptions options) { }
        public void WriteVoid() { }
    }

    private sealed class NullSink : ISubscriptionSink
    {
        public void OnValue<TValue>(TValue value, MessagePack.Formatters.IMessagePackFormatter<TValue> formatter, MessagePack.MessagePackSerializerOptions options) { }
        public void OnCompleted(Exception? error) { }
    }
}
