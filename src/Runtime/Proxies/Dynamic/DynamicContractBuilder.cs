using System.Diagnostics.CodeAnalysis;
using System.Reflection;

namespace ClusterSharing.Proxies.Dynamic;

/// <summary>
/// Reads a contract interface by reflection and classifies each member exactly as the source generator does
/// (see the member rules in <c>docs/proxies.md</c>), computing the same canonical signatures and ids.
/// </summary>
[RequiresDynamicCode(DynamicClusterContract.RequiresDynamicCodeMessage)]
[RequiresUnreferencedCode(DynamicClusterContract.RequiresUnreferencedCodeMessage)]
internal sealed class DynamicContractBuilder<T> where T : class
{
    private readonly DynamicFormatterResolver _resolver = new();
    private readonly Type _contract = typeof(T);

    public string Name { get; private set; } = "";

    /// <summary>The contract's own formatters, first in every channel's resolver chain.</summary>
    public MessagePack.IFormatterResolver Resolver => _resolver;

    public List<DynamicMember<T>> Members { get; } = new();

    /// <summary>Proxy-side lookup: every interface method (event accessors included) to its member.</summary>
    public Dictionary<MethodInfo, DynamicMember<T>> ByMethod { get; } = new();

    public static DynamicContractBuilder<T> Build()
    {
        var builder = new DynamicContractBuilder<T>();
        builder.Run();
        return builder;
    }

    private void Run()
    {
        if (!_contract.IsInterface)
            throw new ClusterClientException($"ClusterClient contracts are interfaces; '{TypeName(_contract)}' is not. Declare the members you want to share on an interface.");
        if (_contract.ContainsGenericParameters)
            throw new ClusterClientException($"'{TypeName(_contract)}' is an open generic interface; use a closed one such as IMyClient<string>.");
        Name = _contract.GetCustomAttribute<ClusterDelegateAttribute>()?.Name ?? ClusterMethodId.CanonicalTypeName(_contract);

        var pendingUnsubscribes = new List<MethodInfo>();
        foreach (var member in DeclaredMembers())
        {
            switch (member)
            {
                case PropertyInfo property:
                    throw Unsupported(property.Name, "properties cannot be shared (a value read from another process could be stale)",
                        "replace it with a Task<T> Get...Async() method");
                case EventInfo @event:
                    Add(BuildEvent(@event), @event.AddMethod!, @event.RemoveMethod!);
                    break;
                case MethodInfo method:
                    var kind = Classify(method);
                    if (kind == ClusterMethodKind.Unsubscribe)
                    {
                        // Paired after every subscribe is known, but kept in declaration order.
                        pendingUnsubscribes.Add(method);
                        Members.Add(null!);
                    }
                    else
                    {
                        Add(BuildMethod(method, kind), method);
                    }
                    break;
            }
        }
        int next = 0;
        for (int i = 0; i < Members.Count; i++)
        {
            if (Members[i] is not null) continue;
            var method = pendingUnsubscribes[next++];
            var unsubscribe = BuildUnsubscribe(method);
            Members[i] = unsubscribe;
            ByMethod.Add(method, unsubscribe);
        }

        var ids = new Dictionary<uint, ClusterMethod>();
        foreach (var member in Members)
        {
            if (!ids.TryAdd(member.Method.Id, member.Method))
                throw new ClusterClientException($"'{TypeName(_contract)}': '{ids[member.Method.Id].Signature}' and '{member.Method.Signature}' have the same method id " +
                    $"0x{member.Method.Id:x8}. Rename one of them.");
        }
    }

    private void Add(DynamicMember<T> member, params MethodInfo[] methods)
    {
        Members.Add(member);
        foreach (var method in methods) ByMethod.Add(method, member);
    }

    /// <summary>
    /// Members of the interface, then of every interface it extends sorted by canonical name (the generator's order: reflection
    /// and Roslyn list base interfaces differently), each in declaration order.
    /// </summary>
    private IEnumerable<MemberInfo> DeclaredMembers()
    {
        var bases = _contract.GetInterfaces().OrderBy(ClusterMethodId.CanonicalTypeName, StringComparer.Ordinal);
        foreach (var type in bases.Prepend(_contract))
        {
            const BindingFlags flags = BindingFlags.Public | BindingFlags.NonPublic | BindingFlags.Instance | BindingFlags.DeclaredOnly;
            // Static members and default implementations need no forwarding (the generator skips them too).
            foreach (var property in type.GetProperties(flags).Where(p => p.GetAccessors(nonPublic: true).Any(IsForwarded))) yield return property;
            var accessors = new HashSet<MethodInfo>();
            foreach (var property in type.GetProperties(flags)) accessors.UnionWith(property.GetAccessors(nonPublic: true));
            var events = type.GetEvents(flags);
            foreach (var @event in events)
            {
                if (@event.AddMethod is { } add) accessors.Add(add);
                if (@event.RemoveMethod is { } remove) accessors.Add(remove);
            }
            // Roslyn emits accessor methods where the event is declared, so method tokens order methods and events alike.
            var ordered = type.GetMethods(flags).Where(m => !accessors.Contains(m) && IsForwarded(m)).Select(m => (Token: m.MetadataToken, Member: (MemberInfo)m))
                .Concat(events.Where(e => e.AddMethod is { } add && IsForwarded(add)).Select(e => (Token: e.AddMethod!.MetadataToken, Member: (MemberInfo)e)))
                .OrderBy(x => x.Token);
            foreach (var (_, member) in ordered) yield return member;
        }
    }

    private static bool IsForwarded(MethodInfo method) => !method.IsStatic && method.IsAbstract;

    private DynamicMember<T> BuildEvent(EventInfo @event)
    {
        var handler = @event.EventHandlerType!;
        if (!handler.IsGenericType || handler.GetGenericTypeDefinition() != typeof(EventHandler<>))
            throw Unsupported(@event.Name, $"event type '{TypeName(handler)}' is not supported", "declare it as event EventHandler<T>");
        var valueType = handler.GetGenericArguments()[0];
        string signature = $"event {ClusterMethodId.CanonicalTypeName(handler)} {@event.Name}";
        var method = new ClusterMethod(ClusterMethodId.Compute(signature), @event.Name, signature, ClusterMethodKind.Event);
        return Create(typeof(EventMember<,>), [_contract, valueType], method, @event, Formatter(@event.Name, "event value", valueType));
    }

    /// <summary>
    /// The generator's order: the first kind attribute wins ([Close], [Subscribe], [Unsubscribe], [Publish], [Oneway]);
    /// then Close/CloseAsync and IDisposable.Dispose/IAsyncDisposable.DisposeAsync by name; names classify only void and async-stream methods; then the return type.
    /// The shape each kind requires is checked when the member is built.
    /// </summary>
    private ClusterMethodKind Classify(MethodInfo method)
    {
        string name = method.Name;
        if (method.IsGenericMethodDefinition) throw Unsupported(name, "generic methods are not supported", "use concrete types instead of type parameters");
        var parameters = method.GetParameters();
        foreach (var parameter in parameters)
        {
            if (parameter.ParameterType.IsByRef)
                throw Unsupported(name, $"parameter '{parameter.Name}' is ref, in or out", "pass it by value and return results through Task<T>");
        }
        for (int i = 0; i < parameters.Length - 1; i++)
        {
            if (parameters[i].ParameterType == typeof(CancellationToken))
                throw Unsupported(name, $"CancellationToken parameter '{parameters[i].Name}' is not the last parameter", "take at most one CancellationToken, as the last parameter");
        }

        if (method.IsDefined(typeof(CloseAttribute), false)) return ClusterMethodKind.Close;
        if (method.IsDefined(typeof(SubscribeAttribute), false)) return ClusterMethodKind.Subscribe;
        if (method.IsDefined(typeof(UnsubscribeAttribute), false)) return ClusterMethodKind.Unsubscribe;
        if (method.IsDefined(typeof(PublishAttribute), false)) return ClusterMethodKind.Publish;
        if (method.IsDefined(typeof(OnewayAttribute), false)) return ClusterMethodKind.Oneway;
        // Dispose/DisposeAsync end this process's use of the shared client; as oneways they would dispose the leader's real client for everyone.
        if (name is "Close" or "CloseAsync"
            || name == nameof(IAsyncDisposable.DisposeAsync) && method.DeclaringType == typeof(IAsyncDisposable)
            || name == nameof(IDisposable.Dispose) && method.DeclaringType == typeof(IDisposable))
            return ClusterMethodKind.Close;
        var returnType = method.ReturnType;
        bool isStream = IsGeneric(returnType, typeof(IAsyncEnumerable<>));
        if (returnType == typeof(void) || isStream)
        {
            if (name.StartsWith("Unsubscribe", StringComparison.Ordinal)) return ClusterMethodKind.Unsubscribe;
            if (name.StartsWith("Subscribe", StringComparison.Ordinal)) return ClusterMethodKind.Subscribe;
            if (name.StartsWith("Publish", StringComparison.Ordinal)) return ClusterMethodKind.Publish;
            if (!isStream) return ClusterMethodKind.Oneway;
            throw Unsupported(name, $"return type '{TypeName(returnType)}' is an async stream, which is a subscription",
                "name the method Subscribe... or add [Subscribe], with the signature IAsyncEnumerable<T> M(TReg registration, CancellationToken cancellationToken)");
        }
        // A task-returning Subscribe* of an awaitable subscription's shape subscribes; any other 'Task SubscribeX(...)' stays a call.
        if (name.StartsWith("Subscribe", StringComparison.Ordinal) && SubscribeShape(method, parameters) is { Awaitable: true })
            return ClusterMethodKind.Subscribe;
        if (returnType == typeof(Task) || returnType == typeof(ValueTask) || IsGeneric(returnType, typeof(Task<>)) || IsGeneric(returnType, typeof(ValueTask<>)))
            return ClusterMethodKind.Invoke;
        throw Unsupported(name, $"return type '{TypeName(returnType)}' is not supported",
            "return Task, Task<T>, ValueTask or ValueTask<T> for a call, or void for a fire-and-forget call");
    }

    private DynamicMember<T> BuildMethod(MethodInfo method, ClusterMethodKind kind)
    {
        var parameters = method.GetParameters();
        return kind switch
        {
            ClusterMethodKind.Close => BuildClose(method, parameters),
            ClusterMethodKind.Subscribe => BuildSubscribe(method, parameters),
            ClusterMethodKind.Publish => BuildPublish(method, parameters),
            ClusterMethodKind.Oneway => BuildOneway(method, parameters),
            _ => BuildInvoke(method, parameters),
        };
    }

    private static int CancellationIndex(ParameterInfo[] parameters) =>
        parameters.Length > 0 && parameters[^1].ParameterType == typeof(CancellationToken) ? parameters.Length - 1 : -1;

    private DynamicMember<T> BuildClose(MethodInfo method, ParameterInfo[] parameters)
    {
        var returnType = method.ReturnType;
        if (returnType != typeof(void) && returnType != typeof(Task) && returnType != typeof(ValueTask))
            throw Unsupported(method.Name, $"a close member returns void, Task or ValueTask, not '{TypeName(returnType)}'",
                $"declare it as 'Task {method.Name}()' (optionally with a last CancellationToken), or mark it [Oneway] if it does not close");
        if (parameters.Any(p => p.ParameterType != typeof(CancellationToken)))
            throw Unsupported(method.Name, "a close member takes no parameters (other than a CancellationToken)",
                $"declare it as 'Task {method.Name}()', or mark it [Oneway] if it does not close");
        var clusterMethod = NewMethod(method, parameters, ClusterMethodKind.Close);
        return new CloseMember<T>(clusterMethod, method, new DynamicArgumentsFormatter(clusterMethod.Name, []), CancellationIndex(parameters));
    }

    private DynamicMember<T> BuildInvoke(MethodInfo method, ParameterInfo[] parameters)
    {
        int cancellationIndex = CancellationIndex(parameters);
        var clusterMethod = NewMethod(method, parameters, ClusterMethodKind.Invoke);
        var arguments = ArgumentsFormatter(method, parameters);
        var returnType = method.ReturnType;
        if (returnType == typeof(Task) || returnType == typeof(ValueTask))
            return new VoidInvokeMember<T>(clusterMethod, method, arguments, cancellationIndex);
        var resultType = returnType.GetGenericArguments()[0];
        return Create(typeof(InvokeMember<,>), [_contract, resultType], clusterMethod, method, arguments, cancellationIndex,
            Formatter(method.Name, "result", resultType));
    }

    private DynamicMember<T> BuildOneway(MethodInfo method, ParameterInfo[] parameters)
    {
        if (method.ReturnType != typeof(void))
            throw Unsupported(method.Name, $"return type '{TypeName(method.ReturnType)}' is not supported: a fire-and-forget ([Oneway]) method has no reply",
                "return void, or remove [Oneway] to make it a call");
        var clusterMethod = NewMethod(method, parameters, ClusterMethodKind.Oneway);
        return new VoidCallMember<T>(clusterMethod, method, ArgumentsFormatter(method, parameters), CancellationIndex(parameters));
    }

    private DynamicMember<T> BuildPublish(MethodInfo method, ParameterInfo[] parameters)
    {
        // The generator's rules (CC0009, CC0017, CC0018), as exceptions.
        bool lastValue = method.GetCustomAttribute<PublishAttribute>()?.LastValue ?? false;
        bool token = parameters.Any(p => p.ParameterType == typeof(CancellationToken));
        if (lastValue)
        {
            string? problem = method.ReturnType != typeof(void) ? $"it returns '{TypeName(method.ReturnType)}'"
                : token ? "it takes a CancellationToken (a publication is not awaited)"
                : parameters.Length is 0 or > 2 ? $"it takes {parameters.Length} parameters"
                : null;
            if (problem is not null)
                throw Unsupported(method.Name, $"it is declared [Publish(LastValue = true)] but {problem}",
                    $"declare it as void {method.Name}(TValue value) (the latest value of the member is kept) or void {method.Name}(TKey key, TValue value) (the latest value per key is kept)");
        }
        else if (method.ReturnType == typeof(void) && parameters.Length == 2 && !token)
        {
            throw Unsupported(method.Name, "it is a publication with a key and a value, but only a last-value publication is keyed",
                "add [Publish(LastValue = true)] (the first parameter is then the key), or take a single parameter");
        }
        else if (method.ReturnType != typeof(void) || parameters.Length != 1 || token)
        {
            throw Unsupported(method.Name, "a publish member has the shape void M(TReg reg)", "declare it as void Publish(TReg reg)");
        }
        var clusterMethod = NewMethod(method, parameters, ClusterMethodKind.Publish, lastValue: lastValue);
        return new VoidCallMember<T>(clusterMethod, method, ArgumentsFormatter(method, parameters), cancellationIndex: -1);
    }

    /// <summary>
    /// (registration type, value type, stream form, awaitable) of a subscribe-shaped method, or null: <c>void M(TReg, Action&lt;T&gt;)</c>,
    /// <c>Task|ValueTask M(TReg, Action&lt;T&gt;[, CancellationToken])</c>, <c>IAsyncEnumerable&lt;T&gt; M(TReg[, CancellationToken])</c> and
    /// <c>Task|ValueTask&lt;IAsyncEnumerable&lt;T&gt;&gt; M(TReg[, CancellationToken])</c>.
    /// </summary>
    private static (Type Registration, Type Value, bool Stream, bool Awaitable)? SubscribeShape(MethodInfo method, ParameterInfo[] parameters)
    {
        if (parameters.Length is 0 or > 3 || parameters[0].ParameterType == typeof(CancellationToken)) return null;
        var returnType = method.ReturnType;
        bool token = parameters[^1].ParameterType == typeof(CancellationToken);
        int wire = parameters.Length - (token ? 1 : 0);
        var registration = parameters[0].ParameterType;
        if (wire == 2 && IsGeneric(parameters[1].ParameterType, typeof(Action<>)))
        {
            var value = parameters[1].ParameterType.GetGenericArguments()[0];
            if (returnType == typeof(void) && !token) return (registration, value, false, false);
            if (returnType == typeof(Task) || returnType == typeof(ValueTask)) return (registration, value, false, true);
            return null;
        }
        if (wire != 1) return null;
        if (IsGeneric(returnType, typeof(IAsyncEnumerable<>))) return (registration, returnType.GetGenericArguments()[0], true, false);
        if ((IsGeneric(returnType, typeof(Task<>)) || IsGeneric(returnType, typeof(ValueTask<>)))
            && returnType.GetGenericArguments()[0] is var inner && IsGeneric(inner, typeof(IAsyncEnumerable<>)))
            return (registration, inner.GetGenericArguments()[0], true, true);
        return null;
    }

    private static (Type Registration, Type Value)? UnsubscribeShape(MethodInfo method)
    {
        var parameters = method.GetParameters();
        if (method.ReturnType != typeof(void) || parameters.Length != 2 || parameters[0].ParameterType == typeof(CancellationToken)
            || !IsGeneric(parameters[1].ParameterType, typeof(Action<>))) return null;
        return (parameters[0].ParameterType, parameters[1].ParameterType.GetGenericArguments()[0]);
    }

    private DynamicMember<T> BuildSubscribe(MethodInfo method, ParameterInfo[] parameters)
    {
        var shape = SubscribeShape(method, parameters)
            ?? throw Unsupported(method.Name, "a subscribe member has the shape void M(TReg reg, Action<T> listener) or IAsyncEnumerable<T> M(TReg reg[, CancellationToken ct]), " +
                "or the awaitable Task M(TReg reg, Action<T> listener[, CancellationToken ct]) or Task<IAsyncEnumerable<T>> M(TReg reg[, CancellationToken ct]) (ValueTask alike)",
                "change it to one of these shapes");
        bool broadcast = method.GetCustomAttribute<SubscribeAttribute>()?.Broadcast ?? true;
        var clusterMethod = NewMethod(method, parameters, ClusterMethodKind.Subscribe, broadcast: broadcast, awaitable: shape.Awaitable);
        var registration = Formatter(method.Name, $"registration '{parameters[0].Name}'", shape.Registration);
        var value = Formatter(method.Name, "subscription value", shape.Value);
        var definition = shape.Stream ? typeof(StreamSubscribeMember<,,>) : typeof(ListenerSubscribeMember<,,>);
        return Create(definition, [_contract, shape.Registration, shape.Value], clusterMethod, method, registration, value);
    }

    private DynamicMember<T> BuildUnsubscribe(MethodInfo method)
    {
        var parameters = method.GetParameters();
        var shape = UnsubscribeShape(method)
            ?? throw Unsupported(method.Name, "an unsubscribe member has the shape void M(TReg reg, Action<T>? listener)", "change it to this shape");
        var candidates = Members.OfType<DynamicMember<T>>()
            .Where(m => m is not null && m.GetType().IsGenericType && m.GetType().GetGenericTypeDefinition() == typeof(ListenerSubscribeMember<,,>)
                && m.GetType().GetGenericArguments()[1] == shape.Registration && m.GetType().GetGenericArguments()[2] == shape.Value)
            .ToList();
        if (candidates.Count == 0)
            throw Unsupported(method.Name, $"no listener-form subscribe takes ({TypeName(shape.Registration)}, Action<{TypeName(shape.Value)}>) to pair it with",
                "declare void Subscribe...(TReg reg, Action<T> listener) with the same types, named like the unsubscribe without the 'Un'");
        // Several subscribes may take the same types: UnsubscribeX pairs with SubscribeX, else with the first declared.
        string expected = method.Name.StartsWith("Unsubscribe", StringComparison.Ordinal) ? "Subscribe" + method.Name["Unsubscribe".Length..] : "";
        var paired = candidates.FirstOrDefault(c => c.Method.Name == expected) ?? candidates[0];
        var clusterMethod = NewMethod(method, parameters, ClusterMethodKind.Unsubscribe, pairedId: paired.Method.Id);
        var registration = Formatter(method.Name, $"registration '{parameters[0].Name}'", shape.Registration);
        return Create(typeof(UnsubscribeMember<,,>), [_contract, shape.Registration, shape.Value], clusterMethod, method, registration);
    }

    private ClusterMethod NewMethod(MethodInfo method, ParameterInfo[] parameters, ClusterMethodKind kind, bool broadcast = true, uint pairedId = 0,
        bool awaitable = false, bool lastValue = false)
    {
        string signature = Signature(method, parameters);
        int timeout = 0;
        if (method.GetCustomAttribute<TimeoutAttribute>() is { } attribute)
        {
            if (attribute.Milliseconds <= 0)
                throw Unsupported(method.Name, $"[Timeout({attribute.Milliseconds})] is not positive: a timeout is a number of milliseconds greater than zero",
                    "give a timeout greater than zero, or remove the attribute to use ClusterClientOptions.ResponseTimeout");
            timeout = attribute.Milliseconds;
        }
        bool idempotent = method.IsDefined(typeof(IdempotentAttribute), false);
        return new ClusterMethod(ClusterMethodId.Compute(signature), method.Name, signature, kind, timeout, idempotent, broadcast, pairedId, awaitable, lastValue);
    }

    /// <summary>The canonical signature: <c>{return} {name}({param},{param})</c> without cancellation tokens.</summary>
    internal static string Signature(MethodInfo method, ParameterInfo[] parameters) =>
        ClusterMethodId.CanonicalTypeName(method.ReturnType) + " " + method.Name + "(" +
        string.Join(",", parameters.Where(p => p.ParameterType != typeof(CancellationToken)).Select(p => ClusterMethodId.CanonicalTypeName(p.ParameterType))) + ")";

    private DynamicArgumentsFormatter ArgumentsFormatter(MethodInfo method, ParameterInfo[] parameters)
    {
        var formatters = parameters.Where(p => p.ParameterType != typeof(CancellationToken))
            .Select(p => BoxedFormatter(method.Name, $"parameter '{p.Name}'", p.ParameterType))
            .ToArray();
        return new DynamicArgumentsFormatter(method.Name, formatters);
    }

    private object Formatter(string member, string what, Type type)
    {
        try { return _resolver.GetFormatter(type); }
        catch (UnsupportedTypeException ex) { throw UnsupportedType(member, what, ex); }
    }

    private IBoxedFormatter BoxedFormatter(string member, string what, Type type)
    {
        try { return _resolver.GetBoxedFormatter(type); }
        catch (UnsupportedTypeException ex) { throw UnsupportedType(member, what, ex); }
    }

    private ClusterClientException UnsupportedType(string member, string what, UnsupportedTypeException ex) =>
        new($"'{TypeName(_contract)}.{member}' cannot be shared: its {what} ({ex.Path}): {ex.Message}. " +
            "Use a supported type, or a record/class/struct made of supported types.");

    private ClusterClientException Unsupported(string member, string problem, string fix) =>
        new($"'{TypeName(_contract)}.{member}' cannot be shared: {problem}. Fix: {fix}.");

    private DynamicMember<T> Create(Type definition, Type[] arguments, params object[] constructorArguments) =>
        (DynamicMember<T>)Activator.CreateInstance(definition.MakeGenericType(arguments), constructorArguments)!;

    private static bool IsGeneric(Type type, Type definition) => type.IsGenericType && type.GetGenericTypeDefinition() == definition;

    private static string TypeName(Type type) => ClusterMethodId.CanonicalTypeName(type);
}
