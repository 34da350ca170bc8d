using System.Buffers;
using System.Runtime.CompilerServices;
using System.Threading.Channels;
using ClusterSharing.Follower;
using ClusterSharing.Leader;
using ClusterSharing.Protocol;
using ClusterSharing.Proxies;
using ClusterSharing.Serialization;
using MessagePack;
using MessagePack.Formatters;
using Microsoft.Extensions.Logging;

namespace ClusterSharing.Node;

/// <summary>
/// This process's subscriptions, event handlers and publications of one channel. Each distinct
/// (member, registration bytes) is one entry with any number of local listeners; the entry is attached to the
/// leader's hub (in-process when this process leads, by Subscribe packets when it follows) and re-attached to every
/// new leader. Publications are remembered (deduplicated by member and argument bytes, at most
/// <see cref="MaxPublications"/>) and replayed once to each new leader.
/// </summary>
/// <remarks>
/// Values never run user code on the connection's read loop or on the real client's thread: they go into one
/// bounded queue per channel (<see cref="ClusterClientOptions.SubscriptionBufferSize"/>) drained in order by one
/// worker. When the listeners fall behind by more than the bound, the waiting values are dropped and the process
/// resynchronises (a follower reconnects and re-subscribes, so the leader replays the last value of each key; the
/// leader re-reads its cached last values), so neither this process nor the leader grows without bound.
/// </remarks>
internal sealed class LocalSubscriptions<T> where T : class
{
    /// <summary>Publications kept for replay after a failover; the oldest is forgotten beyond this.</summary>
    public const int MaxPublications = 1024;

    /// <summary>Values buffered per async-stream consumer; a consumer further behind gets its stream ended with an error.</summary>
    public const int StreamBuffer = 1024;

    private static readonly byte[] EmptyArray = [0x90];

    private readonly NodeChannel<T> _channel;
    private readonly ILogger _logger;
    private readonly int _bufferLimit;
    private readonly object _gate = new();
    private readonly Dictionary<(uint, string), Entry> _entries = new();
    private readonly Dictionary<long, Entry> _byId = new();
    private readonly LinkedList<(ClusterMethod Method, byte[] Arguments)> _publications = new();
    // The remembered publications by member and argument bytes, so a repeated publication is found without a scan.
    private readonly Dictionary<(uint, string), LinkedListNode<(ClusterMethod Method, byte[] Arguments)>> _publicationIndex = new();
    private readonly object _queueGate = new();
    private readonly Queue<Delivery> _queue = new();
    private Attachment? _attachment;
    private int _queuedValues;
    private bool _pumping;
    private long _nextId;

    public LocalSubscriptions(NodeChannel<T> channel, int bufferLimit, ILogger logger)
    {
        _channel = channel;
        _bufferLimit = bufferLimit;
        _logger = logger;
    }

    /// <summary>Publications currently remembered for replay (tests).</summary>
    internal int PublicationCount
    {
        get { lock (_gate) return _publications.Count; }
    }

    private byte[] Encode<TValue>(TValue value, IMessagePackFormatter<TValue> formatter) =>
        WireSerializer.ToBytes(value, formatter, _channel.SerializerOptions);

    private static (uint, string) KeyOf(uint methodId, byte[] registration) => (methodId, Convert.ToBase64String(registration));

    public void Subscribe<TReg, TValue>(ClusterMethod method, TReg registration, IMessagePackFormatter<TReg> registrationFormatter,
        Action<TValue> listener, IMessagePackFormatter<TValue> valueFormatter)
    {
        ArgumentNullException.ThrowIfNull(listener);
        Add(method, Encode(registration, registrationFormatter), new ActionListener<TValue>(listener, valueFormatter, _channel.SerializerOptions));
    }

    public void Unsubscribe<TReg, TValue>(ClusterMethod method, TReg registration, IMessagePackFormatter<TReg> registrationFormatter, Action<TValue>? listener)
    {
        uint subscribeId = method.Kind == ClusterMethodKind.Unsubscribe ? method.PairedId : method.Id;
        Remove(subscribeId, Encode(registration, registrationFormatter), listener);
    }

    public IAsyncEnumerable<TValue> SubscribeStream<TReg, TValue>(ClusterMethod method, TReg registration, IMessagePackFormatter<TReg> registrationFormatter,
        IMessagePackFormatter<TValue> valueFormatter, CancellationToken cancellationToken) =>
        StreamAsync(method, Encode(registration, registrationFormatter), valueFormatter, cancellationToken);

    private async IAsyncEnumerable<TValue> StreamAsync<TValue>(ClusterMethod method, byte[] registration, IMessagePackFormatter<TValue> valueFormatter,
        [EnumeratorCancellation] CancellationToken cancellationToken)
    {
        var listener = new StreamListener<TValue>(valueFormatter, _channel.SerializerOptions);
        Add(method, registration, listener);
        try
        {
            await foreach (var value in listener.Reader.ReadAllAsync(cancellationToken).ConfigureAwait(false))
                yield return value;
        }
        finally
        {
            // Cancelled, broken out of, or ended by the leader: this consumer's share of the subscription ends here.
            Remove(method.Id, registration, listener);
        }
    }

    public void AddEventHandler<TValue>(ClusterMethod method, object sender, EventHandler<TValue> handler, IMessagePackFormatter<TValue> valueFormatter)
    {
        ArgumentNullException.ThrowIfNull(handler);
        Add(method, EmptyArray, new EventListener<TValue>(sender, handler, valueFormatter, _channel.SerializerOptions));
    }

    public void RemoveEventHandler<TValue>(ClusterMethod method, EventHandler<TValue> handler) => Remove(method.Id, EmptyArray, handler);

    public void Publish<TArgs>(ClusterMethod method, in TArgs arguments, IMessagePackFormatter<TArgs> argumentsFormatter)
    {
        byte[] encoded = Encode(arguments, argumentsFormatter);
        LeaderChannel<T>? local = null;
        lock (_gate)
        {
            // The same publication again replaces the remembered one (moved to the end), so a replay sends it once.
            var key = KeyOf(method.Id, encoded);
            if (_publicationIndex.Remove(key, out var previous)) _publications.Remove(previous);
            _publicationIndex.Add(key, _publications.AddLast((method, encoded)));
            if (_publications.Count > MaxPublications)
            {
                var oldest = _publications.First!.Value;
                _publications.RemoveFirst();
                _publicationIndex.Remove(KeyOf(oldest.Method.Id, oldest.Arguments));
                NodeLog.PublicationForgotten(_logger, _channel.Name, MaxPublications);
            }
            // Sent under the lock, to the attachment that has already replayed: a publication made while a new leader is
            // being attached goes to it exactly once (by the replay or by this send, never both).
            switch (_attachment)
            {
                case { Connection: { } connection } attachment:
                    connection.TrySendPublish(attachment.ChannelId, method, encoded);
                    break;
                case { Local: { } leader }:
                    local = leader;
                    break;
            }
        }
        if (local is not null) _ = PublishLocallyAsync(local, method, encoded);
    }

    private async Task PublishLocallyAsync(LeaderChannel<T> leader, ClusterMethod method, byte[] encoded)
    {
        try
        {
            await leader.Readiness.WaitAsync(_channel.TimeoutOf(method), CancellationToken.None).ConfigureAwait(false);
            await Dispatch(leader, method, encoded).ConfigureAwait(false);
        }
        catch (Exception ex)
        {
            NodeLog.OnewayFailed(_logger, method.Name, ex);
        }
    }

    private static ValueTask Dispatch(LeaderChannel<T> leader, ClusterMethod method, byte[] encoded)
    {
        var reader = WireSerializer.CreateReader(new ReadOnlySequence<byte>(encoded), DecodingLimits.UntrustedData);
        return leader.DispatchAsync(method, ref reader, DiscardReply.Instance, CancellationToken.None);
    }

    private void Add(ClusterMethod method, byte[] registration, Listener listener)
    {
        Entry? entry;
        lock (_gate)
        {
            var key = KeyOf(method.Id, registration);
            if (!_entries.TryGetValue(key, out entry))
            {
                entry = new Entry(this, method, registration, Interlocked.Increment(ref _nextId));
                _entries.Add(key, entry);
                _byId.Add(entry.SubscriptionId, entry);
                entry.Listeners = [listener];
                Attach(_attachment, entry);
                return;
            }
            // A second listener of a key this process already has: it joins in the queue's order, and first gets the
            // last value the others saw (if the key replays), so it never sees an older value after a newer one.
            listener.Pending = true;
            entry.Listeners = [.. entry.Listeners, listener];
        }
        Enqueue(new Delivery(DeliveryKind.Join, entry, null, null, listener));
    }

    private void Remove(uint methodId, byte[] registration, object? identity)
    {
        lock (_gate)
        {
            var key = KeyOf(methodId, registration);
            if (!_entries.TryGetValue(key, out var entry)) return;
            if (identity is null)
            {
                foreach (var listener in entry.Listeners) listener.Removed = true;
                entry.Listeners = [];
            }
            else
            {
                int index = Array.FindIndex(entry.Listeners, l => Equals(l.Identity, identity));
                if (index < 0) return;
                entry.Listeners[index].Removed = true;
                entry.Listeners = [.. entry.Listeners.AsSpan(0, index), .. entry.Listeners.AsSpan(index + 1)];
            }
            if (entry.Listeners.Length != 0) return;
            Forget(entry);
            Detach(_attachment, entry);
        }
    }

    /// <summary>Under <see cref="_gate"/>.</summary>
    private void Forget(Entry entry)
    {
        entry.Closed = true;
        _entries.Remove(KeyOf(entry.Method.Id, entry.Registration));
        _byId.Remove(entry.SubscriptionId);
    }

    /// <summary>Under <see cref="_gate"/>; sends never block.</summary>
    private static void Attach(Attachment? attachment, Entry entry)
    {
        if (attachment is null) return; // attached when a leader is found
        if (attachment.Local is { } leader) leader.Hub.Add(entry.Method.Id, entry.Registration, entry);
        else attachment.Connection!.TrySendSubscription(PacketType.Subscribe, attachment.ChannelId, entry.Method, entry.SubscriptionId, entry.Registration);
    }

    /// <summary>Under <see cref="_gate"/>.</summary>
    private static void Detach(Attachment? attachment, Entry entry)
    {
        if (attachment is null) return;
        if (attachment.Local is { } leader) leader.Hub.Remove(entry.Method.Id, entry.Registration, null, entry.SubscriptionId);
        else attachment.Connection!.TrySendSubscription(PacketType.Unsubscribe, attachment.ChannelId, entry.Method, entry.SubscriptionId, entry.Registration);
    }

    /// <summary>A new leader connection accepted the channel: re-subscribe and re-publish everything, once.</summary>
    public void Resume(LeaderConnection connection, int channelId)
    {
        lock (_gate)
        {
            var attachment = new Attachment(null, connection, channelId);
            _attachment = attachment;
            foreach (var entry in _entries.Values)
            {
                Enqueue(new Delivery(DeliveryKind.Resumed, entry, null, null, null));
                Attach(attachment, entry);
            }
            foreach (var (method, arguments) in _publications) connection.TrySendPublish(channelId, method, arguments);
        }
    }

    /// <summary>This process became the leader: attach to its own hub and replay publications once the real client exists.</summary>
    public void ResumeLocally(LeaderChannel<T> leader)
    {
        (ClusterMethod, byte[])[] publications;
        lock (_gate)
        {
            var attachment = new Attachment(leader, null, 0);
            _attachment = attachment;
            foreach (var entry in _entries.Values)
            {
                Enqueue(new Delivery(DeliveryKind.Resumed, entry, null, null, null));
                Attach(attachment, entry);
            }
            publications = [.. _publications];
        }
        foreach (var (method, arguments) in publications) _ = PublishLocallyAsync(leader, method, arguments);
    }

    /// <summary><paramref name="connection"/> is gone: nothing is sent or accepted until the next leader is attached.</summary>
    public void Detached(LeaderConnection connection)
    {
        lock (_gate)
        {
            if (_attachment?.Connection == connection) _attachment = null;
        }
    }

    /// <summary>A value pushed by the leader for one of this process's subscriptions (on the read loop: only queues).</summary>
    public void OnRemote(in Frame frame, in SubscribeResultHeader header)
    {
        Entry? entry;
        lock (_gate)
        {
            // Values still arriving from a connection this process has let go of (after an overflow) are stale.
            if (_attachment?.Connection is null) return;
            _byId.TryGetValue(header.SubscriptionId, out entry);
        }
        if (entry is null) return; // unsubscribed meanwhile
        switch (header.Kind)
        {
            case SubscriptionEventKind.Value:
                entry.Deliver(frame.Body.ToArray());
                break;
            case SubscriptionEventKind.Completed:
                entry.Complete(null);
                break;
            default:
                var reader = frame.CreateBodyReader();
                entry.Complete(RemoteError.Read(ref reader));
                break;
        }
    }

    public ValueTask StopAsync()
    {
        Entry[] entries;
        lock (_gate)
        {
            entries = [.. _entries.Values];
            foreach (var entry in entries)
            {
                Detach(_attachment, entry);
                Forget(entry);
            }
            _attachment = null;
            _publications.Clear();
            _publicationIndex.Clear();
        }
        lock (_queueGate)
        {
            _queue.Clear();
            _queuedValues = 0;
        }
        foreach (var entry in entries)
        {
            foreach (var listener in entry.Listeners) listener.Complete(null);
        }
        return ValueTask.CompletedTask;
    }

    private void Enqueue(in Delivery delivery, bool replay = false)
    {
        bool start;
        lock (_queueGate)
        {
            if (delivery.Kind == DeliveryKind.Value)
            {
                // A resynchronisation's own replay is bounded by the number of keys and never overflows again.
                if (_queuedValues >= _bufferLimit && !replay)
                {
                    OverflowLocked();
                    return;
                }
                _queuedValues++;
            }
            _queue.Enqueue(delivery);
            start = !_pumping;
            _pumping = true;
        }
        if (start) ThreadPool.UnsafeQueueUserWorkItem(static self => self.Pump(), this, preferLocal: false);
    }

    /// <summary>
    /// Under <see cref="_queueGate"/> (possibly inside the hub's per-key lock): drops the waiting values and schedules
    /// the resynchronisation on another thread, which takes the other locks.
    /// </summary>
    private void OverflowLocked()
    {
        int kept = _queue.Count;
        for (int i = 0; i < kept; i++)
        {
            var item = _queue.Dequeue();
            if (item.Kind != DeliveryKind.Value) _queue.Enqueue(item);
        }
        int dropped = _queuedValues + 1;
        _queuedValues = 0;
        ThreadPool.UnsafeQueueUserWorkItem(static state => state.Self.Resynchronise(state.Dropped), (Self: this, Dropped: dropped), preferLocal: false);
    }

    private void Resynchronise(int dropped)
    {
        string reason = $"the subscription listeners of channel '{_channel.Name}' fell {dropped} values behind (SubscriptionBufferSize {_bufferLimit}); " +
                        "the waiting values were dropped and the subscriptions resynchronised (the last value of each key is delivered again)";
        NodeLog.SubscriptionOverflow(_logger, _channel.Name, dropped, _bufferLimit);
        _channel.RaiseListenerError(null, new ClusterClientException($"This process could not keep up: {reason}."));
        LeaderConnection? reconnect = null;
        lock (_gate)
        {
            switch (_attachment)
            {
                case { Connection: { } connection }:
                    // Let go of this connection; the node reconnects, re-registers and re-subscribes, and the leader
                    // replays the last value of each key.
                    _attachment = null;
                    reconnect = connection;
                    break;
                case { Local: { } leader }:
                    foreach (var entry in _entries.Values)
                    {
                        if (!entry.ReplaysLastValue) continue;
                        Enqueue(new Delivery(DeliveryKind.Resumed, entry, null, null, null));
                        if (leader.Hub.LastValue(entry.Method.Id, entry.Registration) is { } last) Enqueue(new Delivery(DeliveryKind.Value, entry, last, null, null), replay: true);
                    }
                    break;
            }
        }
        if (reconnect is not null) _ = reconnect.CloseAsync($"this follower is reconnecting: {reason}").AsTask();
    }

    private void Pump()
    {
        while (true)
        {
            Delivery item;
            lock (_queueGate)
            {
                if (!_queue.TryDequeue(out item))
                {
                    _pumping = false;
                    return;
                }
                if (item.Kind == DeliveryKind.Value) _queuedValues--;
            }
            try
            {
                Process(item);
            }
            catch (Exception ex)
            {
                // Only listener code can throw here and Process isolates it; this keeps the worker alive regardless.
                NodeLog.ListenerFailed(_logger, _channel.Name, ex);
            }
        }
    }

    private void Process(in Delivery item)
    {
        var entry = item.Entry;
        switch (item.Kind)
        {
            case DeliveryKind.Value:
                if (entry.Closed) return;
                var value = item.Value!;
                if (entry.SuppressIfEqual is { } previous)
                {
                    // The first value after attaching to a new leader is usually the replay of the last value this
                    // process already delivered: listeners see it once, not twice.
                    entry.SuppressIfEqual = null;
                    if (previous.AsSpan().SequenceEqual(value)) return;
                }
                entry.LastDelivered = value;
                foreach (var listener in entry.Listeners)
                {
                    if (!listener.Pending && !listener.Removed) Deliver(entry, listener, value);
                }
                break;
            case DeliveryKind.Join:
                var joining = item.Listener!;
                if (!entry.Closed && entry.ReplaysLastValue && entry.LastDelivered is { } last && !joining.Removed) Deliver(entry, joining, last);
                joining.Pending = false;
                break;
            case DeliveryKind.Resumed:
                if (entry.ReplaysLastValue) entry.SuppressIfEqual = entry.LastDelivered;
                break;
            case DeliveryKind.Completed:
                Listener[] listeners;
                lock (_gate)
                {
                    listeners = entry.Listeners;
                    if (!entry.Closed) Forget(entry);
                }
                if (item.Error is not null) ListenerFailed(entry.Method, item.Error);
                foreach (var listener in listeners) listener.Complete(item.Error);
                break;
        }
    }

    private void Deliver(Entry entry, Listener listener, byte[] value)
    {
        try
        {
            if (!listener.Deliver(value)) Remove(entry.Method.Id, entry.Registration, listener.Identity);
        }
        catch (Exception ex)
        {
            ListenerFailed(entry.Method, ex);
        }
    }

    private void ListenerFailed(ClusterMethod method, Exception ex)
    {
        NodeLog.ListenerFailed(_logger, _channel.Name, ex);
        _channel.RaiseListenerError(method.Name, ex);
    }

    private enum DeliveryKind
    {
        Value,
        Completed,
        /// <summary>A second local listener of a key becomes live (after the last value, if replayed).</summary>
        Join,
        /// <summary>The entry was attached to a new leader: suppress a replay of the value already delivered.</summary>
        Resumed,
    }

    private readonly record struct Delivery(DeliveryKind Kind, Entry Entry, byte[]? Value, Exception? Error, Listener? Listener);

    /// <summary>Where this process's subscriptions are attached: its own hub, or a leader connection.</summary>
    private sealed record Attachment(LeaderChannel<T>? Local, LeaderConnection? Connection, int ChannelId);

    /// <summary>One (member, registration) of this process: a subscriber of the leader's hub.</summary>
    private sealed class Entry(LocalSubscriptions<T> owner, ClusterMethod method, byte[] registration, long subscriptionId) : ISubscriber
    {
        public ClusterMethod Method { get; } = method;

        public byte[] Registration { get; } = registration;

        public long SubscriptionId { get; } = subscriptionId;

        public object? Owner => null;

        /// <summary>Copy-on-write under the owner's lock.</summary>
        public Listener[] Listeners { get; set; } = [];

        /// <summary>Set under the owner's lock when the entry is forgotten.</summary>
        public volatile bool Closed;

        /// <summary>Touched by the delivery worker only.</summary>
        public byte[]? LastDelivered { get; set; }

        /// <summary>Touched by the delivery worker only.</summary>
        public byte[]? SuppressIfEqual { get; set; }

        public bool ReplaysLastValue => Method.Kind == ClusterMethodKind.Subscribe && Method.Broadcast;

        public void Deliver(ReadOnlySpan<byte> value) => Deliver(value.ToArray());

        public void Deliver(byte[] value) => owner.Enqueue(new Delivery(DeliveryKind.Value, this, value, null, null));

        public void Complete(Exception? error) => owner.Enqueue(new Delivery(DeliveryKind.Completed, this, null, error, null));
    }

    private abstract class Listener
    {
        public abstract object Identity { get; }

        /// <summary>Joined, waiting for its turn in the delivery order.</summary>
        public volatile bool Pending;

        public volatile bool Removed;

        /// <summary>Each listener decodes its own copy. False when the listener cannot take more (it is removed then).</summary>
        public abstract bool Deliver(byte[] value);

        public virtual void Complete(Exception? error)
        {
        }

        protected static TValue Decode<TValue>(byte[] value, IMessagePackFormatter<TValue> formatter, MessagePackSerializerOptions options) =>
            WireSerializer.Decode(value, formatter, options);
    }

    private sealed class ActionListener<TValue>(Action<TValue> action, IMessagePackFormatter<TValue> formatter, MessagePackSerializerOptions options) : Listener
    {
        public override object Identity => action;

        public override bool Deliver(byte[] value)
        {
            action(Decode(value, formatter, options));
            return true;
        }
    }

    private sealed class EventListener<TValue>(object sender, EventHandler<TValue> handler, IMessagePackFormatter<TValue> formatter,
        MessagePackSerializerOptions options) : Listener
    {
        public override object Identity => handler;

        public override bool Deliver(byte[] value)
        {
            handler(sender, Decode(value, formatter, options));
            return true;
        }
    }

    private sealed class StreamListener<TValue>(IMessagePackFormatter<TValue> formatter, MessagePackSerializerOptions options) : Listener
    {
        private readonly Channel<TValue> _values = Channel.CreateBounded<TValue>(new BoundedChannelOptions(StreamBuffer)
        {
            FullMode = BoundedChannelFullMode.Wait,
            SingleReader = true,
        });

        public ChannelReader<TValue> Reader => _values.Reader;

        public override object Identity => this;

        public override bool Deliver(byte[] value)
        {
            if (_values.Writer.TryWrite(Decode(value, formatter, options))) return true;
            // Never dropped silently and never unbounded: a consumer this far behind loses its stream, with the reason.
            _values.Writer.TryComplete(new ClusterClientException(
                $"The async stream's consumer fell {StreamBuffer} values behind; the stream was ended to bound memory. Consume faster or subscribe again."));
            return false;
        }

        public override void Complete(Exception? error) => _values.Writer.TryComplete(error);
    }

    private sealed class DiscardReply : IReplyWriter
    {
        public static readonly DiscardReply Instance = new();

        public void WriteResult<TResult>(TResult value, IMessagePackFormatter<TResult> formatter, MessagePackSerializerOptions options)
        {
        }

        public void WriteVoid()
        {
        }
    }
}
