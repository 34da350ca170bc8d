namespace ClusterSharing.Generators.Models;

/// <summary>What a member does; finer than ClusterMethodKind because the two subscribe forms emit different code.</summary>
internal enum MemberKind
{
    Invoke,
    Oneway,
    SubscribeListener,
    SubscribeStream,
    Unsubscribe,
    Publish,
    Close,
    Event,
}

/// <summary>How a method returns.</summary>
internal enum ReturnShape
{
    Void,
    Task,
    TaskOfT,
    ValueTask,
    ValueTaskOfT,
    AsyncEnumerable,
}

/// <summary>One contract member.</summary>
/// <param name="Index">Position in the Methods list; names the emitted helpers.</param>
/// <param name="Kind">What the member does.</param>
/// <param name="Name">The member name as written (escaped where it is a keyword).</param>
/// <param name="DisplayName">The member name as written, for messages.</param>
/// <param name="DeclaringInterface">The interface that declares it (fully qualified), for explicit implementation.</param>
/// <param name="Signature">Canonical signature; <paramref name="Id"/> is its FNV-1a hash.</param>
/// <param name="ReturnType">The declared return type (or event handler type) as written, fully qualified.</param>
/// <param name="Shape">How the method returns.</param>
/// <param name="ResultFormatter">Formatter field for Task&lt;T&gt;/ValueTask&lt;T&gt; results, else null.</param>
/// <param name="ResultFormatterType">The formatter's value type (all reference types nullable), else null.</param>
/// <param name="Parameters">Declared parameters in order, cancellation tokens included.</param>
/// <param name="Registration">Subscribe/unsubscribe registration (formatter field and type), else null.</param>
/// <param name="Value">Subscription, stream or event value (formatter field and type), else null.</param>
/// <param name="PairedIndex">For an unsubscribe, the index of the subscribe it undoes; otherwise -1.</param>
/// <param name="Awaitable">For a subscribe: it returns a task that completes once the leader's real client holds the subscription.</param>
/// <param name="LastValue">For a publication: <c>[Publish(LastValue = true)]</c>.</param>
internal sealed record MemberSpec(
    int Index,
    MemberKind Kind,
    string Name,
    string DisplayName,
    string DeclaringInterface,
    string Signature,
    uint Id,
    string ReturnType,
    ReturnShape Shape,
    string? ResultFormatter,
    string? ResultFormatterType,
    EquatableArray<ParameterSpec> Parameters,
    FormattedType? Registration,
    FormattedType? Value,
    int PairedIndex,
    uint PairedId,
    int TimeoutMilliseconds,
    bool Idempotent,
    bool Broadcast,
    bool Awaitable = false,
    bool LastValue = false)
{
    public bool HasCancellationToken
    {
        get
        {
            foreach (var p in Parameters) if (p.IsCancellationToken) return true;
            return false;
        }
    }

    public string CancellationTokenName
    {
        get
        {
            foreach (var p in Parameters) if (p.IsCancellationToken) return p.Name;
            return "global::System.Threading.CancellationToken.None";
        }
    }
}

/// <summary>One parameter.</summary>
/// <param name="Name">Escaped name.</param>
/// <param name="Type">Declared type as written, fully qualified with nullable annotations.</param>
/// <param name="IsCancellationToken">Left out of the wire arguments.</param>
/// <param name="Formatter">Formatter field (null for cancellation tokens and listeners).</param>
/// <param name="FormatterType">The formatter's value type (all reference types nullable).</param>
internal sealed record ParameterSpec(string Name, string Type, bool IsCancellationToken, string? Formatter, string? FormatterType);

/// <summary>A value with its formatter field and the formatter's value type.</summary>
internal sealed record FormattedType(string Formatter, string FormatterType);
