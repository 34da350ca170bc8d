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
    public interface ITokenInTheMiddle { Task WaitAsync(CancellationToken cancellationToken, int milliseconds); }
    public interface IUnpairedUnsubscribe { void Unsubscribe(string topic, Action<int>? listener); }
    public interface IBadReturn { int Count(); }
    public interface INoConstructor { Task SendAsync(Sealed value); }
    public interface IOnewayTask { [Oneway] Task FireAsync(); }
    public interface IConflicting { [Oneway][Publish] void Send(string value); }
    public interface IBadEvent { event Action<int> Changed; }
    public interface IZeroTimeout { [Timeout(0)] Task PingAsync(); }
    public interface IMultiDimensional { Task SendAsync(int[,] grid); }
    public interface IBadSubscribe { [Subscribe] void Watch(string topic); }
    public interface ICloseWithArguments { [Close] Task CloseAsync(string reason); }
    public interface IOnewayWithToken { void Fire(int value, CancellationToken cancellationToken); }

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
    public void Cancellation_token_must_be_last() => Assert.Contains("CancellationToken parameter 'cancellationToken' is not the last parameter", Refuse<IUnsupported.ITokenInTheMiddle>());

    [Fact]
    public void Unsubscribe_needs_a_matching_subscribe() => Assert.Contains("IUnpairedUnsubscribe.Unsubscribe' cannot be shared: no listener-form subscribe", Refuse<IUnsupported.IUnpairedUnsubscribe>());

    [Fact]
    public void Other_return_types_are_refused() => Assert.Contains("IBadReturn.Count' cannot be shared: return type 'System.Int32'", Refuse<IUnsupported.IBadReturn>());

    [Fact]
    public void Types_without_a_usable_constructor_are_refused() => Assert.Contains("no public constructor", Refuse<IUnsupported.INoConstructor>());

    [Fact]
    public void Oneway_must_return_void() => Assert.Contains("[Oneway] methods must return void", Refuse<IUnsupported.IOnewayTask>());

    [Fact]
    public void Conflicting_kind_attributes_are_refused() => Assert.Contains("conflicting attributes", Refuse<IUnsupported.IConflicting>());

    [Fact]
    public void Events_must_be_EventHandler_of_T() => Assert.Contains("IBadEvent.Changed' cannot be shared: event type 'System.Action<System.Int32>'", Refuse<IUnsupported.IBadEvent>());

    [Fact]
    public void Timeouts_must_be_positive() => Assert.Contains("[Timeout(0)] is not positive", Refuse<IUnsupported.IZeroTimeout>());

    [Fact]
    public void Multi_dimensional_arrays_are_refused() => Assert.Contains("multi-dimensional arrays", Refuse<IUnsupported.IMultiDimensional>());

    [Fact]
    public void Subscribe_attribute_requires_a_subscribe_shape() => Assert.Contains("IBadSubscribe.Watch' cannot be shared: a subscribe member has the shape", Refuse<IUnsupported.IBadSubscribe>());

    [Fact]
    public void Close_takes_no_arguments() => Assert.Contains("a close member takes no parameters", Refuse<IUnsupported.ICloseWithArguments>());

    [Fact]
    public void Oneway_cannot_take_a_cancellation_token() => Assert.Contains("IOnewayWithToken.Fire' cannot be shared: it takes a CancellationToken", Refuse<IUnsupported.IOnewayWithToken>());

    [Fact]
    public void Classes_are_refused() => Assert.Contains("are interfaces", Refuse<DynamicContractRulesTests>());

    [Fact]
    public void Inaccessible_interfaces_are_refused_with_the_fix() => Assert.Contains("DynamicProxyGenAssembly2", Refuse<IPrivate>());
}
