using System.Buffers;
using System.Runtime.CompilerServices;
using System.Threading.Channels;
using ClusterSharing.Follower;
using ClusterSharing.Leader;
using ClusterSharing.Protocol;
using ClusterSharing.Proxies;
using ClusterSharing.Serialization;
using Microsoft.Extensions.Logging;

namespace ClusterSharing.Hosting;

/// <summary>
/// This process's subscriptions, event handlers and publications of one channel. Each distinct
/// (member, registration bytes) is one entry with any number of local listeners; the entry is attached to the
/// leader's hub (in-process when this process leads, by Subscribe packets when it follows) and re-attached to every
/// new leader. Publications are remembered (deduplicated, at most <see cref="MaxPublications"/>) and replayed to a new leader.
/// </summary>
internal sealed class LocalSubscriptions<T> where T : class
{
    /// <summary>Publications kept for replay after a failover; the oldest is forgotten beyond this.</summary>
    public const int MaxPublications = 1024;

    /// <summary>Values buffered per async-stream subscriber before the oldest is dropped.</summary>
    public const int StreamBuffer = 1024;

    private static readonly byte[] EmptyArray = [0x90];

    private readonly NodeChannel<T> _channel;
    private readonly ILogger _logger;
    private readonly object _gate = new();
    private readonly Dictionary<(uint, string), Entry> _entries = new();
    private readonly Dictionary<long, Entry> _byId = new();
    private readonly LinkedList<(ClusterMethod Method, byte[] Arguments)> _publications = new();
    private long _nextId;

    public LocalSubscriptions(NodeChannel<T> channel, ILogger logger)
    {
        _channel = channel;
        _logger = logger;
    }

    private static byte[] Encode<TValue>(TValue value, IMessagePackFormatter<TValue> formatter)
    {
        var buffer = new ArrayBufferWriter<byte>(64);
        var writer = new MessagePackWriter(buffer);
        formatter.Serialize(ref writer, value);
        writer.Flush();
        return buffer.WrittenSpan.ToArray();
    }

    private static (uint, string) KeyOf(uint methodId, byte[] registration) => (methodId, Convert.ToBase64String(registration));

    public void Subscribe<TReg, TValue>(ClusterMethod method, TReg registration, IMessagePackFormatter<TReg> registrationFormatter,
        Action<TValue> listener, IMessagePackFormatter<TValue> valueFormatter)
    {
        ArgumentNullException.ThrowIfNull(listener);
        Add(method, Encode(registration, registrationFormatter), new ActionListener<TValue>(listener, valueFormatter, this));
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
        var listener = new StreamListener<TValue>(valueFormatter);
        Add(method, registration, listener);
        try
        {
            await foreach (var value in listener.Reader.ReadAllAsync(cancellationToken).ConfigureAwait(false))
                yield return value;
        }
        finally
        {
            Remove(method.Id, registration, listener);
        }
    }

    public void AddEventHandler<TValue>(ClusterMethod method, object sender, EventHandler<TValue> handler, IMessagePackFormatter<TValue> valueFormatter)
    {
        ArgumentNullException.ThrowIfNull(handler);
        Add(method, EmptyArray, new EventListener<TValue>(sender, handler, valueFormatter, this));
    }

    public void RemoveEventHandler<TValue>(ClusterMethod method, EventHandler<TValue> handler) => Remove(method.Id, EmptyArray, handler);

    public void Publish<TArgs>(ClusterMethod method, in TArgs arguments, IMessagePackFormatter<TArgs> argumentsFormatter)
    {
        byte[] encoded = Encode(arguments, argumentsFormatter);
        lock (_gate)
        {
            var node = _publications.First;
            while (node is not null)
            {
                var next = node.Next;
                if (node.Value.Method.Id == method.Id && node.Value.Arguments.AsSpan().SequenceEqual(encoded)) _publications.Remove(node);
                node = next;
            }
            _publications.AddLast((method, encoded));
            if (_publications.Count > MaxPublications) _publications.RemoveFirst();
        }
        SendPublication(_channel.CurrentRoute, method, encoded);
    }

    private void SendPublication(NodeChannel<T>.Route? route, ClusterMethod method, byte[] encoded)
    {
        if (route is null) return; // replayed when a leader is found
        if (route.Local is { } leader)
        {
            _ = PublishLocallyAsync(leader, method, encoded);
        }
        else if (_channel.Readiness.IsReady)
        {
            route.Connection!.TrySendPublish(route.ChannelId, method, encoded);
        }
    }

    private async Task PublishLocallyAsync(LeaderChannel<T> leader, ClusterMethod method, byte[] encoded)
    {
        try
        {
            await leader.Readiness.WaitAsync(_channel.TimeoutOf(method), CancellationToken.None).ConfigureAwait(false);
            var call = Dispatch(leader, method, encoded);
            await call.ConfigureAwait(false);
        }
        catch (Exception ex)
        {
            NodeLog.OnewayFailed(_logger, method.Name, ex);
        }
    }

    private static ValueTask Dispatch(LeaderChannel<T> leader, ClusterMethod method, byte[] encoded)
    {
        var reader = new MessagePackReader(encoded, MessagePackReaderOptions.UntrustedData);
        return leader.DispatchAsync(method, ref reader, DiscardReply.Instance, CancellationToken.None);
    }

    private void Add(ClusterMethod method, byte[] registration, Listener listener)
    {
        Entry entry;
        bool created = false;
        lock (_gate)
        {
            var key = KeyOf(method.Id, registration);
            if (!_entries.TryGetValue(key, out entry!))
            {
                entry = new Entry(this, method, registration, Interlocked.Increment(ref _nextId));
                _entries.Add(key, entry);
                _byId.Add(entry.SubscriptionId, entry);
                created = true;
            }
            entry.Listeners = [.. entry.Listeners, listener];
        }
        if (created) Attach(_channel.CurrentRoute, entry);
        else if (entry.LastValue is { } last) listener.Deliver(last);
    }

    private void Remove(uint methodId, byte[] registration, object? identity)
    {
        Entry? detach = null;
        lock (_gate)
        {
            var key = KeyOf(methodId, registration);
            if (!_entries.TryGetValue(key, out var entry)) return;
            entry.Listeners = identity is null ? [] : RemoveOne(entry.Listeners, identity);
            if (entry.Listeners.Length == 0)
            {
                _entries.Remove(key);
                _byId.Remove(entry.SubscriptionId);
                detach = entry;
            }
        }
        if (detach is not null) Detach(_channel.CurrentRoute, detach);
    }

    private static Listener[] RemoveOne(Listener[] listeners, object identity)
    {
        int index = Array.FindIndex(listeners, l => Equals(l.Identity, identity));
        if (index < 0) return listeners;
        var result = new Listener[listeners.Length - 1];
        Array.Copy(listeners, result, index);
        Array.Copy(listeners, index + 1, result, index, listeners.Length - index - 1);
        return result;
    }

    private void Attach(NodeChannel<T>.Route? route, Entry entry)
    {
        if (route is null) return; // attached when a leader is found
        if (route.Local is { } leader) leader.Hub.Add(entry.Method.Id, entry.Registration, entry);
        else if (_channel.Readiness.IsReady) route.Connection!.TrySendSubscription(PacketType.Subscribe, route.ChannelId, entry.Method, entry.SubscriptionId, entry.Registration);
    }

    private void Detach(NodeChannel<T>.Route? route, Entry entry)
    {
        entry.CompleteStreams(null);
        if (route is null) return;
        if (route.Local is { } leader) leader.Hub.Remove(entry.Method.Id, entry.Registration, null, entry.SubscriptionId);
        else route.Connection!.TrySendSubscription(PacketType.Unsubscribe, route.ChannelId, entry.Method, entry.SubscriptionId, entry.Registration);
    }

    private (Entry[] Entries, (ClusterMethod, byte[])[] Publications) Snapshot()
    {
        lock (_gate) return ([.. _entries.Values], [.. _publications]);
    }

    /// <summary>A new leader connection accepted the channel: re-subscribe and re-publish everything.</summary>
    public void Resume(LeaderConnection connection, int channelId)
    {
        var (entries, publications) = Snapshot();
        foreach (var entry in entries) connection.TrySendSubscription(PacketType.Subscribe, channelId, entry.Method, entry.SubscriptionId, entry.Registration);
        foreach (var (method, arguments) in publications) connection.TrySendPublish(channelId, method, arguments);
    }

    /// <summary>This process became the leader: attach to its own hub and replay publications once the real client exists.</summary>
    public void ResumeLocally(LeaderChannel<T> leader)
    {
        var (entries, publications) = Snapshot();
        foreach (var entry in entries) leader.Hub.Add(entry.Method.Id, entry.Registration, entry);
        foreach (var (method, arguments) in publications) _ = PublishLocallyAsync(leader, method, arguments);
    }

    /// <summary>A value pushed by the leader for one of this process's subscriptions (on the read loop).</summary>
    public void OnRemote(in Frame frame, in SubscribeResultHeader header)
    {
        Entry? entry;
        lock (_gate) _byId.TryGetValue(header.SubscriptionId, out entry);
        if (entry is null) return; // unsubscribed meanwhile
        var body = frame.Body;
        byte[] bytes = body.ToArray();
        switch (header.Kind)
        {
            case SubscriptionEventKind.Value:
                entry.Deliver(bytes);
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
        var (entries, _) = Snapshot();
        var route = _channel.CurrentRoute;
        lock (_gate)
        {
            _entries.Clear();
            _byId.Clear();
            _publications.Clear();
        }
        foreach (var entry in entries) Detach(route, entry);
        return ValueTask.CompletedTask;
    }

    private void ListenerFailed(Exception ex) => NodeLog.ListenerFailed(_logger, _channel.Name, ex);

    /// <summary>One (member, registration) of this process: a subscriber of the leader's hub.</summary>
    private sealed class Entry(LocalSubscriptions<T> owner, ClusterMethod method, byte[] registration, long subscriptionId) : ISubscriber
    {
        public ClusterMethod Method { get; } = method;

        public byte[] Registration { get; } = registration;

        public long SubscriptionId { get; } = subscriptionId;

        public object? Owner => null;

        public Listener[] Listeners { get; set; } = [];

        public byte[]? LastValue { get; private set; }

        public void Deliver(ReadOnlySpan<byte> value)
        {
            LastValue = value.ToArray();
            foreach (var listener in Listeners)
            {
                try
                {
                    listener.Deliver(value);
                }
                catch (Exception ex)
                {
                    owner.ListenerFailed(ex);
                }
            }
        }

        public void Complete(Exception? error)
        {
            if (error is not null) owner.ListenerFailed(error);
            CompleteStreams(error);
        }

        public void CompleteStreams(Exception? error)
        {
            foreach (var listener in Listeners) listener.Complete(error);
        }
    }

    private abstract class Listener
    {
        public abstract object Identity { get; }

        public abstract void Deliver(ReadOnlySpan<byte> value);

        public virtual void Complete(Exception? error)
        {
        }

        protected static TValue Decode<TValue>(ReadOnlySpan<byte> value, IMessagePackFormatter<TValue> formatter)
        {
            var reader = new MessagePackReader(value.ToArray(), MessagePackReaderOptions.UntrustedData);
            return formatter.Deserialize(ref reader);
        }
    }

    private sealed class ActionListener<TValue>(Action<TValue> action, IMessagePackFormatter<TValue> formatter, LocalSubscriptions<T> owner) : Listener
    {
        public override object Identity => action;

        public override void Deliver(ReadOnlySpan<byte> value) => action(Decode(value, formatter));

        public override void Complete(Exception? error)
        {
            if (error is not null) owner.ListenerFailed(error);
        }
    }

    private sealed class EventListener<TValue>(object sender, EventHandler<TValue> handler, IMessagePackFormatter<TValue> formatter, LocalSubscriptions<T> owner) : Listener
    {
        public override object Identity => handler;

        public override void Deliver(ReadOnlySpan<byte> value) => handler(sender, Decode(value, formatter));

        public override void Complete(Exception? error)
        {
            if (error is not null) owner.ListenerFailed(error);
        }
    }

    private sealed class StreamListener<TValue>(IMessagePackFormatter<TValue> formatter) : Listener
    {
        private readonly Channel<TValue> _values = Channel.CreateBounded<TValue>(new BoundedChannelOptions(StreamBuffer)
        {
            FullMode = BoundedChannelFullMode.DropOldest,
            SingleReader = true,
        });

        public ChannelReader<TValue> Reader => _values.Reader;

        public override object Identity => this;

        public override void Deliver(ReadOnlySpan<byte> value) => _values.Writer.TryWrite(Decode(value, formatter));

        public override void Complete(Exception? error) => _values.Writer.TryComplete(error);
    }

    private sealed class DiscardReply : IReplyWriter
    {
        public static readonly DiscardReply Instance = new();

        public void WriteResult<TResult>(TResult value, IMessagePackFormatter<TResult> formatter)
        {
        }

        public void WriteVoid()
        {
        }
    }
}
