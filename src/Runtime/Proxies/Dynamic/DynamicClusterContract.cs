using System.Diagnostics.CodeAnalysis;
using System.Reflection;
using Castle.DynamicProxy;
using MessagePack;

namespace ClusterSharing.Proxies.Dynamic;

/// <summary>Messages of the dynamic path's trimming and AOT annotations.</summary>
internal static class DynamicClusterContract
{
    public const string RequiresDynamicCodeMessage =
        "The dynamic ClusterClient proxy emits code at run time (Castle.Core) and closes generic formatters with MakeGenericType. " +
        "Mark the interface [ClusterDelegate] so the source generator emits its contract, and use ProxyGenerationMode.AlwaysGenerated.";

    public const string RequiresUnreferencedCodeMessage =
        "The dynamic ClusterClient proxy reads the contract interface and its parameter types by reflection, which trimming can break. " +
        "Mark the interface [ClusterDelegate] so the source generator emits its contract, and use ProxyGenerationMode.AlwaysGenerated.";

    /// <summary>One generator for every contract: Castle caches the proxy types it emits per generator.</summary>
    public static readonly ProxyGenerator ProxyGenerator = new();
}

/// <summary>
/// The contract of <typeparamref name="T"/> built at run time by reflection, for interfaces the source generator did not
/// process. It classifies members, computes ids and encodes values exactly like generated code (the settled wire layout),
/// and its proxies are Castle.Core interface proxies that forward every member to <see cref="IClusterInvoker{T}"/>.
/// </summary>
/// <typeparam name="T">The contract interface.</typeparam>
[RequiresDynamicCode(DynamicClusterContract.RequiresDynamicCodeMessage)]
[RequiresUnreferencedCode(DynamicClusterContract.RequiresUnreferencedCodeMessage)]
public sealed class DynamicClusterContract<T> : ClusterContract<T> where T : class
{
    private readonly List<DynamicMember<T>> _members;
    private readonly Dictionary<uint, DynamicMember<T>> _byId;
    private readonly Dictionary<MethodInfo, DynamicMember<T>> _byMethod;
    private readonly ClusterMethod[] _methods;

    /// <summary>Reads <typeparamref name="T"/> and resolves a formatter for every type it uses.</summary>
    /// <exception cref="ClusterClientException">
    /// A member or a type cannot be shared; the message names the member and the type and says how to fix it.
    /// </exception>
    public DynamicClusterContract()
    {
        if (!typeof(T).IsInterface)
            throw new ClusterClientException($"ClusterClient contracts are interfaces; '{ClusterMethodId.CanonicalTypeName(typeof(T))}' is not.");
        if (!ProxyUtil.IsAccessible(typeof(T)))
            throw new ClusterClientException($"'{ClusterMethodId.CanonicalTypeName(typeof(T))}' is not accessible to the Castle.Core proxy generator. " +
                "Make the interface public, or keep it internal and add [assembly: InternalsVisibleTo(\"DynamicProxyGenAssembly2\")] to its assembly.");
        var built = DynamicContractBuilder<T>.Build();
        Name = built.Name;
        Resolver = built.Resolver;
        _members = built.Members;
        _byMethod = built.ByMethod;
        _methods = _members.Select(m => m.Method).ToArray();
        _byId = _members.ToDictionary(m => m.Method.Id);
    }

    /// <inheritdoc/>
    public override string Name { get; }

    /// <inheritdoc/>
    public override IReadOnlyList<ClusterMethod> Methods => _methods;

    /// <inheritdoc/>
    public override IFormatterResolver? Resolver { get; }

    /// <inheritdoc/>
    public override T CreateProxy(IClusterInvoker<T> invoker)
    {
        ArgumentNullException.ThrowIfNull(invoker);
        var interceptor = new ProxyInterceptor(_byMethod, invoker);
        return (T)DynamicClusterContract.ProxyGenerator.CreateInterfaceProxyWithoutTarget(typeof(T), interceptor);
    }

    /// <inheritdoc/>
    public override ValueTask DispatchAsync(T target, ClusterMethod method, ref MessagePackReader arguments, MessagePackSerializerOptions options, IReplyWriter reply,
        CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(target);
        ArgumentNullException.ThrowIfNull(reply);
        var member = Find(method);
        if (member.Method.Kind is not (ClusterMethodKind.Invoke or ClusterMethodKind.Oneway or ClusterMethodKind.Publish or ClusterMethodKind.Close))
            throw Mismatch(method, "call");
        return member.DispatchAsync(target, ref arguments, options, reply, cancellationToken);
    }

    /// <inheritdoc/>
    public override object Subscribe(T target, ClusterMethod method, ref MessagePackReader registration, MessagePackSerializerOptions options, ISubscriptionSink sink)
    {
        ArgumentNullException.ThrowIfNull(target);
        ArgumentNullException.ThrowIfNull(sink);
        var member = Find(method);
        if (member.Method.Kind is not (ClusterMethodKind.Subscribe or ClusterMethodKind.Event)) throw Mismatch(method, "subscription");
        return member.Subscribe(target, ref registration, options, sink);
    }

    /// <inheritdoc/>
    public override bool Unsubscribe(T target, ClusterMethod subscribeMethod, ClusterMethod? unsubscribeMethod, ref MessagePackReader registration,
        MessagePackSerializerOptions options, object token)
    {
        ArgumentNullException.ThrowIfNull(target);
        ArgumentNullException.ThrowIfNull(subscribeMethod);
        // Like generated code: an id this contract does not know, or a pairing it does not have, undoes nothing.
        if (!_byId.TryGetValue(subscribeMethod.Id, out var subscribe) || subscribe.Method.Kind is not (ClusterMethodKind.Subscribe or ClusterMethodKind.Event))
            return false;
        DynamicMember<T>? unsubscribe = null;
        if (unsubscribeMethod is not null
            && (!_byId.TryGetValue(unsubscribeMethod.Id, out unsubscribe) || unsubscribe.Method.PairedId != subscribe.Method.Id))
            return false;
        return subscribe.Unsubscribe(target, unsubscribe, ref registration, options, token);
    }

    private DynamicMember<T> Find(ClusterMethod method)
    {
        ArgumentNullException.ThrowIfNull(method);
        return _byId.TryGetValue(method.Id, out var member) ? member : throw Mismatch(method, "member");
    }

    private ClusterClientException Mismatch(ClusterMethod method, string what) =>
        new($"{Name} has no {what} with id 0x{method.Id:x8} ('{method.Name}', {method.Kind}): leader and follower were built from " +
            "different versions of the contract; deploy the same version to every process.");

    /// <summary>Routes each intercepted interface call to its member.</summary>
    private sealed class ProxyInterceptor(Dictionary<MethodInfo, DynamicMember<T>> members, IClusterInvoker<T> invoker) : IInterceptor
    {
        public void Intercept(IInvocation invocation)
        {
            var method = invocation.Method;
            if (!members.TryGetValue(method, out var member))
            {
                // A default interface implementation is not forwarded: it runs here, calling the forwarded members.
                if (!method.IsAbstract)
                {
                    invocation.Proceed();
                    return;
                }
                throw new InvalidOperationException($"'{method.DeclaringType?.Name}.{method.Name}' is not a member of the ClusterClient contract '{typeof(T).Name}'.");
            }
            invocation.ReturnValue = member.Intercept((T)invocation.Proxy, invoker, method, invocation.Arguments);
        }
    }
}
