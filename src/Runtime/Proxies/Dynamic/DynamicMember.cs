using System.Diagnostics.CodeAnalysis;
using System.Reflection;
using MessagePack;
using MessagePack.Formatters;

namespace ClusterSharing.Proxies.Dynamic;

/// <summary>
/// One contract member as the dynamic path handles it: the proxy side (<see cref="Intercept"/>, called by the Castle
/// interceptor) and the leader side (dispatch, subscribe, unsubscribe), with formatters resolved up front.
/// </summary>
internal abstract class DynamicMember<T>(ClusterMethod method) where T : class
{
    public ClusterMethod Method { get; } = method;

    /// <summary>Proxy side: the call <paramref name="called"/> with <paramref name="arguments"/> (every parameter, as Castle passes them).</summary>
    public abstract object? Intercept(T proxy, IClusterInvoker<T> invoker, MethodInfo called, object?[] arguments);

    public virtual ValueTask DispatchAsync(T target, ref MessagePackReader arguments, MessagePackSerializerOptions options, IReplyWriter reply, CancellationToken cancellationToken) =>
        throw new ArgumentException($"{Method} is a {Method.Kind} member; only Invoke, Oneway, Publish and Close members are dispatched.", nameof(Method));

    public virtual object Subscribe(T target, ref MessagePackReader registration, MessagePackSerializerOptions options, ISubscriptionSink sink) =>
        throw new ArgumentException($"{Method} is a {Method.Kind} member; only Subscribe and Event members can be subscribed.", nameof(Method));

    public virtual bool Unsubscribe(T target, DynamicMember<T>? unsubscribe, ref MessagePackReader registration, MessagePackSerializerOptions options, object token) =>
        throw new ArgumentException($"{Method} is a {Method.Kind} member; only Subscribe and Event members can be unsubscribed.", nameof(Method));

    /// <summary>Calls the real member; exceptions are the member's own (never a <see cref="TargetInvocationException"/>).</summary>
    protected static object? Call(MethodInfo member, T target, object?[] arguments) =>
        member.Invoke(target, BindingFlags.DoNotWrapExceptions, binder: null, arguments, culture: null);
}

/// <summary>Base of the members whose arguments travel as one array: invoke, oneway, publish, close.</summary>
[RequiresDynamicCode(DynamicClusterContract.RequiresDynamicCodeMessage)]
[RequiresUnreferencedCode(DynamicClusterContract.RequiresUnreferencedCodeMessage)]
internal abstract class CallMember<T>(ClusterMethod method, MethodInfo member, DynamicArgumentsFormatter arguments, int cancellationIndex)
    : DynamicMember<T>(method) where T : class
{
    protected MethodInfo Member { get; } = member;

    protected DynamicArgumentsFormatter Arguments { get; } = arguments;

    /// <summary>Position of the <see cref="CancellationToken"/> parameter, or -1.</summary>
    protected int CancellationIndex { get; } = cancellationIndex;

    /// <summary>The values that go on the wire: every argument except the cancellation token.</summary>
    protected object?[] WireArguments(object?[] arguments)
    {
        if (CancellationIndex < 0) return arguments;
        var wire = new object?[arguments.Length - 1];
        for (int i = 0, j = 0; i < arguments.Length; i++)
        {
            if (i != CancellationIndex) wire[j++] = arguments[i];
        }
        return wire;
    }

    protected CancellationToken TokenOf(object?[] arguments) =>
        CancellationIndex >= 0 && arguments[CancellationIndex] is CancellationToken token ? token : CancellationToken.None;

    /// <summary>Reads the argument array and puts <paramref name="cancellationToken"/> where the method takes it.</summary>
    protected object?[] ReadCallArguments(ref MessagePackReader reader, MessagePackSerializerOptions options, CancellationToken cancellationToken)
    {
        var wire = Arguments.Deserialize(ref reader, options);
        if (CancellationIndex < 0) return wire;
        var call = new object?[wire.Length + 1];
        for (int i = 0, j = 0; i < call.Length; i++)
        {
            call[i] = i == CancellationIndex ? cancellationToken : wire[j++];
        }
        return call;
    }

    /// <summary>Reads the arguments synchronously, then calls the real member; its exceptions fault the returned task.</summary>
    public override ValueTask DispatchAsync(T target, ref MessagePackReader arguments, MessagePackSerializerOptions options, IReplyWriter reply,
        CancellationToken cancellationToken)
    {
        var call = ReadCallArguments(ref arguments, options, cancellationToken);
        return CallAndComplete(target, call, options, reply);
    }

    protected ValueTask CallAndComplete(T target, object?[] call, MessagePackSerializerOptions options, IReplyWriter reply)
    {
        object? returned;
        try { returned = Call(Member, target, call); }
        catch (Exception ex) { return ValueTask.FromException(ex); }
        return Complete(returned, options, reply);
    }

    /// <summary>Awaits what the real member returned and writes the reply, as the kind requires.</summary>
    protected abstract ValueTask Complete(object? returned, MessagePackSerializerOptions options, IReplyWriter reply);

    protected InvalidOperationException NullTask() =>
        new($"'{Method.Name}' of the real client returned a null {Member.ReturnType.Name}; return a completed task instead.");
}

/// <summary>A <c>Task</c> or <c>ValueTask</c> member.</summary>
[RequiresDynamicCode(DynamicClusterContract.RequiresDynamicCodeMessage)]
[RequiresUnreferencedCode(DynamicClusterContract.RequiresUnreferencedCodeMessage)]
internal sealed class VoidInvokeMember<T>(ClusterMethod method, MethodInfo member, DynamicArgumentsFormatter arguments, int cancellationIndex)
    : CallMember<T>(method, member, arguments, cancellationIndex) where T : class
{
    private readonly bool _returnsTask = member.ReturnType == typeof(Task);

    public override object? Intercept(T proxy, IClusterInvoker<T> invoker, MethodInfo called, object?[] arguments)
    {
        if (invoker.LocalTarget is { } local) return Call(Member, local, arguments);
        var pending = invoker.InvokeAsync(Method, WireArguments(arguments), Arguments, TokenOf(arguments));
        return _returnsTask ? pending.AsTask() : pending;
    }

    protected override ValueTask Complete(object? returned, MessagePackSerializerOptions options, IReplyWriter reply) => returned switch
    {
        Task task => AwaitAsync(new ValueTask(task), reply),
        ValueTask valueTask => AwaitAsync(valueTask, reply),
        _ => ValueTask.FromException(NullTask()),
    };

    private static async ValueTask AwaitAsync(ValueTask pending, IReplyWriter reply)
    {
        await pending.ConfigureAwait(false);
        reply.WriteVoid();
    }
}

/// <summary>A <c>Task&lt;TResult&gt;</c> or <c>ValueTask&lt;TResult&gt;</c> member.</summary>
[RequiresDynamicCode(DynamicClusterContract.RequiresDynamicCodeMessage)]
[RequiresUnreferencedCode(DynamicClusterContract.RequiresUnreferencedCodeMessage)]
internal sealed class InvokeMember<T, TResult>(ClusterMethod method, MethodInfo member, DynamicArgumentsFormatter arguments, int cancellationIndex,
    IMessagePackFormatter<TResult> result) : CallMember<T>(method, member, arguments, cancellationIndex) where T : class
{
    private readonly bool _returnsTask = member.ReturnType == typeof(Task<TResult>);

    public override object? Intercept(T proxy, IClusterInvoker<T> invoker, MethodInfo called, object?[] arguments)
    {
        if (invoker.LocalTarget is { } local) return Call(Member, local, arguments);
        var pending = invoker.InvokeAsync(Method, WireArguments(arguments), Arguments, result, TokenOf(arguments));
        return _returnsTask ? pending.AsTask() : pending;
    }

    protected override ValueTask Complete(object? returned, MessagePackSerializerOptions options, IReplyWriter reply) => returned switch
    {
        Task<TResult> task => AwaitAsync(new ValueTask<TResult>(task), options, reply),
        ValueTask<TResult> valueTask => AwaitAsync(valueTask, options, reply),
        _ => ValueTask.FromException(NullTask()),
    };

    private async ValueTask AwaitAsync(ValueTask<TResult> pending, MessagePackSerializerOptions options, IReplyWriter reply)
    {
        var value = await pending.ConfigureAwait(false);
        reply.WriteResult(value, result, options);
    }
}

/// <summary>
/// A <c>void</c> member with no reply: a oneway (<c>[Oneway]</c> or a plain void method), which the leader's own process
/// runs directly, or a publication, <c>void M(TReg reg)</c>, which always goes through the invoker so it can be replayed
/// after failover.
/// </summary>
[RequiresDynamicCode(DynamicClusterContract.RequiresDynamicCodeMessage)]
[RequiresUnreferencedCode(DynamicClusterContract.RequiresUnreferencedCodeMessage)]
internal sealed class VoidCallMember<T>(ClusterMethod method, MethodInfo member, DynamicArgumentsFormatter arguments, int cancellationIndex)
    : CallMember<T>(method, member, arguments, cancellationIndex) where T : class
{
    public override object? Intercept(T proxy, IClusterInvoker<T> invoker, MethodInfo called, object?[] arguments)
    {
        if (Method.Kind == ClusterMethodKind.Publish) invoker.Publish(Method, arguments, Arguments);
        else if (invoker.LocalTarget is { } local) Call(Member, local, arguments);
        else invoker.InvokeOneway(Method, WireArguments(arguments), Arguments);
        return null;
    }

    protected override ValueTask Complete(object? returned, MessagePackSerializerOptions options, IReplyWriter reply) => default;
}

/// <summary>
/// A close member (<c>[Close]</c>, <c>Close</c>/<c>CloseAsync</c>, <c>Dispose</c>, <c>DisposeAsync</c>) returning void, Task or ValueTask,
/// optionally taking a last <see cref="CancellationToken"/> (passed on the leader, not sent).
/// </summary>
[RequiresDynamicCode(DynamicClusterContract.RequiresDynamicCodeMessage)]
[RequiresUnreferencedCode(DynamicClusterContract.RequiresUnreferencedCodeMessage)]
internal sealed class CloseMember<T>(ClusterMethod method, MethodInfo member, DynamicArgumentsFormatter arguments, int cancellationIndex)
    : CallMember<T>(method, member, arguments, cancellationIndex) where T : class
{
    public override object? Intercept(T proxy, IClusterInvoker<T> invoker, MethodInfo called, object?[] arguments)
    {
        var closing = invoker.CloseAsync(Method);
        if (Member.ReturnType == typeof(Task)) return closing.AsTask();
        if (Member.ReturnType == typeof(ValueTask)) return closing;
        // A synchronous Close promises the handle is closed when it returns, so it waits (as generated code does);
        // there is no asynchronous caller to hand a task to.
        if (!closing.IsCompletedSuccessfully) closing.AsTask().GetAwaiter().GetResult();
        return null;
    }

    /// <summary>
    /// <see cref="IClusterInvoker{T}.CloseAsync"/> has no arguments, so the runtime may send an empty array or nothing at all;
    /// both are accepted.
    /// </summary>
    public override ValueTask DispatchAsync(T target, ref MessagePackReader arguments, MessagePackSerializerOptions options, IReplyWriter reply,
        CancellationToken cancellationToken)
    {
        if (!arguments.End) return base.DispatchAsync(target, ref arguments, options, reply, cancellationToken);
        return CallAndComplete(target, CancellationIndex >= 0 ? [cancellationToken] : [], options, reply);
    }

    protected override ValueTask Complete(object? returned, MessagePackSerializerOptions options, IReplyWriter reply) => returned switch
    {
        Task task => new ValueTask(task),
        ValueTask valueTask => valueTask,
        _ => default,
    };
}

/// <summary>A listener-form subscription, <c>void M(TReg reg, Action&lt;TValue&gt; listener)</c>.</summary>
internal sealed class ListenerSubscribeMember<T, TReg, TValue>(ClusterMethod method, MethodInfo member,
    IMessagePackFormatter<TReg> registration, IMessagePackFormatter<TValue> value) : DynamicMember<T>(method) where T : class
{
    public override object? Intercept(T proxy, IClusterInvoker<T> invoker, MethodInfo called, object?[] arguments)
    {
        var listener = arguments[1] as Action<TValue> ?? throw new ArgumentNullException("listener", $"'{Method.Name}' needs a listener.");
        if (!Method.Awaitable)
        {
            invoker.Subscribe(Method, (TReg)arguments[0]!, registration, listener, value);
            return null;
        }
        var pending = invoker.SubscribeAsync(Method, (TReg)arguments[0]!, registration, listener, value, arguments is [_, _, CancellationToken token] ? token : default);
        return member.ReturnType == typeof(Task) ? pending.AsTask() : pending;
    }

    public override object Subscribe(T target, ref MessagePackReader reader, MessagePackSerializerOptions options, ISubscriptionSink sink)
    {
        var reg = registration.Deserialize(ref reader, options);
        Action<TValue> listener = v => sink.OnValue(v, value, options);
        if (!Method.Awaitable)
        {
            Call(member, target, [reg, listener]);
            return listener;
        }
        // The leader counts the subscription as held once the real member's task completes.
        object? returned = Call(member, target, member.GetParameters().Length == 3 ? [reg, listener, CancellationToken.None] : [reg, listener]);
        var attached = returned switch
        {
            Task task => task,
            ValueTask valueTask => valueTask.AsTask(),
            _ => throw new InvalidOperationException($"'{Method.Name}' of the real client returned a null task; return a completed task instead."),
        };
        return new PendingSubscription(listener, attached);
    }

    public override bool Unsubscribe(T target, DynamicMember<T>? unsubscribe, ref MessagePackReader reader, MessagePackSerializerOptions options, object token)
    {
        if (token is not Action<TValue> listener || unsubscribe is not UnsubscribeMember<T, TReg, TValue> paired) return false;
        paired.CallReal(target, ref reader, options, listener);
        return true;
    }
}

/// <summary>An async-stream subscription, <c>IAsyncEnumerable&lt;TValue&gt; M(TReg reg, CancellationToken ct)</c>.</summary>
internal sealed class StreamSubscribeMember<T, TReg, TValue>(ClusterMethod method, MethodInfo member,
    IMessagePackFormatter<TReg> registration, IMessagePackFormatter<TValue> value) : DynamicMember<T>(method) where T : class
{
    public override object? Intercept(T proxy, IClusterInvoker<T> invoker, MethodInfo called, object?[] arguments)
    {
        var token = arguments is [_, CancellationToken given] ? given : default;
        if (!Method.Awaitable) return invoker.SubscribeStream(Method, (TReg)arguments[0]!, registration, value, token);
        var pending = invoker.SubscribeStreamAsync(Method, (TReg)arguments[0]!, registration, value, token);
        return IsGeneric(member.ReturnType, typeof(Task<>)) ? pending.AsTask() : pending;
    }

    public override object Subscribe(T target, ref MessagePackReader reader, MessagePackSerializerOptions options, ISubscriptionSink sink)
    {
        var reg = registration.Deserialize(ref reader, options);
        var handle = new StreamHandle();
        // The stream form may or may not take a CancellationToken; WithCancellation below stops it either way.
        object?[] call = member.GetParameters().Length == 2 ? [reg, handle.Token] : [reg];
        var returned = Call(member, target, call);
        if (Method.Awaitable)
        {
            var pending = returned switch
            {
                Task<IAsyncEnumerable<TValue>> task => task,
                ValueTask<IAsyncEnumerable<TValue>> valueTask => valueTask.AsTask(),
                _ => throw new InvalidOperationException($"'{Method.Name}' of the real client returned a null task; return a completed task instead."),
            };
            _ = PumpAfterAsync(pending, sink, options, handle);
            return new PendingSubscription(handle, pending);
        }
        var stream = returned as IAsyncEnumerable<TValue>
            ?? throw new InvalidOperationException($"'{Method.Name}' of the real client returned a null stream; return an empty IAsyncEnumerable instead.");
        _ = PumpAsync(stream, sink, options, handle);
        return handle;
    }

    private static bool IsGeneric(Type type, Type definition) => type.IsGenericType && type.GetGenericTypeDefinition() == definition;

    private async Task PumpAfterAsync(Task<IAsyncEnumerable<TValue>> pending, ISubscriptionSink sink, MessagePackSerializerOptions options, StreamHandle handle)
    {
        IAsyncEnumerable<TValue> stream;
        // A failed real subscribe is reported by the leader through the task it awaits; nothing is pumped then.
        try { stream = await pending.ConfigureAwait(false); }
        catch (Exception) { return; }
        await PumpAsync(stream, sink, options, handle).ConfigureAwait(false);
    }

    private async Task PumpAsync(IAsyncEnumerable<TValue> stream, ISubscriptionSink sink, MessagePackSerializerOptions options, StreamHandle handle)
    {
        // Off the subscriber's thread: a real stream that produces values synchronously must not hold up Subscribe.
        await Task.Yield();
        try
        {
            await foreach (var item in stream.WithCancellation(handle.Token).ConfigureAwait(false)) sink.OnValue(item, value, options);
        }
        catch (OperationCanceledException) when (handle.Token.IsCancellationRequested)
        {
            return;
        }
        catch (Exception ex)
        {
            sink.OnCompleted(ex);
            return;
        }
        if (!handle.Token.IsCancellationRequested) sink.OnCompleted(null);
    }

    public override bool Unsubscribe(T target, DynamicMember<T>? unsubscribe, ref MessagePackReader reader, MessagePackSerializerOptions options, object token) =>
        token is StreamHandle handle && handle.Stop();

    private sealed class StreamHandle
    {
        private readonly CancellationTokenSource _stop = new();
        private int _stopped;

        public CancellationToken Token => _stop.Token;

        public bool Stop()
        {
            if (Interlocked.Exchange(ref _stopped, 1) != 0) return false;
            _stop.Cancel();
            return true;
        }
    }
}

/// <summary>An unsubscribe, <c>void M(TReg reg, Action&lt;TValue&gt;? listener)</c>, paired with a listener-form subscribe.</summary>
internal sealed class UnsubscribeMember<T, TReg, TValue>(ClusterMethod method, MethodInfo member, IMessagePackFormatter<TReg> registration)
    : DynamicMember<T>(method) where T : class
{
    public override object? Intercept(T proxy, IClusterInvoker<T> invoker, MethodInfo called, object?[] arguments)
    {
        invoker.Unsubscribe(Method, (TReg)arguments[0]!, registration, arguments[1] as Action<TValue>);
        return null;
    }

    /// <summary>Calls the real unsubscribe with the registration read from <paramref name="reader"/> and the leader's own listener.</summary>
    public void CallReal(T target, ref MessagePackReader reader, MessagePackSerializerOptions options, Action<TValue> listener)
    {
        var reg = registration.Deserialize(ref reader, options);
        Call(member, target, [reg, listener]);
    }
}

/// <summary>An <c>event EventHandler&lt;TValue&gt;</c> member.</summary>
internal sealed class EventMember<T, TValue>(ClusterMethod method, EventInfo member, IMessagePackFormatter<TValue> value)
    : DynamicMember<T>(method) where T : class
{
    private readonly MethodInfo _add = member.AddMethod!;
    private readonly MethodInfo _remove = member.RemoveMethod!;

    public override object? Intercept(T proxy, IClusterInvoker<T> invoker, MethodInfo called, object?[] arguments)
    {
        // Like a field-like event, adding or removing null does nothing.
        if (arguments[0] is not EventHandler<TValue> handler) return null;
        if (called == _add) invoker.AddEventHandler(Method, proxy, handler, value);
        else invoker.RemoveEventHandler(Method, handler);
        return null;
    }

    public override object Subscribe(T target, ref MessagePackReader registration, MessagePackSerializerOptions options, ISubscriptionSink sink)
    {
        // An event has no registration; the runtime passes an empty array, which is consumed so nothing is left unread.
        if (!registration.End) registration.Skip();
        EventHandler<TValue> handler = (_, v) => sink.OnValue(v, value, options);
        Call(_add, target, [handler]);
        return handler;
    }

    public override bool Unsubscribe(T target, DynamicMember<T>? unsubscribe, ref MessagePackReader registration, MessagePackSerializerOptions options, object token)
    {
        if (!registration.End) registration.Skip();
        if (token is not EventHandler<TValue> handler) return false;
        Call(_remove, target, [handler]);
        return true;
    }
}
