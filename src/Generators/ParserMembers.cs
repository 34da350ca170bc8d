using System;
using System.Collections.Generic;
using System.Linq;
using ClusterSharing.Generators.Models;
using Microsoft.CodeAnalysis;

namespace ClusterSharing.Generators;

internal sealed partial class Parser
{
    private const string AttributeNamespace = "ClusterSharing.";

    /// <summary>Listener-form subscribes with their symbols, so unsubscribes can be paired by type.</summary>
    private readonly List<(MemberSpec Spec, ITypeSymbol Registration, ITypeSymbol Value)> _listenerSubscribes = new();
    private readonly List<(MemberSpec Spec, ITypeSymbol Registration, ITypeSymbol Value, Location? Location)> _unsubscribes = new();

    /// <summary>Set when a member's signature mentions a type the compiler could not resolve: the compiler reports it already.</summary>
    private bool _sawErrorType;

    private readonly Dictionary<int, Location?> _memberLocations = new();

    private List<MemberSpec>? ParseMembers()
    {
        var members = new List<MemberSpec>();
        var sources = new List<INamedTypeSymbol> { _interface };
        // Roslyn and reflection list base interfaces in different orders, so both paths sort them by canonical name.
        sources.AddRange(_interface.AllInterfaces.OrderBy(TypeNames.Canonical, StringComparer.Ordinal));
        foreach (var source in sources)
        {
            foreach (var member in InDeclarationOrder(source))
            {
                _cancellationToken.ThrowIfCancellationRequested();
                // Static members and default implementations need no proxy code.
                if (member.IsStatic || !member.IsAbstract) continue;
                MemberSpec? spec = member switch
                {
                    IPropertySymbol property => ReportProperty(property),
                    IEventSymbol @event => ParseEvent(@event, members.Count),
                    IMethodSymbol { MethodKind: MethodKind.Ordinary } method => ParseMethod(method, members.Count),
                    _ => null,
                };
                if (spec is null) continue;
                members.Add(spec);
                _memberLocations[spec.Index] = LocationOf(member);
            }
        }
        if (_sawErrorType) return null;

        PairUnsubscribes(members);
        ReportDuplicateIds(members);
        return members;
    }

    /// <summary>
    /// Members in declaration order as reflection sees it (metadata token order, an event at its add accessor): source
    /// members come in declaration order and are emitted that way; a referenced assembly's members are sorted by token.
    /// </summary>
    private static IEnumerable<ISymbol> InDeclarationOrder(INamedTypeSymbol type)
    {
        var members = type.GetMembers();
        if (type.Locations.Any(l => l.IsInSource)) return members;
        // A constructed generic base (IBase<int>) reads its tokens from the definition.
        return members.OrderBy(m => m is IEventSymbol { AddMethod: { } add } ? add.OriginalDefinition.MetadataToken : m.OriginalDefinition.MetadataToken);
    }

    private MemberSpec? ReportProperty(IPropertySymbol property)
    {
        Report(Diagnostics.PropertyMember, LocationOf(property), property.IsIndexer ? "this[]" : property.Name);
        return null;
    }

    private Location? LocationOf(ISymbol member) =>
        member.Locations.FirstOrDefault(l => l.IsInSource) ?? _interface.Locations.FirstOrDefault();

    private static bool HasAttribute(ISymbol symbol, string name) =>
        symbol.GetAttributes().Any(a => a.AttributeClass?.ToDisplayString() == AttributeNamespace + name);

    private ReturnShape? ShapeOf(ITypeSymbol type)
    {
        if (type.SpecialType == SpecialType.System_Void) return ReturnShape.Void;
        var definition = type.OriginalDefinition;
        if (Same(type, _known.Task)) return ReturnShape.Task;
        if (Same(type, _known.ValueTask)) return ReturnShape.ValueTask;
        if (Same(definition, _known.TaskOfT)) return ReturnShape.TaskOfT;
        if (Same(definition, _known.ValueTaskOfT)) return ReturnShape.ValueTaskOfT;
        if (Same(definition, _known.AsyncEnumerable)) return ReturnShape.AsyncEnumerable;
        return null;
    }

    private static bool Same(ITypeSymbol? a, ITypeSymbol? b) => a is not null && b is not null && SymbolEqualityComparer.Default.Equals(a, b);

    private bool IsCancellationToken(ITypeSymbol type) => Same(type, _known.CancellationToken);

    private bool IsAction(ITypeSymbol type) => Same(type.OriginalDefinition, _known.Action);

    private bool SawErrorType(IMethodSymbol method)
    {
        bool Bad(ITypeSymbol t) => t.TypeKind == TypeKind.Error || (t is INamedTypeSymbol n && n.TypeArguments.Any(Bad)) || (t is IArrayTypeSymbol a && Bad(a.ElementType));
        if (Bad(method.ReturnType) || method.Parameters.Any(p => Bad(p.Type))) { _sawErrorType = true; return true; }
        return false;
    }

    private MemberKind? Classify(IMethodSymbol method, ReturnShape? shape, Location? location)
    {
        if (HasAttribute(method, "CloseAttribute")) return MemberKind.Close;
        if (HasAttribute(method, "SubscribeAttribute")) return MemberKind.SubscribeListener;
        if (HasAttribute(method, "UnsubscribeAttribute")) return MemberKind.Unsubscribe;
        if (HasAttribute(method, "PublishAttribute")) return MemberKind.Publish;
        if (HasAttribute(method, "OnewayAttribute")) return MemberKind.Oneway;
        // Dispose/DisposeAsync end this process's use of the shared client; as oneways they would dispose the leader's real client for everyone.
        if (method.Name is "Close" or "CloseAsync"
            || (method.Name == "DisposeAsync" && Same(method.ContainingType, _known.AsyncDisposable))
            || (method.Name == "Dispose" && Same(method.ContainingType, _known.Disposable)))
            return MemberKind.Close;
        // Names classify only void and async-stream methods: 'Task PublishAsync(...)' stays an ordinary call.
        if (shape is ReturnShape.Void or ReturnShape.AsyncEnumerable)
        {
            if (method.Name.StartsWith("Unsubscribe", StringComparison.Ordinal)) return MemberKind.Unsubscribe;
            if (method.Name.StartsWith("Subscribe", StringComparison.Ordinal)) return MemberKind.SubscribeListener;
            if (method.Name.StartsWith("Publish", StringComparison.Ordinal)) return MemberKind.Publish;
            if (shape == ReturnShape.Void) return MemberKind.Oneway;
            Report(Diagnostics.UnsupportedReturnType, location, method.Name, method.ReturnType.ToDisplayString(),
                "an async stream is a subscription: name the method Subscribe... or add [Subscribe], with the signature 'IAsyncEnumerable<T> M(TReg registration, CancellationToken cancellationToken)'");
            return null;
        }
        // A task-returning Subscribe* of an awaitable subscription's shape subscribes; any other 'Task SubscribeX(...)' stays a call.
        if (method.Name.StartsWith("Subscribe", StringComparison.Ordinal) && shape is not null
            && (AwaitableListenerShape(method, shape.Value) || StreamOf(method, shape.Value) is not null))
            return MemberKind.SubscribeListener;
        if (shape is ReturnShape.Task or ReturnShape.TaskOfT or ReturnShape.ValueTask or ReturnShape.ValueTaskOfT) return MemberKind.Invoke;
        Report(Diagnostics.UnsupportedReturnType, location, method.Name, method.ReturnType.ToDisplayString(),
            "a remote call must be asynchronous; return Task, Task<T>, ValueTask or ValueTask<T> for a call, or void for a fire-and-forget call");
        return null;
    }

    private MemberSpec? ParseMethod(IMethodSymbol method, int index)
    {
        var location = LocationOf(method);
        string name = method.Name;
        if (SawErrorType(method)) return null;
        if (method.IsGenericMethod)
        {
            Report(Diagnostics.GenericMethod, location, name);
            return null;
        }
        bool byRef = false;
        foreach (var parameter in method.Parameters)
        {
            if (parameter.RefKind == RefKind.None) continue;
            string how = parameter.RefKind switch { RefKind.Ref => "ref", RefKind.Out => "out", RefKind.In => "in", _ => "ref readonly" };
            Report(Diagnostics.RefParameter, location, name, parameter.Name, how);
            byRef = true;
        }
        if (byRef) return null;

        var tokens = method.Parameters.Where(p => IsCancellationToken(p.Type)).ToList();
        if (tokens.Count > 1 || (tokens.Count == 1 && !SymbolEqualityComparer.Default.Equals(tokens[0], method.Parameters[method.Parameters.Length - 1])))
        {
            Report(Diagnostics.CancellationTokenNotLast, location, name);
            return null;
        }

        var shape = ShapeOf(method.ReturnType);
        var kind = Classify(method, shape, location);
        if (kind is null) return null;

        var wireParameters = method.Parameters.Where(p => !IsCancellationToken(p.Type)).ToList();
        string signature = TypeNames.Canonical(method.ReturnType) + " " + name + "("
            + string.Join(",", wireParameters.Select(p => TypeNames.Canonical(p.Type))) + ")";
        int timeout = 0;
        var timeoutAttribute = method.GetAttributes().FirstOrDefault(a => a.AttributeClass?.ToDisplayString() == AttributeNamespace + "TimeoutAttribute");
        if (timeoutAttribute is { ConstructorArguments.Length: 1 } && timeoutAttribute.ConstructorArguments[0].Value is int milliseconds)
        {
            // 0 on the wire means "the option's default": [Timeout(0)] would silently be no timeout at all (the dynamic path refuses it too).
            if (milliseconds <= 0)
            {
                Report(Diagnostics.NonPositiveTimeout, location, name, milliseconds.ToString(System.Globalization.CultureInfo.InvariantCulture));
                return null;
            }
            timeout = milliseconds;
        }
        bool broadcast = method.GetAttributes()
            .Where(a => a.AttributeClass?.ToDisplayString() == AttributeNamespace + "SubscribeAttribute")
            .SelectMany(a => a.NamedArguments)
            .Where(n => n.Key == "Broadcast" && n.Value.Value is bool)
            .Select(n => (bool)n.Value.Value!)
            .DefaultIfEmpty(true)
            .First();

        var spec = new MemberSpec(
            index, kind.Value, TypeNames.Identifier(name), name,
            method.ContainingType.ToDisplayString(TypeNames.Plain),
            signature, TypeNames.Fnv1a(signature),
            method.ReturnType.ToDisplayString(TypeNames.Declared), shape ?? ReturnShape.Void,
            ResultFormatter: null, ResultFormatterType: null,
            Parameters: EquatableArray<ParameterSpec>.Empty,
            Registration: null, Value: null, PairedIndex: -1, PairedId: 0,
            TimeoutMilliseconds: timeout, Idempotent: HasAttribute(method, "IdempotentAttribute"), Broadcast: broadcast);

        return kind.Value switch
        {
            MemberKind.Invoke => CompleteInvoke(spec, method, location),
            MemberKind.Oneway => CompleteOneway(spec, method, location),
            MemberKind.SubscribeListener => CompleteSubscribe(spec, method, location),
            MemberKind.Unsubscribe => CompleteUnsubscribe(spec, method, location),
            MemberKind.Publish => CompletePublish(spec, method, location),
            _ => CompleteClose(spec, method, location),
        };
    }

    private EquatableArray<ParameterSpec>? WireParameters(IMethodSymbol method, string member, bool serializeAll = true)
    {
        var result = new List<ParameterSpec>();
        bool ok = true;
        foreach (var p in method.Parameters)
        {
            string type = p.Type.ToDisplayString(TypeNames.Declared);
            if (IsCancellationToken(p.Type) || !serializeAll)
            {
                result.Add(new ParameterSpec(TypeNames.Identifier(p.Name), type, IsCancellationToken(p.Type), null, null));
                continue;
            }
            string? formatter = Resolve(p.Type, TypeDisplay(p.Type), member, LocationOf(method));
            if (formatter is null) { ok = false; continue; }
            result.Add(new ParameterSpec(TypeNames.Identifier(p.Name), type, false, formatter, TypeNames.FormatterType(p.Type)));
        }
        return ok ? result.ToEquatableArray() : null;
    }

    private MemberSpec? CompleteInvoke(MemberSpec spec, IMethodSymbol method, Location? location)
    {
        var parameters = WireParameters(method, spec.DisplayName);
        string? resultFormatter = null, resultType = null;
        if (spec.Shape is ReturnShape.TaskOfT or ReturnShape.ValueTaskOfT)
        {
            var result = ((INamedTypeSymbol)method.ReturnType).TypeArguments[0];
            resultFormatter = Resolve(result, TypeDisplay(result), spec.DisplayName, location);
            if (resultFormatter is null) return null;
            resultType = TypeNames.FormatterType(result);
        }
        if (parameters is null) return null;
        return spec with { Parameters = parameters.Value, ResultFormatter = resultFormatter, ResultFormatterType = resultType };
    }

    private MemberSpec? CompleteOneway(MemberSpec spec, IMethodSymbol method, Location? location)
    {
        if (spec.Shape != ReturnShape.Void)
        {
            Report(Diagnostics.UnsupportedReturnType, location, spec.DisplayName, method.ReturnType.ToDisplayString(),
                "a fire-and-forget ([Oneway]) method has no reply; return void, or remove [Oneway] to make it a call");
            return null;
        }
        var parameters = WireParameters(method, spec.DisplayName);
        return parameters is null ? null : spec with { Parameters = parameters.Value };
    }

    /// <summary><c>Task|ValueTask M(TReg reg, Action&lt;T&gt; listener[, CancellationToken ct])</c>.</summary>
    private bool AwaitableListenerShape(IMethodSymbol method, ReturnShape shape)
    {
        var ps = method.Parameters;
        return shape is ReturnShape.Task or ReturnShape.ValueTask
            && (ps.Length == 2 || (ps.Length == 3 && IsCancellationToken(ps[2].Type)))
            && !IsCancellationToken(ps[0].Type) && IsAction(ps[1].Type);
    }

    /// <summary>
    /// The stream type of <c>IAsyncEnumerable&lt;T&gt; M(TReg reg[, CancellationToken ct])</c> or its awaitable form
    /// <c>Task|ValueTask&lt;IAsyncEnumerable&lt;T&gt;&gt; M(TReg reg[, CancellationToken ct])</c>; otherwise null.
    /// </summary>
    private INamedTypeSymbol? StreamOf(IMethodSymbol method, ReturnShape shape)
    {
        var ps = method.Parameters;
        if (!((ps.Length == 1 && !IsCancellationToken(ps[0].Type)) || (ps.Length == 2 && !IsCancellationToken(ps[0].Type) && IsCancellationToken(ps[1].Type))))
            return null;
        if (shape == ReturnShape.AsyncEnumerable) return (INamedTypeSymbol)method.ReturnType;
        if (shape is ReturnShape.TaskOfT or ReturnShape.ValueTaskOfT
            && ((INamedTypeSymbol)method.ReturnType).TypeArguments[0] is INamedTypeSymbol inner && Same(inner.OriginalDefinition, _known.AsyncEnumerable))
            return inner;
        return null;
    }

    private MemberSpec? CompleteSubscribe(MemberSpec spec, IMethodSymbol method, Location? location)
    {
        var ps = method.Parameters;
        bool listener = (spec.Shape == ReturnShape.Void && ps.Length == 2 && !IsCancellationToken(ps[0].Type) && IsAction(ps[1].Type))
            || AwaitableListenerShape(method, spec.Shape);
        var streamType = listener ? null : StreamOf(method, spec.Shape);
        if (!listener && streamType is null)
        {
            Report(Diagnostics.WrongSubscribeSignature, location, spec.DisplayName);
            return null;
        }
        var registration = ps[0].Type;
        var value = listener ? ((INamedTypeSymbol)ps[1].Type).TypeArguments[0] : streamType!.TypeArguments[0];
        var reg = Formatted(registration, spec.DisplayName, location);
        var val = Formatted(value, spec.DisplayName, location);
        if (reg is null || val is null) return null;
        var parameters = WireParameters(method, spec.DisplayName, serializeAll: false)!.Value;
        var result = spec with
        {
            Kind = listener ? MemberKind.SubscribeListener : MemberKind.SubscribeStream,
            Awaitable = spec.Shape is not (ReturnShape.Void or ReturnShape.AsyncEnumerable),
            Parameters = parameters,
            Registration = reg,
            Value = val,
        };
        if (listener) _listenerSubscribes.Add((result, registration, value));
        return result;
    }

    private MemberSpec? CompleteUnsubscribe(MemberSpec spec, IMethodSymbol method, Location? location)
    {
        var ps = method.Parameters;
        if (spec.Shape != ReturnShape.Void || ps.Length != 2 || IsCancellationToken(ps[0].Type) || !IsAction(ps[1].Type))
        {
            Report(Diagnostics.WrongUnsubscribeSignature, location, spec.DisplayName, "its signature does not have that shape");
            return null;
        }
        var registration = ps[0].Type;
        var value = ((INamedTypeSymbol)ps[1].Type).TypeArguments[0];
        var reg = Formatted(registration, spec.DisplayName, location);
        var val = Formatted(value, spec.DisplayName, location);
        if (reg is null || val is null) return null;
        var result = spec with
        {
            Parameters = WireParameters(method, spec.DisplayName, serializeAll: false)!.Value,
            Registration = reg,
            Value = val,
        };
        _unsubscribes.Add((result, registration, value, location));
        return result;
    }

    private MemberSpec? CompletePublish(MemberSpec spec, IMethodSymbol method, Location? location)
    {
        var ps = method.Parameters;
        bool lastValue = method.GetAttributes()
            .Where(a => a.AttributeClass?.ToDisplayString() == AttributeNamespace + "PublishAttribute")
            .SelectMany(a => a.NamedArguments)
            .Any(n => n.Key == "LastValue" && n.Value.Value is true);
        bool token = ps.Any(p => IsCancellationToken(p.Type));
        if (lastValue)
        {
            string? problem = spec.Shape != ReturnShape.Void ? $"it returns '{method.ReturnType.ToDisplayString()}'"
                : token ? "it takes a CancellationToken (a publication is not awaited)"
                : ps.Length is 0 or > 2 ? $"it takes {ps.Length.ToString(System.Globalization.CultureInfo.InvariantCulture)} parameters"
                : null;
            if (problem is not null)
            {
                Report(Diagnostics.WrongLastValuePublishSignature, location, spec.DisplayName, problem);
                return null;
            }
        }
        else if (spec.Shape == ReturnShape.Void && ps.Length == 2 && !token)
        {
            Report(Diagnostics.KeyedPublicationWithoutLastValue, location, spec.DisplayName);
            return null;
        }
        else if (spec.Shape != ReturnShape.Void || ps.Length != 1 || token)
        {
            Report(Diagnostics.WrongPublishSignature, location, spec.DisplayName);
            return null;
        }
        var parameters = WireParameters(method, spec.DisplayName);
        return parameters is null ? null : spec with { Parameters = parameters.Value, LastValue = lastValue };
    }

    private MemberSpec? CompleteClose(MemberSpec spec, IMethodSymbol method, Location? location)
    {
        if (spec.Shape is not (ReturnShape.Void or ReturnShape.Task or ReturnShape.ValueTask))
        {
            Report(Diagnostics.WrongCloseSignature, location, spec.DisplayName, $"it returns '{method.ReturnType.ToDisplayString()}'");
            return null;
        }
        if (method.Parameters.Any(p => !IsCancellationToken(p.Type)))
        {
            Report(Diagnostics.WrongCloseSignature, location, spec.DisplayName, "it takes parameters");
            return null;
        }
        return spec with { Parameters = WireParameters(method, spec.DisplayName, serializeAll: false)!.Value };
    }

    private MemberSpec? ParseEvent(IEventSymbol @event, int index)
    {
        var location = LocationOf(@event);
        if (@event.Type.TypeKind == TypeKind.Error) { _sawErrorType = true; return null; }
        if (@event.Type is not INamedTypeSymbol handler || !Same(handler.OriginalDefinition, _known.EventHandlerOfT))
        {
            Report(Diagnostics.UnsupportedEvent, location, @event.Name, @event.Type.ToDisplayString());
            return null;
        }
        var value = handler.TypeArguments[0];
        var val = Formatted(value, @event.Name, location);
        if (val is null) return null;
        string signature = "event " + TypeNames.Canonical(handler) + " " + @event.Name;
        return new MemberSpec(
            index, MemberKind.Event, TypeNames.Identifier(@event.Name), @event.Name,
            @event.ContainingType.ToDisplayString(TypeNames.Plain),
            signature, TypeNames.Fnv1a(signature),
            @event.Type.ToDisplayString(TypeNames.Declared), ReturnShape.Void,
            null, null, EquatableArray<ParameterSpec>.Empty, null, val, -1, 0, 0, false, true);
    }

    private FormattedType? Formatted(ITypeSymbol type, string member, Location? location)
    {
        string? formatter = Resolve(type, TypeDisplay(type), member, location);
        return formatter is null ? null : new FormattedType(formatter, TypeNames.FormatterType(type));
    }

    private static string TypeDisplay(ITypeSymbol type) => type.ToDisplayString(SymbolDisplayFormat.MinimallyQualifiedFormat);

    /// <summary>
    /// Pairs each unsubscribe with the listener-form subscribe of the same registration and value types; among several,
    /// the one named like it (UnsubscribeX with SubscribeX), else the first declared (as the dynamic fallback does).
    /// </summary>
    private void PairUnsubscribes(List<MemberSpec> members)
    {
        foreach (var (spec, registration, value, location) in _unsubscribes)
        {
            var candidates = _listenerSubscribes
                .Where(s => SymbolEqualityComparer.Default.Equals(s.Registration, registration) && SymbolEqualityComparer.Default.Equals(s.Value, value))
                .Select(s => s.Spec)
                .ToList();
            if (candidates.Count == 0)
            {
                Report(Diagnostics.WrongUnsubscribeSignature, location, spec.DisplayName,
                    $"no listener-form subscribe of this interface takes ({TypeDisplay(registration)}, Action<{TypeDisplay(value)}>)");
                continue;
            }
            string expected = "Subscribe" + (spec.DisplayName.StartsWith("Unsubscribe", StringComparison.Ordinal)
                ? spec.DisplayName.Substring("Unsubscribe".Length)
                : spec.DisplayName);
            var paired = candidates.FirstOrDefault(c => c.DisplayName == expected) ?? candidates[0];
            int at = members.FindIndex(m => m.Index == spec.Index);
            members[at] = members[at] with { PairedIndex = paired.Index, PairedId = paired.Id };
        }
    }

    private void ReportDuplicateIds(List<MemberSpec> members)
    {
        var seen = new Dictionary<uint, MemberSpec>();
        foreach (var member in members)
        {
            if (seen.TryGetValue(member.Id, out var first))
            {
                Report(Diagnostics.DuplicateMethodId, _memberLocations[member.Index], member.DisplayName,
                    member.Id.ToString("x8", System.Globalization.CultureInfo.InvariantCulture), first.DisplayName, member.Signature);
            }
            else
            {
                seen.Add(member.Id, member);
            }
        }
    }
}
