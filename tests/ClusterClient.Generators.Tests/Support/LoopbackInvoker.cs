using System.Buffers;
using System.Collections.Concurrent;
using System.Runtime.CompilerServices;
using System.Threading.Channels;
using ClusterSharing.Proxies;
using ClusterSharing.Serialization;
using MessagePack;
using MessagePack.Formatters;

namespace ClusterSharing.Generators.Tests.Support;

/// <summary>Which part of a call an encoded payload belongs to.</summary>
public enum LoopbackPayloadKind
{
    /// <summary>The argument array of an invoke, oneway, publish or close.</summary>
    Arguments,
    /// <summary>An invoke's result (nil for methods without one).</summary>
    Result,
    /// <summary>The registration value of a subscribe or unsubscribe.</summary>
    Registration,
    /// <summary>One value pushed by a subscription, stream or event.</summary>
    Value,
}

/// <summary>One payload as it would have crossed the wire.</summary>
public sealed record LoopbackPayload(uint MethodId, string MethodName, LoopbackPayloadKind Kind, byte[] Bytes);

/// <summary>
/// A proxy or contract broke the rules of the seam (wrong invoker member for the method kind, arguments not fully read,
/// no reply written...). Never wrapped as a remote error, so such bugs fail tests loudly.
/// </summary>
public sealed class ContractViolationException(string message) : Exception(message);

/// <summary>
/// An <see cref="IClusterInvoker{T}"/> that plays follower and leader in one process: every call is encoded with the
/// formatters the proxy supplies, dispatched through <see cref="ClusterContract{T}"/> onto a real target from those bytes,
/// and the reply is decoded again. <see cref="LocalTarget"/> is null, so proxies never take the in-process shortcut.
/// </summary>
/// <remarks>
/// Mirrors the leader's semantics that a conformance suite can observe: one real subscription per distinct
/// (method, registration bytes), fan-out of each value to every listener (each gets its own decoded copy), the last
/// value replayed to a late subscriber, the real unsubscribe only when the last listener leaves, exceptions of the real
/// client surfacing as <see cref="ClusterRemoteException"/>. Oneway and publish failures never reach the caller; they are
/// collected in <see cref="BackgroundErrors"/>.
/// </remarks>
/// <typeparam name="T">The contract interface.</typeparam>
public sealed class LoopbackInvoker<T> : IClusterInvoker<T> where T : class
{
    private static readonly byte[] EmptyArray = [0x90];
    private static readonly byte[] Nil = [0xc0];

    private readonly ClusterContract<T> _contract;
    private readonly MessagePackSerializerOptions _options;
    private readonly T _target;
    private readonly Dictionary<uint, ClusterMethod> _methods = new();
    private readonly Dictionary<SubscriptionKey, Subscription> _subscriptions = new();
    private readonly Lock _gate = new();
    private readonly ConcurrentQueue<LoopbackPayload> _payloads = new();
    private readonly ConcurrentQueue<Exception> _backgroundErrors = new();
    private readonly List<Task> _pending = new();
    private int _realUnsubscribes;
    private int _nothingUndone;

    /// <summary>Creates an invoker that dispatches onto <paramref name="target"/> through <paramref name="contract"/>.</summary>
    public LoopbackInvoker(ClusterContract<T> contract, T target, MessagePackSerializerOptions? userOptions = null)
    {
        _contract = contract ?? throw new ArgumentNullException(nameof(contract));
        _options = WireSerializer.CreateOptions(contract.Resolver, userOptions, DecodingLimits.UntrustedData);
        _target = target ?? throw new ArgumentNullException(nameof(target));
        foreach (var method in contract.Methods)
        {
            if (!_methods.TryAdd(method.Id, method))
                throw new ContractViolationException($"Contract {contract.Name} has two methods with id 0x{method.Id:x8}: {_methods[method.Id]} and {method}.");
        }
    }

    /// <summary>Always null: every call goes through bytes.</summary>
    public T? LocalTarget => null;

    /// <summary>Every payload encoded so far, in order.</summary>
    public IReadOnlyList<LoopbackPayload> Payloads => _payloads.ToArray();

    /// <summary>Exceptions of oneway, publish and listener callbacks, which never reach a caller.</summary>
    public IReadOnlyList<Exception> BackgroundErrors => _backgroundErrors.ToArray();

    /// <summary>Real subscriptions (and event handlers) currently held on the target.</summary>
    public int ActiveSubscriptions { get { lock (_gate) return _subscriptions.Count; } }

    /// <summary>How many times <see cref="ClusterContract{T}.Unsubscribe"/> undid a real subscription.</summary>
    public int RealUnsubscribes => Volatile.Read(ref _realUnsubscribes);

    /// <summary>How many times <see cref="ClusterContract{T}.Unsubscribe"/> returned false.</summary>
    public int NothingUndone => Volatile.Read(ref _nothingUndone);

    /// <summary>Forgets the recorded payloads.</summary>
    public void ClearPayloads() => _payloads.Clear();

    /// <summary>Waits until every oneway, publish and close dispatched so far has finished on the target.</summary>
    public async Task DrainAsync()
    {
        for (int round = 0; round < 100; round++)
        {
            Task[] pending;
            lock (_gate)
            {
                _pending.RemoveAll(t => t.IsCompleted);
                pending = _pending.ToArray();
            }
            if (pending.Length == 0) return;
            await Task.WhenAll(pending).WaitAsync(TimeSpan.FromSeconds(30)).ConfigureAwait(false);
        }
        throw new TimeoutException("Background dispatches kept arriving while draining.");
    }

    /// <inheritdoc/>
    public ValueTask<TResult> InvokeAsync<TArgs, TResult>(ClusterMethod method, in TArgs arguments,
        IMessagePackFormatter<TArgs> argumentsFormatter, IMessagePackFormatter<TResult> resultFormatter, CancellationToken cancellationToken)
    {
        Expect(method, ClusterMethodKind.Invoke);
        var bytes = Encode(method, LoopbackPayloadKind.Arguments, arguments, argumentsFormatter);
        var reply = new ReplyWriter(this, method);
        ValueTask dispatch;
        try { dispatch = Dispatch(method, bytes, reply, cancellationToken); }
        catch (Exception ex) when (ex is not ContractViolationException) { return ValueTask.FromException<TResult>(ToRemote(ex, cancellationToken)); }
        return CompleteInvokeAsync(dispatch, reply, resultFormatter, cancellationToken);
    }

    /// <inheritdoc/>
    public ValueTask InvokeAsync<TArgs>(ClusterMethod method, in TArgs arguments, IMessagePackFormatter<TArgs> argumentsFormatter, CancellationToken cancellationToken)
    {
        Expect(method, ClusterMethodKind.Invoke);
        var bytes = Encode(method, LoopbackPayloadKind.Arguments, arguments, argumentsFormatter);
        var reply = new ReplyWriter(this, method);
        ValueTask dispatch;
        try { dispatch = Dispatch(method, bytes, reply, cancellationToken); }
        catch (Exception ex) when (ex is not ContractViolationException) { return ValueTask.FromException(ToRemote(ex, cancellationToken)); }
        return CompleteVoidInvokeAsync(method, dispatch, reply, cancellationToken);
    }

    /// <inheritdoc/>
    public void InvokeOneway<TArgs>(ClusterMethod method, in TArgs arguments, IMessagePackFormatter<TArgs> argumentsFormatter)
    {
        Expect(method, ClusterMethodKind.Oneway);
        DispatchInBackground(method, Encode(method, LoopbackPayloadKind.Arguments, arguments, argumentsFormatter));
    }

    /// <inheritdoc/>
    public void Publish<TArgs>(ClusterMethod method, in TArgs arguments, IMessagePackFormatter<TArgs> argumentsFormatter)
    {
        Expect(method, ClusterMethodKind.Publish);
        DispatchInBackground(method, Encode(method, LoopbackPayloadKind.Arguments, arguments, argumentsFormatter));
    }

    /// <inheritdoc/>
    /// <remarks>Dispatches the close member onto the target with an empty argument array, so the real close is observable.</remarks>
    public async ValueTask CloseAsync(ClusterMethod method)
    {
        Expect(method, ClusterMethodKind.Close);
        Record(method, LoopbackPayloadKind.Arguments, EmptyArray);
        var reply = new ReplyWriter(this, method);
        try { await Dispatch(method, EmptyArray, reply, CancellationToken.None).ConfigureAwait(false); }
        catch (Exception ex) when (ex is not ContractViolationException) { throw ToRemote(ex, CancellationToken.None); }
    }

    /// <inheritdoc/>
    public void Subscribe<TReg, TValue>(ClusterMethod method, TReg registration, IMessagePackFormatter<TReg> registrationFormatter,
        Action<TValue> listener, IMessagePackFormatter<TValue> valueFormatter)
    {
        Expect(method, ClusterMethodKind.Subscribe, awaitable: false);
        ArgumentNullException.ThrowIfNull(listener);
        var key = Encode(method, LoopbackPayloadKind.Registration, registration, registrationFormatter);
        _ = Attach(method, key, new Subscriber(listener, bytes => listener(Decode(bytes, valueFormatter)), null), replayLast: true);
    }

    /// <inheritdoc/>
    /// <remarks>Completes when the real subscribe member's task does; when that fails the listener is removed and the error surfaces as the leader's would.</remarks>
    public async ValueTask SubscribeAsync<TReg, TValue>(ClusterMethod method, TReg registration, IMessagePackFormatter<TReg> registrationFormatter,
        Action<TValue> listener, IMessagePackFormatter<TValue> valueFormatter, CancellationToken cancellationToken)
    {
        Expect(method, ClusterMethodKind.Subscribe, awaitable: true);
        ArgumentNullException.ThrowIfNull(listener);
        var key = Encode(method, LoopbackPayloadKind.Registration, registration, registrationFormatter);
        var subscriber = new Subscriber(listener, bytes => listener(Decode(bytes, valueFormatter)), null);
        await AttachedAsync(method, key, subscriber, Attach(method, key, subscriber, replayLast: true), cancellationToken).ConfigureAwait(false);
    }

    /// <inheritdoc/>
    public async ValueTask<IAsyncEnumerable<TValue>> SubscribeStreamAsync<TReg, TValue>(ClusterMethod method, TReg registration,
        IMessagePackFormatter<TReg> registrationFormatter, IMessagePackFormatter<TValue> valueFormatter, CancellationToken cancellationToken)
    {
        Expect(method, ClusterMethodKind.Subscribe, awaitable: true);
        var key = Encode(method, LoopbackPayloadKind.Registration, registration, registrationFormatter);
        var channel = Channel.CreateUnbounded<byte[]>(new UnboundedChannelOptions { SingleReader = true });
        var subscriber = StreamSubscriber(channel);
        await AttachedAsync(method, key, subscriber, Attach(method, key, subscriber, replayLast: true), cancellationToken).ConfigureAwait(false);
        return ReadAsync(method, key, channel, subscriber, valueFormatter, cancellationToken);
    }

    private async Task AttachedAsync(ClusterMethod method, byte[] key, Subscriber subscriber, Task attached, CancellationToken cancellationToken)
    {
        try { await attached.WaitAsync(cancellationToken).ConfigureAwait(false); }
        catch (Exception ex) when (ex is not ContractViolationException)
        {
            Detach(method, null, key, subscriber);
            throw ToRemote(ex, cancellationToken);
        }
    }

    /// <inheritdoc/>
    public void Unsubscribe<TReg, TValue>(ClusterMethod method, TReg registration, IMessagePackFormatter<TReg> registrationFormatter, Action<TValue>? listener)
    {
        Expect(method, ClusterMethodKind.Unsubscribe);
        if (!_methods.TryGetValue(method.PairedId, out var subscribeMethod) || subscribeMethod.Kind != ClusterMethodKind.Subscribe)
            throw new ContractViolationException($"Unsubscribe {method} is paired with 0x{method.PairedId:x8}, which is not a subscribe method of {_contract.Name}.");
        var key = Encode(method, LoopbackPayloadKind.Registration, registration, registrationFormatter);
        Detach(subscribeMethod, method, key, (object?)listener ?? RemoveAll);
    }

    /// <inheritdoc/>
    public IAsyncEnumerable<TValue> SubscribeStream<TReg, TValue>(ClusterMethod method, TReg registration, IMessagePackFormatter<TReg> registrationFormatter,
        IMessagePackFormatter<TValue> valueFormatter, CancellationToken cancellationToken)
    {
        Expect(method, ClusterMethodKind.Subscribe, awaitable: false);
        var key = Encode(method, LoopbackPayloadKind.Registration, registration, registrationFormatter);
        return ReadStreamAsync(method, key, valueFormatter, cancellationToken);
    }

    /// <inheritdoc/>
    public void AddEventHandler<TValue>(ClusterMethod method, object sender, EventHandler<TValue> handler, IMessagePackFormatter<TValue> valueFormatter)
    {
        Expect(method, ClusterMethodKind.Event);
        ArgumentNullException.ThrowIfNull(handler);
        _ = Attach(method, EmptyArray, new Subscriber(handler, bytes => handler(sender, Decode(bytes, valueFormatter)), null), replayLast: false);
    }

    /// <inheritdoc/>
    public void RemoveEventHandler<TValue>(ClusterMethod method, EventHandler<TValue> handler)
    {
        Expect(method, ClusterMethodKind.Event);
        ArgumentNullException.ThrowIfNull(handler);
        Detach(method, null, EmptyArray, handler);
    }

    private static readonly object RemoveAll = new();

    private void Expect(ClusterMethod method, ClusterMethodKind kind, bool awaitable)
    {
        Expect(method, kind);
        if (method.Awaitable != awaitable)
            throw new ContractViolationException($"The proxy called the {(awaitable ? "awaitable" : "void")} subscribe of the invoker for {method}, whose Awaitable is {method.Awaitable}.");
    }

    private void Expect(ClusterMethod method, ClusterMethodKind kind)
    {
        ArgumentNullException.ThrowIfNull(method);
        if (!_methods.TryGetValue(method.Id, out var known) || !ReferenceEquals(known, method) && known.Signature != method.Signature)
            throw new ContractViolationException($"{method} is not a method of contract {_contract.Name}.");
        if (method.Kind != kind)
            throw new ContractViolationException($"The proxy called the {kind} member of the invoker for {method}.");
    }

    private ValueTask Dispatch(ClusterMethod method, byte[] arguments, IReplyWriter reply, CancellationToken cancellationToken)
    {
        var reader = new MessagePackReader(arguments);
        var task = _contract.DispatchAsync(_target, method, ref reader, _options, reply, cancellationToken);
        // The leader recycles the frame buffer as soon as DispatchAsync returns, so every argument must be read by then.
        // IClusterInvoker.CloseAsync carries no arguments, so a close may arrive as an empty array or an empty body:
        // a close dispatch is allowed to leave the empty array unread (generated code does).
        bool unreadEmptyClose = method.Kind == ClusterMethodKind.Close && reader.Consumed == 0 && arguments.AsSpan().SequenceEqual(EmptyArray);
        if (!reader.End && !unreadEmptyClose)
            throw new ContractViolationException($"DispatchAsync of {method} returned with {arguments.Length - reader.Consumed} argument bytes unread.");
        return task;
    }

    private async ValueTask<TResult> CompleteInvokeAsync<TResult>(ValueTask dispatch, ReplyWriter reply, IMessagePackFormatter<TResult> resultFormatter, CancellationToken cancellationToken)
    {
        try { await dispatch.ConfigureAwait(false); }
        catch (Exception ex) when (ex is not ContractViolationException) { throw ToRemote(ex, cancellationToken); }
        return Decode(reply.TakeBytes(), resultFormatter);
    }

    private static async ValueTask CompleteVoidInvokeAsync(ClusterMethod method, ValueTask dispatch, ReplyWriter reply, CancellationToken cancellationToken)
    {
        try { await dispatch.ConfigureAwait(false); }
        catch (Exception ex) when (ex is not ContractViolationException) { throw ToRemote(ex, cancellationToken); }
        if (!reply.TakeBytes().AsSpan().SequenceEqual(Nil))
            throw new ContractViolationException($"{method} has no result but its dispatch wrote a value instead of WriteVoid().");
    }

    private void DispatchInBackground(ClusterMethod method, byte[] arguments)
    {
        ValueTask dispatch;
        try { dispatch = Dispatch(method, arguments, new ReplyWriter(this, method), CancellationToken.None); }
        catch (Exception ex) when (ex is not ContractViolationException)
        {
            _backgroundErrors.Enqueue(ToRemote(ex, CancellationToken.None));
            return;
        }
        if (dispatch.IsCompletedSuccessfully) return;
        var observed = ObserveAsync(dispatch);
        lock (_gate) _pending.Add(observed);
    }

    private async Task ObserveAsync(ValueTask dispatch)
    {
        try { await dispatch.ConfigureAwait(false); }
        catch (Exception ex) { _backgroundErrors.Enqueue(ToRemote(ex, CancellationToken.None)); }
    }

    private async IAsyncEnumerable<TValue> ReadStreamAsync<TValue>(ClusterMethod method, byte[] key, IMessagePackFormatter<TValue> valueFormatter,
        CancellationToken cancellationToken, [EnumeratorCancellation] CancellationToken enumeratorCancellation = default)
    {
        var channel = Channel.CreateUnbounded<byte[]>(new UnboundedChannelOptions { SingleReader = true });
        var subscriber = StreamSubscriber(channel);
        _ = Attach(method, key, subscriber, replayLast: true);
        await foreach (var value in ReadAsync(method, key, channel, subscriber, valueFormatter, cancellationToken).WithCancellation(enumeratorCancellation).ConfigureAwait(false))
            yield return value;
    }

    private Subscriber StreamSubscriber(Channel<byte[]> channel) =>
        new(channel, bytes => channel.Writer.TryWrite(bytes), error => channel.Writer.TryComplete(error is null ? null : ToRemote(error, CancellationToken.None)));

    private async IAsyncEnumerable<TValue> ReadAsync<TValue>(ClusterMethod method, byte[] key, Channel<byte[]> channel, Subscriber subscriber,
        IMessagePackFormatter<TValue> valueFormatter, CancellationToken cancellationToken, [EnumeratorCancellation] CancellationToken enumeratorCancellation = default)
    {
        using var linked = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken, enumeratorCancellation);
        try
        {
            while (await channel.Reader.WaitToReadAsync(linked.Token).ConfigureAwait(false))
            {
                while (channel.Reader.TryRead(out var bytes)) yield return Decode(bytes, valueFormatter);
            }
        }
        finally
        {
            Detach(method, null, key, subscriber);
        }
    }

    /// <returns>The real subscription's attachment: completed for void members, the real member's task for awaitable ones.</returns>
    private Task Attach(ClusterMethod method, byte[] registration, Subscriber subscriber, bool replayLast)
    {
        var key = new SubscriptionKey(method.Id, Convert.ToHexString(registration));
        Subscription? existing;
        Subscription created;
        lock (_gate)
        {
            if (_subscriptions.TryGetValue(key, out existing))
            {
                existing.Subscribers.Add(subscriber);
                created = existing;
            }
            else
            {
                created = new Subscription(this, method, key);
                created.Subscribers.Add(subscriber);
                _subscriptions.Add(key, created);
            }
        }
        if (existing is not null)
        {
            if (replayLast && existing.LastValue is { } last) Deliver(subscriber, last);
            return existing.Attached;
        }
        // Outside the lock: the real client may call its listener synchronously from inside Subscribe.
        object token;
        try
        {
            var reader = new MessagePackReader(registration);
            token = _contract.Subscribe(_target, method, ref reader, _options, created);
        }
        catch (Exception ex) when (ex is not ContractViolationException)
        {
            lock (_gate) _subscriptions.Remove(key);
            throw ToRemote(ex, CancellationToken.None);
        }
        if (token is PendingSubscription pending != method.Awaitable)
            throw new ContractViolationException($"Subscribe of {method} returned {token.GetType().Name}; an awaitable member returns a PendingSubscription, a void one its token.");
        if (token is PendingSubscription { } awaited)
        {
            created.Token = awaited.Token;
            created.Attached = awaited.Attached;
        }
        else
        {
            created.Token = token;
        }
        return created.Attached;
    }

    private void Detach(ClusterMethod subscribeMethod, ClusterMethod? unsubscribeMethod, byte[] registration, object listenerOrSubscriber)
    {
        var key = new SubscriptionKey(subscribeMethod.Id, Convert.ToHexString(registration));
        Subscription? emptied = null;
        lock (_gate)
        {
            if (!_subscriptions.TryGetValue(key, out var subscription)) return;
            var subscribers = subscription.Subscribers;
            if (ReferenceEquals(listenerOrSubscriber, RemoveAll)) subscribers.Clear();
            else
            {
                // Like delegate removal: the most recently added matching listener goes.
                int index = subscribers.FindLastIndex(s => ReferenceEquals(s, listenerOrSubscriber) || Equals(s.Listener, listenerOrSubscriber));
                if (index >= 0) subscribers.RemoveAt(index);
            }
            if (subscribers.Count == 0)
            {
                _subscriptions.Remove(key);
                emptied = subscription;
            }
        }
        if (emptied?.Token is not { } token) return;
        bool undone;
        try
        {
            var reader = new MessagePackReader(registration);
            undone = _contract.Unsubscribe(_target, subscribeMethod, unsubscribeMethod, ref reader, _options, token);
        }
        catch (Exception ex) when (ex is not ContractViolationException) { throw ToRemote(ex, CancellationToken.None); }
        if (undone) Interlocked.Increment(ref _realUnsubscribes);
        else Interlocked.Increment(ref _nothingUndone);
    }

    private void Deliver(Subscriber subscriber, byte[] value)
    {
        // A listener's failure belongs to the follower that registered it; the real client never sees it.
        try { subscriber.OnValue(value); }
        catch (Exception ex) { _backgroundErrors.Enqueue(ex); }
    }

    private byte[] Encode<TValue>(ClusterMethod method, LoopbackPayloadKind kind, TValue value, IMessagePackFormatter<TValue> formatter)
    {
        ArgumentNullException.ThrowIfNull(formatter);
        var bytes = WireSerializer.ToBytes(value, formatter, _options);
        Record(method, kind, bytes);
        return bytes;
    }

    private void Record(ClusterMethod method, LoopbackPayloadKind kind, byte[] bytes) =>
        _payloads.Enqueue(new LoopbackPayload(method.Id, method.Name, kind, bytes));

    private TValue Decode<TValue>(byte[] bytes, IMessagePackFormatter<TValue> formatter)
    {
        var reader = new MessagePackReader(bytes);
        var value = formatter.Deserialize(ref reader, _options);
        if (!reader.End)
            throw new ContractViolationException($"{formatter.GetType().Name} left {bytes.Length - reader.Consumed} of {bytes.Length} bytes unread ({Convert.ToHexString(bytes)}).");
        if (reader.Depth != 0)
            throw new ContractViolationException($"{formatter.GetType().Name} left the reader at depth {reader.Depth}: DepthStep and Depth-- are unbalanced.");
        return value;
    }

    private static Exception ToRemote(Exception error, CancellationToken cancellationToken)
    {
        if (error is ContractViolationException or ClusterRemoteException) return error;
        if (error is OperationCanceledException && cancellationToken.IsCancellationRequested)
            return new OperationCanceledException("The call was canceled by the caller.", error, cancellationToken);
        string? code = error.Data["Code"]?.ToString();
        return new ClusterRemoteException(error.GetType().FullName ?? error.GetType().Name, error.Message, error.StackTrace, code);
    }

    private readonly record struct SubscriptionKey(uint MethodId, string Registration);

    private sealed class Subscriber(object listener, Action<byte[]> onValue, Action<Exception?>? onCompleted)
    {
        public object Listener { get; } = listener;
        public void OnValue(byte[] value) => onValue(value);
        public void OnCompleted(Exception? error) => onCompleted?.Invoke(error);
    }

    /// <summary>One real subscription on the target, shared by every listener of the same key.</summary>
    private sealed class Subscription(LoopbackInvoker<T> owner, ClusterMethod method, SubscriptionKey key) : ISubscriptionSink
    {
        public List<Subscriber> Subscribers { get; } = new();
        public object? Token { get; set; }
        public Task Attached { get; set; } = Task.CompletedTask;
        public byte[]? LastValue { get; private set; }

        public void OnValue<TValue>(TValue value, IMessagePackFormatter<TValue> formatter, MessagePackSerializerOptions options)
        {
            var bytes = owner.Encode(method, LoopbackPayloadKind.Value, value, formatter);
            Subscriber[] snapshot;
            lock (owner._gate)
            {
                LastValue = bytes;
                snapshot = Subscribers.ToArray();
            }
            foreach (var subscriber in snapshot) owner.Deliver(subscriber, bytes);
        }

        public void OnCompleted(Exception? error)
        {
            Subscriber[] snapshot;
            lock (owner._gate)
            {
                if (owner._subscriptions.TryGetValue(key, out var current) && ReferenceEquals(current, this)) owner._subscriptions.Remove(key);
                snapshot = Subscribers.ToArray();
                Subscribers.Clear();
            }
            foreach (var subscriber in snapshot) subscriber.OnCompleted(error);
        }
    }

    /// <summary>Collects the single reply of one dispatch.</summary>
    private sealed class ReplyWriter(LoopbackInvoker<T> owner, ClusterMethod method) : IReplyWriter
    {
        private byte[]? _bytes;

        public void WriteResult<TResult>(TResult value, IMessagePackFormatter<TResult> formatter, MessagePackSerializerOptions options)
        {
            var bytes = owner.Encode(method, LoopbackPayloadKind.Result, value, formatter);
            if (Interlocked.CompareExchange(ref _bytes, bytes, null) is not null)
                throw new ContractViolationException($"The dispatch of {method} wrote its reply twice.");
        }

        public void WriteVoid()
        {
            owner.Record(method, LoopbackPayloadKind.Result, Nil);
            if (Interlocked.CompareExchange(ref _bytes, Nil, null) is not null)
                throw new ContractViolationException($"The dispatch of {method} wrote its reply twice.");
        }

        public byte[] TakeBytes() => _bytes ?? throw new ContractViolationException($"The dispatch of {method} completed without writing a reply.");
    }
}
