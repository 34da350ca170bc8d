using ClusterSharing.Proxies.Dynamic;

namespace ClusterSharing.Generators.Tests.Conformance;

/// <summary>Interfaces the dynamic path must refuse (none has [ClusterDelegate], so the generator leaves them alone).</summary>
public static class IUnsupported
{
    public interface IHasProperty { int Count { get; } }
    public interface IGenericMethod { Task<T> GetAsync<T>(); }
    public interface IRefParameter { Task MoveAsync(ref int position); }
    public interface IObjectParameter { Task SendAsync(object payload); }
    public interface IDecimalInside { Task PayAsync(Invoice invoice); }
    public interface IDecimalInList { Task PayAllAsync(Dictionary<string, List<Invoice>> invoices); }
    public interface IDecimalInJaggedArray { Task<Invoice[][]?> PagesAsync(); }
    public interface ITokenInTheMiddle { Task WaitAsync(CancellationToken cancellationToken, int milliseconds); }
    public interface IUnpairedUnsubscribe { void Unsubscribe(string topic, Action<int>? listener); }
    public interface IBadReturn { int Count(); }
    public interface INoConstructor { Task SendAsync(Sealed value); }
    public interface IOnewayTask { [Oneway] Task FireAsync(); }
    public interface IConflicting { [Oneway][Publish] void Send(string value); }
    public interface IMisnamedSubscribe { void SubscribeAll(); }
    public interface IUnnamedStream { IAsyncEnumerable<int> Watch(string topic); }
#pragma warning disable CS8714 // The nullable key is the point: it must be refused.
    public interface INullableKey { Task SendAsync(Dictionary<int?, string> map); }
    public interface INullableKeyInList { Task SendAsync(List<IReadOnlyDictionary<long?, string>> maps); }
#pragma warning restore CS8714
    public interface IWithDefaults
    {
        Task<int> GetAsync();
        static int Version => 1;
        async Task<int> GetTwiceAsync() => await GetAsync() + await GetAsync();
    }
    public interface IBadEvent { event Action<int> Changed; }
    public interface IZeroTimeout { [Timeout(0)] Task PingAsync(); }
    public interface INegativeTimeout { [Timeout(-5)] void Ping(); }
    public interface IMultiDimensional { Task SendAsync(int[,] grid); }
    public interface IBadSubscribe { [Subscribe] void Watch(string topic); }
    public interface ICloseWithArguments { [Close] Task CloseAsync(string reason); }
    public interface IDisposableClient : IAsyncDisposable { Task<int> GetAsync(); }
    public interface IDerivedClient : IDisposableClient { Task<string> NameAsync(); }

    public sealed class DisposableClient : IDerivedClient
    {
        public bool Disposed { get; private set; }
        public Task<int> GetAsync() => Task.FromResult(1);
        public Task<string> NameAsync() => Task.FromResult("derived");
        public ValueTask DisposeAsync()
        {
            Disposed = true;
            return ValueTask.CompletedTask;
        }
    }

    public interface IOnewayWithToken { void Fire(int value, CancellationToken cancellationToken); }
    public interface ITwoSubscribes
    {
        void SubscribeA(string key, Action<int> listener);
        void SubscribeB(string key, Action<int> listener);
        void UnsubscribeB(string key, Action<int>? listener);
        void Unsubscribe(string key, Action<int>? listener);
    }

    public sealed record Invoice(string Number, decimal Amount);

    public sealed class Sealed
    {
        public Sealed(int unrelated) => Value = unrelated.ToString(System.Globalization.CultureInfo.InvariantCulture);
        public string Value { get; }
    }
}

public sealed class DynamicContractRulesTests
{
    private interface IPrivate { Task PingAsync(); }

    private static string Refuse<T>() where T : class =>
        Assert.Throws<ClusterClientException>(() => new DynamicClusterContract<T>()).Message;

    [Fact]
    public void Properties_are_refused() => Assert.Contains("IHasProperty.Count' cannot be shared: properties", Refuse<IUnsupported.IHasProperty>());

    [Fact]
    public void Generic_methods_are_refused() => Assert.Contains("IGenericMethod.GetAsync' cannot be shared: generic methods", Refuse<IUnsupported.IGenericMethod>());

    [Fact]
    public void Ref_parameters_are_refused() => Assert.Contains("parameter 'position' is ref, in or out", Refuse<IUnsupported.IRefParameter>());

    [Fact]
    public void Object_parameters_are_refused_naming_the_type()
    {
        var message = Refuse<IUnsupported.IObjectParameter>();
        Assert.Contains("IObjectParameter.SendAsync' cannot be shared: its parameter 'payload'", message);
        Assert.Contains("System.Object", message);
    }

    [Fact]
    public void Unsupported_types_inside_records_are_refused_with_their_path()
    {
        var message = Refuse<IUnsupported.IDecimalInside>();
        Assert.Contains("IDecimalInside.PayAsync", message);
        Assert.Contains("ClusterSharing.Generators.Tests.Conformance.IUnsupported.Invoice.Amount -> System.Decimal", message);
    }

    [Fact]
    public void Unsupported_types_inside_collections_are_refused_with_their_path() =>
        Assert.Contains("(System.Collections.Generic.Dictionary<System.String,System.Collections.Generic.List<ClusterSharing.Generators.Tests.Conformance.IUnsupported.Invoice>> -> " +
            "System.Collections.Generic.List<ClusterSharing.Generators.Tests.Conformance.IUnsupported.Invoice> -> ClusterSharing.Generators.Tests.Conformance.IUnsupported.Invoice.Amount -> System.Decimal)",
            Refuse<IUnsupported.IDecimalInList>());

    [Fact]
    public void Unsupported_types_inside_arrays_are_refused_with_their_path() =>
        Assert.Contains("its result (ClusterSharing.Generators.Tests.Conformance.IUnsupported.Invoice[][] -> ClusterSharing.Generators.Tests.Conformance.IUnsupported.Invoice[] -> " +
            "ClusterSharing.Generators.Tests.Conformance.IUnsupported.Invoice.Amount -> System.Decimal)",
            Refuse<IUnsupported.IDecimalInJaggedArray>());

    [Fact]
    public void Cancellation_token_must_be_last() => Assert.Contains("CancellationToken parameter 'cancellationToken' is not the last parameter", Refuse<IUnsupported.ITokenInTheMiddle>());

    [Fact]
    public void Unsubscribe_needs_a_matching_subscribe() => Assert.Contains("IUnpairedUnsubscribe.Unsubscribe' cannot be shared: no listener-form subscribe", Refuse<IUnsupported.IUnpairedUnsubscribe>());

    [Fact]
    public void Other_return_types_are_refused() => Assert.Contains("IBadReturn.Count' cannot be shared: return type 'System.Int32'", Refuse<IUnsupported.IBadReturn>());

    [Fact]
    public void Types_without_a_usable_constructor_are_left_to_the_resolver_chain()
    {
        // As in generated code: such a type needs its own formatter, from ClusterClientOptions.SerializerOptions.
        var contract = new DynamicClusterContract<IUnsupported.INoConstructor>();
        Assert.Null(contract.Resolver!.GetFormatter<IUnsupported.Sealed>());
    }

    [Fact]
    public void Oneway_must_return_void() => Assert.Contains("IOnewayTask.FireAsync' cannot be shared: return type 'System.Threading.Tasks.Task' is not supported: a fire-and-forget ([Oneway]) method has no reply", Refuse<IUnsupported.IOnewayTask>());

    [Fact]
    public void First_kind_attribute_wins_as_in_the_generator() =>
        Assert.Equal(ClusterMethodKind.Publish, Assert.Single(new DynamicClusterContract<IUnsupported.IConflicting>().Methods).Kind);

    [Fact]
    public void Names_classify_void_methods_and_then_need_the_shape() =>
        Assert.Contains("IMisnamedSubscribe.SubscribeAll' cannot be shared: a subscribe member has the shape", Refuse<IUnsupported.IMisnamedSubscribe>());

    [Fact]
    public void Async_streams_must_be_subscriptions() => Assert.Contains("IUnnamedStream.Watch' cannot be shared: return type 'System.Collections.Generic.IAsyncEnumerable<System.Int32>' is an async stream", Refuse<IUnsupported.IUnnamedStream>());

    [Fact]
    public void Nullable_dictionary_keys_are_refused()
    {
        Assert.Contains("a dictionary key cannot be a nullable value type", Refuse<IUnsupported.INullableKey>());
        var nested = Refuse<IUnsupported.INullableKeyInList>();
        Assert.Contains("(System.Collections.Generic.List<System.Collections.Generic.IReadOnlyDictionary<System.Nullable<System.Int64>,System.String>> -> " +
            "System.Collections.Generic.IReadOnlyDictionary<System.Nullable<System.Int64>,System.String>)", nested);
        Assert.Contains("a dictionary key cannot be a nullable value type", nested);
    }

    [Fact]
    public void Static_members_and_default_implementations_are_not_forwarded()
    {
        var contract = new DynamicClusterContract<IUnsupported.IWithDefaults>();
        Assert.Equal(["GetAsync"], contract.Methods.Select(m => m.Name));
    }

    [Fact]
    public void Unsubscribe_pairs_by_name_else_with_the_first_subscribe_of_the_same_types()
    {
        var methods = new DynamicClusterContract<IUnsupported.ITwoSubscribes>().Methods.ToDictionary(m => m.Name);
        Assert.Equal(methods["SubscribeB"].Id, methods["UnsubscribeB"].PairedId);
        Assert.Equal(methods["SubscribeA"].Id, methods["Unsubscribe"].PairedId);
    }

    [Fact]
    public void Events_must_be_EventHandler_of_T() => Assert.Contains("IBadEvent.Changed' cannot be shared: event type 'System.Action<System.Int32>'", Refuse<IUnsupported.IBadEvent>());

    [Fact]
    public void Timeouts_must_be_positive()
    {
        Assert.Contains("IZeroTimeout.PingAsync' cannot be shared: [Timeout(0)] is not positive", Refuse<IUnsupported.IZeroTimeout>());
        Assert.Contains("INegativeTimeout.Ping' cannot be shared: [Timeout(-5)] is not positive", Refuse<IUnsupported.INegativeTimeout>());
    }

    [Fact]
    public void Multi_dimensional_arrays_are_refused() => Assert.Contains("multi-dimensional arrays", Refuse<IUnsupported.IMultiDimensional>());

    [Fact]
    public void Subscribe_attribute_requires_a_subscribe_shape() => Assert.Contains("IBadSubscribe.Watch' cannot be shared: a subscribe member has the shape", Refuse<IUnsupported.IBadSubscribe>());

    [Fact]
    public void Close_takes_no_arguments() => Assert.Contains("a close member takes no parameters (other than a CancellationToken)", Refuse<IUnsupported.ICloseWithArguments>());

    [Fact]
    public void Oneway_cancellation_token_is_left_off_the_wire() =>
        Assert.Equal("void Fire(System.Int32)", Assert.Single(new DynamicClusterContract<IUnsupported.IOnewayWithToken>().Methods).Signature);

    [Fact]
    public async Task Base_interfaces_are_included_and_DisposeAsync_closes()
    {
        var contract = new DynamicClusterContract<IUnsupported.IDerivedClient>();
        Assert.Equal(["NameAsync", "GetAsync", "DisposeAsync"], contract.Methods.Select(m => m.Name));
        var dispose = contract.Methods.Single(m => m.Name == "DisposeAsync");
        Assert.Equal(ClusterMethodKind.Close, dispose.Kind);
        Assert.Equal("System.Threading.Tasks.ValueTask DisposeAsync()", dispose.Signature);
        var client = new IUnsupported.DisposableClient();
        await using (var proxy = contract.CreateProxy(new Support.LoopbackInvoker<IUnsupported.IDerivedClient>(contract, client)))
        {
            Assert.Equal("derived", await proxy.NameAsync());
            Assert.Equal(1, await proxy.GetAsync());
        }
        Assert.True(client.Disposed);
    }

    [Fact]
    public void Classes_are_refused() => Assert.Contains("are interfaces", Refuse<DynamicContractRulesTests>());

    [Fact]
    public void Inaccessible_interfaces_are_refused_with_the_fix() => Assert.Contains("DynamicProxyGenAssembly2", Refuse<IPrivate>());
}
