using Microsoft.CodeAnalysis;

namespace ClusterSharing.Generators;

/// <summary>Every diagnostic of the generator. Each has a page in docs/diagnostics/{Id}.md, which its help link opens.</summary>
internal static class Diagnostics
{
    private const string Category = "ClusterClient";

    /// <summary>Where the pages live: the repository's RepositoryUrl (Directory.Build.props) + /blob/main/docs/diagnostics/.</summary>
    internal const string HelpLinkBase = "https://github.com/clustersharing/ClusterClient/blob/main/docs/diagnostics/";

    private static DiagnosticDescriptor Error(string id, string title, string message) =>
        new(id, title, message, Category, DiagnosticSeverity.Error, isEnabledByDefault: true, helpLinkUri: HelpLinkBase + id + ".md");

    public static readonly DiagnosticDescriptor GenericMethod = Error("CC0001",
        "Generic methods are not supported",
        "'{0}' is a generic method: the wire format needs concrete types; replace the type parameters with concrete types or add one overload per type");

    public static readonly DiagnosticDescriptor RefParameter = Error("CC0002",
        "ref, out and in parameters are not supported",
        "Parameter '{1}' of '{0}' is passed by reference ({2}): values cannot flow back across processes; pass it by value and return results through Task<T>");

    public static readonly DiagnosticDescriptor PropertyMember = Error("CC0003",
        "Properties are not supported",
        "'{0}' is a property (or indexer): a remote read must be asynchronous; replace it with a method such as 'Task<T> Get{0}Async()'");

    public static readonly DiagnosticDescriptor UnsupportedReturnType = Error("CC0004",
        "Unsupported return type",
        "'{0}' returns '{1}': {2}");

    public static readonly DiagnosticDescriptor UnserializableType = Error("CC0005",
        "Type cannot be serialized",
        "'{0}' reaches '{1}' at {2}, which cannot be serialized: {3}");

    public static readonly DiagnosticDescriptor CancellationTokenNotLast = Error("CC0006",
        "CancellationToken must be the last parameter",
        "'{0}' has a CancellationToken that is not its only last parameter: move a single CancellationToken to the end of the parameter list");

    public static readonly DiagnosticDescriptor WrongSubscribeSignature = Error("CC0007",
        "Wrong subscribe signature",
        "'{0}' is a subscription (by name or [Subscribe]) but its signature is not 'void {0}(TReg registration, Action<T> listener)' or 'IAsyncEnumerable<T> {0}(TReg registration, CancellationToken cancellationToken)', nor an awaitable 'Task {0}(TReg registration, Action<T> listener, CancellationToken cancellationToken)' or 'Task<IAsyncEnumerable<T>> {0}(TReg registration, CancellationToken cancellationToken)' (ValueTask alike, token optional): change the signature, or mark it [Oneway] if it is not a subscription");

    public static readonly DiagnosticDescriptor WrongUnsubscribeSignature = Error("CC0008",
        "Wrong unsubscribe signature",
        "'{0}' is an unsubscribe (by name or [Unsubscribe]) but {1}: use 'void {0}(TReg registration, Action<T>? listener)' with the TReg and T of a listener-form subscribe of this interface, or mark it [Oneway] if it is not an unsubscribe");

    public static readonly DiagnosticDescriptor WrongPublishSignature = Error("CC0009",
        "Wrong publish signature",
        "'{0}' is a publication (by name or [Publish]) but its signature is not 'void {0}(TReg registration)': take exactly one parameter and return void, or mark it [Oneway] if it is not a publication");

    public static readonly DiagnosticDescriptor DuplicateMethodId = Error("CC0010",
        "Two members have the same method id",
        "'{0}' has the same wire id 0x{1} as '{2}' (signature '{3}'): overloads that differ only by a CancellationToken (or a re-declared inherited member) cannot be told apart; rename one of them");

    public static readonly DiagnosticDescriptor InaccessibleInterface = Error("CC0011",
        "Interface is not accessible to generated code",
        "'{0}' is not accessible to the generated proxy ({1}): make it (and its containing types) public or internal");

    public static readonly DiagnosticDescriptor PartialRequired = Error("CC0012",
        "Containing type must be partial",
        "'{0}' is {1} inside '{2}', so its generated proxy must be nested there: add the 'partial' modifier to '{2}', or make '{0}' internal");

    public static readonly DiagnosticDescriptor GenericInterface = Error("CC0013",
        "Generic interfaces are not supported",
        "'{0}' is generic or nested in a generic type: declare a non-generic interface with concrete types");

    public static readonly DiagnosticDescriptor UnsupportedEvent = Error("CC0014",
        "Unsupported event type",
        "Event '{0}' has type '{1}': only 'event EventHandler<T>' can be shared; change its type to EventHandler<T> with a serializable T");

    public static readonly DiagnosticDescriptor WrongCloseSignature = Error("CC0015",
        "Wrong close signature",
        "'{0}' closes the handle (by name, [Close], IDisposable or IAsyncDisposable) but {1}: use 'void {0}()', 'Task {0}()' or 'ValueTask {0}()', optionally with a last CancellationToken, or mark it [Oneway] if it does not close");

    public static readonly DiagnosticDescriptor NonPositiveTimeout = Error("CC0016",
        "Timeout must be positive",
        "'{0}' has [Timeout({1})], which is not positive: a timeout is a number of milliseconds greater than zero; give a timeout greater than zero, or remove the attribute to use ClusterClientOptions.ResponseTimeout");

    public static readonly DiagnosticDescriptor KeyedPublicationWithoutLastValue = Error("CC0017",
        "A keyed publication must be a last-value publication",
        "'{0}' is a publication with a key and a value, but only a last-value publication is keyed: add [Publish(LastValue = true)] (the first parameter is then the key, and only the latest value per key is re-published after a failover), or take a single parameter");

    public static readonly DiagnosticDescriptor WrongLastValuePublishSignature = Error("CC0018",
        "Wrong last-value publication signature",
        "'{0}' is declared [Publish(LastValue = true)] but {1}: use 'void {0}(TValue value)' (the latest value of the member is kept) or 'void {0}(TKey key, TValue value)' (the latest value per key is kept)");

    public static readonly DiagnosticDescriptor GeneratorFailed = Error("CC0099",
        "The ClusterClient generator failed",
        "The ClusterClient generator failed on '{0}': {1}. Please report this with the interface; until it is fixed use ProxyGenerationMode.AlwaysDynamic");
}
