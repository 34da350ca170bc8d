using System.Buffers;
using System.Runtime.CompilerServices;
using ClusterSharing.Follower;
using ClusterSharing.Leader;
using ClusterSharing.Protocol;
using ClusterSharing.Proxies;
using ClusterSharing.Serialization;
using MessagePack;
using MessagePack.Formatters;
using Microsoft.Extensions.Logging;

namespace ClusterSharing.Node.Subscriptions;

/// <summary>
/// This process's subscriptions and event handlers of one channel. Each distinct (member, registration bytes) is one
/// <see cref="LocalSubscription"/> with any number of local listeners; it is attached to the leader's hub through the
/// channel's current route (in-process when this process leads, by Subscribe packets when it follows) and re-attached
/// to every new route by <see cref="AttachAll"/>.
/// </summary>
/// <remarks>
/// The registry has no lock of its own: it shares the channel's route lock, so a route change and what it re-sends
/// happen at once with respect to subscribing and unsubscribing. Values reach listeners through the channel's
/// <see cref="DeliveryQueue"/>; when the listeners fall behind, <see cref="Resynchronise"/> lets go of the leader
/// connection (a follower reconnects and re-subscribes, so the leader replays the last value of each key) or re-reads
/// the leader's cached last values (this process leads).
/// </remarks>
internal sealed class LocalSubscriptions<T> : IDeliveryOwner where T : class
{
    private static readonly byte[] EmptyArray = [0x90];

    private readonly NodeChannel<T> _channel;
    private readonly ILogger _logger;
    private readonly Dictionary<(uint, string), LocalSubscription> _entries = new();
    private readonly Dictionary<long, LocalSubscription> _byId = new();
    private readonly DeliveryQueue _queue;
    private long _nextId;

    public LocalSubscriptions(NodeChannel<T> channel, int bufferLimit, ILogger logger)
    {
        _channel = channel;
        _logger = logger;
        _queue = new DeliveryQueue(this, channel.Name, bufferLimit, logger);
    }

    private object Gate => _channel.RouteGate;

    /// <summary>Distinct (member, registration) subscriptions this process holds (tests).</summary>
    internal int Count
    {
        get { lock (Gate) return _entries.Count; }
    }

    /// <summary>The MessagePack bytes of <paramref name="value"/> (registrations and publication arguments are keyed by them).</summary>
    internal static byte[] Encode<TValue>(TValue value, IMessagePackFormatter<TValue> formatter, MessagePackSerializerOptions options) =>
        WireSerializer.ToBytes(value, formatter, options);

    /// <summary>The key of a registration or a publication: member id and argument bytes.</summary>
    internal static (uint, string) KeyOf(uint methodId, byte[] arguments) => (methodId, Convert.ToBase64String(arguments));

    public void Subscribe<TReg, TValue>(ClusterMethod method, TReg registration, IMessagePackFormatter<TReg> registrationFormatter,
        Action<TValue> listener, IMessagePackFormatter<TValue> valueFormatter)
    {
        ArgumentNullException.ThrowIfNull(listener);
        Add(method, Encode(registration, registrationFormatter, _channel.SerializerOptions), new ActionListener<TValue>(listener, valueFormatter, _channel.SerializerOptions));
    }

    public void Unsubscribe<TReg, TValue>(ClusterMethod method, TReg registration, IMessagePackFormatter<TReg> registrationFormatter, Action<TValue>? listener)
    {
        uint subscribeId = method.Kind == ClusterMethodKind.Unsubscribe ? method.PairedId : method.Id;
        Remove(subscribeId, Encode(registration, registrationFormatter, _channel.SerializerOptions), listener);
    }

    /// <summary>The awaitable listener form: completes once the leader's real client holds the subscription.</summary>
    public ValueTask SubscribeAsync<TReg, TValue>(ClusterMethod method, TReg registration, IMessagePackFormatter<TReg> registrationFormatter,
        Action<TValue> listener, IMessagePackFormatter<TValue> valueFormatter, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(listener);
        if (cancellationToken.IsCancellationRequested) return ValueTask.FromCanceled(cancellationToken);
        var added = new ActionListener<TValue>(listener, valueFormatter, _channel.SerializerOptions);
        var subscription = Add(method, Encode(registration, registrationFormatter, _channel.SerializerOptions), added);
        return subscription.Attached.IsCompletedSuccessfully ? default : WaitAttachedAsync(subscription, added, cancellationToken);
    }

    public IAsyncEnumerable<TValue> SubscribeStream<TReg, TValue>(ClusterMethod method, TReg registration, IMessagePackFormatter<TReg> registrationFormatter,
        IMessagePackFormatter<TValue> valueFormatter, CancellationToken cancellationToken) =>
        StreamAsync(method, Encode(registration, registrationFormatter, _channel.SerializerOptions), valueFormatter, cancellationToken);

    /// <summary>The awaitable stream form: the stream is handed out once the leader's real client holds the subscription.</summary>
    public async ValueTask<IAsyncEnumerable<TValue>> SubscribeStreamAsync<TReg, TValue>(ClusterMethod method, TReg registration,
        IMessagePackFormatter<TReg> registrationFormatter, IMessagePackFormatter<TValue> valueFormatter, CancellationToken cancellationToken)
    {
        cancellationToken.ThrowIfCancellationRequested();
        byte[] encoded = Encode(registration, registrationFormatter, _channel.SerializerOptions);
        var listener = new StreamListener<TValue>(valueFormatter, _channel.SerializerOptions);
        var subscription = Add(method, encoded, listener);
        await WaitAttachedAsync(subscription, listener, cancellationToken).ConfigureAwait(false);
        // A stream nobody enumerates still ends with its token.
        var ending = cancellationToken.UnsafeRegister(static state =>
        {
            var (self, method, registration, listener) = ((LocalSubscriptions<T>, ClusterMethod, byte[], SubscriptionListener))state!;
            self.Remove(method.Id, registration, listener.Identity);
        }, (this, method, encoded, (SubscriptionListener)listener));
        return ReadAsync(method, encoded, listener, ending, cancellationToken);
    }

    /// <summary>
    /// Waits for the leader's acknowledgement within the member's timeout. When it does not come (timeout, cancellation,
    /// the subscription failed or was removed), this listener is removed again and the caller gets the reason.
    /// </summary>
    private async ValueTask WaitAttachedAsync(LocalSubscription subscription, SubscriptionListener listener, CancellationToken cancellationToken)
    {
        var timeout = _channel.TimeoutOf(subscription.Method);
        try
        {
            await subscription.Attached.WaitAsync(timeout, cancellationToken).ConfigureAwait(false);
        }
        catch (Exception ex)
        {
            Remove(subscription.Method.Id, subscription.Registration, listener.Identity);
            if (ex is TimeoutException) throw _channel.SubscribeTimedOut(subscription.Method, timeout);
            // The leader's own real client threw (a follower already has it as ClusterRemoteException): one shape on request.
            if (ex is not (ClusterClientException or OperationCanceledException) && _channel.LeaderCalls == LeaderCallMode.SameAsFollowers)
                throw NodeChannel<T>.AsRemote(ex);
            throw;
        }
    }

    private async IAsyncEnumerable<TValue> StreamAsync<TValue>(ClusterMethod method, byte[] registration, IMessagePackFormatter<TValue> valueFormatter,
        [EnumeratorCancellation] CancellationToken cancellationToken)
    {
        var listener = new StreamListener<TValue>(valueFormatter, _channel.SerializerOptions);
        Add(method, registration, listener);
        await foreach (var value in ReadAsync(method, registration, listener, default, cancellationToken).ConfigureAwait(false))
            yield return value;
    }

    /// <summary>One consumer's values; its share of the subscription ends with the enumeration.</summary>
    private async IAsyncEnumerable<TValue> ReadAsync<TValue>(ClusterMethod method, byte[] registration, StreamListener<TValue> listener,
        CancellationTokenRegistration ending, [EnumeratorCancellation] CancellationToken cancellationToken)
    {
        try
        {
            await foreach (var value in listener.Reader.ReadAllAsync(cancellationToken).ConfigureAwait(false))
                yield return value;
        }
        finally
        {
            // Cancelled, broken out of, or ended by the leader: this consumer's share of the subscription ends here.
            ending.Dispose();
            Remove(method.Id, registration, listener);
        }
    }

    public void AddEventHandler<TValue>(ClusterMethod method, object sender, EventHandler<TValue> handler, IMessagePackFormatter<TValue> valueFormatter)
    {
        ArgumentNullException.ThrowIfNull(handler);
        Add(method, EmptyArray, new EventListener<TValue>(sender, handler, valueFormatter, _channel.SerializerOptions));
    }

    public void RemoveEventHandler<TValue>(ClusterMethod method, EventHandler<TValue> handler) => Remove(method.Id, EmptyArray, handler);

    private LocalSubscription Add(ClusterMethod method, byte[] registration, SubscriptionListener listener)
    {
        LocalSubscription? subscription;
        lock (Gate)
        {
            var key = KeyOf(method.Id, registration);
            if (!_entries.TryGetValue(key, out subscription))
            {
                subscription = new LocalSubscription(_queue, method, registration, Interlocked.Increment(ref _nextId));
                _entries.Add(key, subscription);
                _byId.Add(subscription.SubscriptionId, subscription);
                subscription.Listeners = [listener];
                Attach(_channel.CurrentRoute, subscription);
                return subscription;
            }
            // A second listener of a key this process already has: it joins in the queue's order, and first gets the
            // last value the others saw (if the key replays), so it never sees an older value after a newer one.
            listener.Pending = true;
            subscription.Listeners = [.. subscription.Listeners, listener];
        }
        _queue.Enqueue(Delivery.Join(subscription, listener));
        return subscription;
    }

    private void Remove(uint methodId, byte[] registration, object? identity)
    {
        lock (Gate)
        {
            var key = KeyOf(methodId, registration);
            if (!_entries.TryGetValue(key, out var subscription)) return;
            if (identity is null)
            {
                foreach (var listener in subscription.Listeners) listener.Removed = true;
                subscription.Listeners = [];
            }
            else
            {
                int index = Array.FindIndex(subscription.Listeners, l => Equals(l.Identity, identity));
                if (index < 0) return;
                subscription.Listeners[index].Removed = true;
                subscription.Listeners = [.. subscription.Listeners.AsSpan(0, index), .. subscription.Listeners.AsSpan(index + 1)];
            }
            if (subscription.Listeners.Length != 0) return;
            ForgetLocked(subscription);
            Detach(_channel.CurrentRoute, subscription);
        }
    }

    /// <summary>Under the route lock.</summary>
    private void ForgetLocked(LocalSubscription subscription)
    {
        subscription.Closed = true;
        if (!subscription.Attached.IsCompleted)
            subscription.FailAttach(new ClusterClientException(
                $"The subscription '{subscription.Method.Name}' of channel '{_channel.Name}' was removed (unsubscribed, or the handle closed) before the leader's real client held it."));
        _entries.Remove(KeyOf(subscription.Method.Id, subscription.Registration));
        _byId.Remove(subscription.SubscriptionId);
    }

    /// <summary>Under the route lock; sends never block.</summary>
    private static void Attach(NodeChannel<T>.Route? route, LocalSubscription subscription)
    {
        if (route is null) return; // attached when a leader is found
        if (route.Local is { } leader) leader.Hub.Add(subscription.Method.Id, subscription.Registration, subscription);
        else route.Connection!.TrySendSubscription(PacketType.Subscribe, route.ChannelId, subscription.Method, subscription.SubscriptionId, subscription.Registration);
    }

    /// <summary>Under the route lock.</summary>
    private static void Detach(NodeChannel<T>.Route? route, LocalSubscription subscription)
    {
        if (route is null) return;
        if (route.Local is { } leader) leader.Hub.Remove(subscription.Method.Id, subscription.Registration, null, subscription.SubscriptionId);
        else route.Connection!.TrySendSubscription(PacketType.Unsubscribe, route.ChannelId, subscription.Method, subscription.SubscriptionId, subscription.Registration);
    }

    /// <summary>Under the route lock, when the channel takes <paramref name="route"/>: re-subscribe everything there, once.</summary>
    public void AttachAll(NodeChannel<T>.Route route)
    {
        // Attached again: the leader replays the last value of each key, and every value after it counts.
        _queue.EndResynchronising();
        foreach (var subscription in _entries.Values)
        {
            _queue.Enqueue(Delivery.Resumed(subscription));
            Attach(route, subscription);
        }
    }

    /// <summary>A value pushed by the leader for one of this process's subscriptions (on the read loop: only queues).</summary>
    public void OnRemote(in Frame frame, in SubscribeResultHeader header)
    {
        LocalSubscription? subscription;
        lock (Gate)
        {
            // Values still arriving from a connection this channel has let go of (after an overflow) are stale.
            if (_channel.CurrentRoute?.Connection is null) return;
            _byId.TryGetValue(header.SubscriptionId, out subscription);
        }
        if (subscription is null) return; // unsubscribed meanwhile
        switch (header.Kind)
        {
            case SubscriptionEventKind.Value:
                subscription.Deliver(frame.Body.ToArray());
                break;
            case SubscriptionEventKind.Completed:
                subscription.Complete(null);
                break;
            case SubscriptionEventKind.Attached:
                subscription.OnAttached();
                break;
            default:
                var reader = frame.CreateBodyReader();
                subscription.Complete(RemoteError.Read(ref reader));
                break;
        }
    }

    /// <summary>Under the route lock, as the channel stops: unsubscribe everything from <paramref name="route"/> and forget it.</summary>
    /// <returns>The subscriptions dropped, to complete with <see cref="CompleteStopped"/> outside the lock.</returns>
    public LocalSubscription[] StopLocked(NodeChannel<T>.Route? route)
    {
        LocalSubscription[] subscriptions = [.. _entries.Values];
        foreach (var subscription in subscriptions)
        {
            Detach(route, subscription);
            ForgetLocked(subscription);
        }
        _queue.Clear();
        return subscriptions;
    }

    /// <summary>Ends every listener of the stopped subscriptions (async streams complete).</summary>
    public static void CompleteStopped(LocalSubscription[] subscriptions)
    {
        foreach (var subscription in subscriptions)
        {
            foreach (var listener in subscription.Listeners) listener.Complete(null);
        }
    }

    void IDeliveryOwner.Resynchronise(int dropped) => Resynchronise(dropped);

    private void Resynchronise(int dropped)
    {
        string reason = $"the subscription listeners of channel '{_channel.Name}' fell {dropped} values behind (SubscriptionBufferSize {_queue.BufferLimit}); " +
                        "the waiting values were dropped and the subscriptions resynchronised (the last value of each key is delivered again)";
        NodeLog.SubscriptionOverflow(_logger, _channel.Name, dropped, _queue.BufferLimit);
        _channel.RaiseListenerError(null, new ClusterClientException($"This process could not keep up: {reason}."));
        LeaderConnection? reconnect = null;
        lock (Gate)
        {
            switch (_channel.CurrentRoute)
            {
                case { Connection: { } connection }:
                    reconnect = connection;
                    break;
                case { Local: { } leader }:
                    // Accept values first, then read the last ones: a value published in between arrives twice at worst, never not at all.
                    _queue.EndResynchronising();
                    foreach (var subscription in _entries.Values)
                    {
                        if (!subscription.ReplaysLastValue) continue;
                        _queue.Enqueue(Delivery.Resumed(subscription));
                        if (leader.Hub.LastValue(subscription.Method.Id, subscription.Registration) is { } last)
                            _queue.Enqueue(Delivery.Value(subscription, last), replay: true);
                    }
                    break;
            }
        }
        // No route: the next one attaches everything (AttachAll) and ends the resynchronisation.
        if (reconnect is null) return;
        // Let go of this connection: nothing more is sent on it or accepted from it; the node reconnects, re-registers
        // and re-subscribes, and the leader replays the last value of each key.
        _channel.DetachRemote(reconnect);
        _ = reconnect.CloseAsync($"this follower is reconnecting: {reason}").AsTask();
    }

    SubscriptionListener[] IDeliveryOwner.Forget(LocalSubscription subscription)
    {
        lock (Gate)
        {
            if (!subscription.Closed) ForgetLocked(subscription);
            return subscription.Listeners;
        }
    }

    void IDeliveryOwner.Remove(LocalSubscription subscription, SubscriptionListener listener) =>
        Remove(subscription.Method.Id, subscription.Registration, listener.Identity);

    void IDeliveryOwner.ListenerFailed(ClusterMethod method, Exception error)
    {
        NodeLog.ListenerFailed(_logger, _channel.Name, error);
        _channel.RaiseListenerError(method.Name, error);
    }
}
