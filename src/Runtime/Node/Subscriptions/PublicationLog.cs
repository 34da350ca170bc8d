using ClusterSharing.Follower;
using ClusterSharing.Leader;
using ClusterSharing.Proxies;
using ClusterSharing.Serialization;
using System.Buffers;
using MessagePack;
using MessagePack.Formatters;
using Microsoft.Extensions.Logging;

namespace ClusterSharing.Node.Subscriptions;

/// <summary>
/// The publications this process made on one channel, remembered (deduplicated by member and argument bytes, at most
/// <see cref="Capacity"/>) so that each new leader gets them once: sent through the channel's current route as they
/// are made, replayed when the channel takes a new route. A <see cref="ClusterMethod.LastValue"/> publication is keyed
/// by its member and first argument (the member alone when it has one argument) instead, so it supersedes the earlier
/// ones with that key: in the replay and in the queue to this process's own real client.
/// </summary>
/// <remarks>
/// Shares the channel's route lock, so a publication made while a new leader is being attached reaches it exactly once.
/// When this process leads, its publications reach its own real client through one ordered queue drained by one
/// worker at a time: while the client is being built (start-up, takeover) they wait there, replays first, and reach it
/// one at a time in the order they were made.
/// </remarks>
internal sealed class PublicationLog<T>(NodeChannel<T> channel, ILogger logger) where T : class
{
    /// <summary>Publications kept for replay after a failover; the oldest is forgotten beyond this.</summary>
    public const int Capacity = 1024;

    /// <summary>Publications waiting for this process's own real client; the oldest is dropped beyond this.</summary>
    public const int MaxWaitingLocally = 4 * Capacity;

    private readonly LinkedList<(ClusterMethod Method, byte[] Arguments)> _publications = new();
    // The remembered publications by member and argument bytes, so a repeated publication is found without a scan.
    private readonly Dictionary<(uint, string), LinkedListNode<(ClusterMethod Method, byte[] Arguments)>> _index = new();
    // Publications on their way to this process's real client, in the order made; guarded by the route lock.
    private readonly LinkedList<LocalPublication> _local = new();
    // The waiting last-value publication of each key, so a newer one replaces it where it waits.
    private readonly Dictionary<(uint, string), LinkedListNode<LocalPublication>> _localLatest = new();
    private bool _draining;

    private object Gate => channel.RouteGate;

    /// <summary>Publications currently remembered for replay (tests).</summary>
    internal int Count
    {
        get { lock (Gate) return _publications.Count; }
    }

    public void Publish<TArgs>(ClusterMethod method, in TArgs arguments, IMessagePackFormatter<TArgs> argumentsFormatter)
    {
        byte[] encoded = LocalSubscriptions<T>.Encode(arguments, argumentsFormatter, channel.SerializerOptions);
        bool start = false;
        lock (Gate)
        {
            // The same publication again replaces the remembered one (moved to the end), so a replay sends it once.
            var key = KeyOf(method, encoded);
            if (_index.Remove(key, out var previous)) _publications.Remove(previous);
            _index.Add(key, _publications.AddLast((method, encoded)));
            if (_publications.Count > Capacity)
            {
                var oldest = _publications.First!.Value;
                _publications.RemoveFirst();
                _index.Remove(KeyOf(oldest.Method, oldest.Arguments));
                NodeLog.PublicationForgotten(logger, channel.Name, Capacity);
            }
            // Sent under the lock, to the route that has already replayed: a publication made while a new leader is
            // being attached goes to it exactly once (by the replay or by this send, never both).
            switch (channel.CurrentRoute)
            {
                case { Connection: { } connection } route:
                    connection.TrySendPublish(route.ChannelId, method, encoded);
                    break;
                case { Local: { } leader }:
                    start = EnqueueLocallyLocked(new LocalPublication(leader, method, encoded));
                    break;
            }
        }
        // Ready: the caller's own thread delivers it (and whatever is queued before it) before Publish returns.
        if (start) _ = DrainLocallyAsync();
    }

    /// <summary>
    /// What a publication replaces: the same member and argument bytes, or for a last-value member the same member and
    /// first argument (the member alone when it takes one argument).
    /// </summary>
    internal static (uint, string) KeyOf(ClusterMethod method, byte[] arguments)
    {
        if (!method.LastValue) return LocalSubscriptions<T>.KeyOf(method.Id, arguments);
        var reader = new MessagePackReader(arguments);
        int count = reader.ReadArrayHeader();
        if (count < 2) return (method.Id, string.Empty);
        long start = reader.Consumed;
        reader.Skip();
        return (method.Id, Convert.ToBase64String(arguments, (int)start, (int)(reader.Consumed - start)));
    }

    /// <summary>Under the route lock: a new leader connection accepted the channel; re-publish everything, once.</summary>
    public void ReplayTo(LeaderConnection connection, int channelId)
    {
        foreach (var (method, arguments) in _publications) connection.TrySendPublish(channelId, method, arguments);
    }

    /// <summary>
    /// Under the route lock, as this process starts leading: everything remembered goes to <paramref name="leader"/>'s
    /// real client once it exists, before any publication made from now on.
    /// </summary>
    public void ReplayLocally(LeaderChannel<T> leader)
    {
        // What still waits for a previous term's client is remembered too, and replayed here in its place.
        _local.Clear();
        _localLatest.Clear();
        foreach (var (method, arguments) in _publications) AddLocallyLocked(new LocalPublication(leader, method, arguments));
        if (_draining || _local.Count == 0) return;
        _draining = true;
        // Not on the caller's thread: it holds the route lock.
        ThreadPool.UnsafeQueueUserWorkItem(static self => _ = self.DrainLocallyAsync(), this, preferLocal: false);
    }

    /// <summary>Under the route lock, as the channel stops.</summary>
    public void Clear()
    {
        _publications.Clear();
        _index.Clear();
        _local.Clear();
        _localLatest.Clear();
    }

    /// <summary>Under the route lock; true when the caller must start the worker.</summary>
    private bool EnqueueLocallyLocked(in LocalPublication publication)
    {
        if (_local.Count >= MaxWaitingLocally)
        {
            TakeFirstLocked();
            NodeLog.LocalPublicationDropped(logger, channel.Name, MaxWaitingLocally);
        }
        AddLocallyLocked(publication);
        if (_draining) return false;
        _draining = true;
        return true;
    }

    /// <summary>Under the route lock: queues <paramref name="publication"/> last; a waiting one it supersedes leaves the queue.</summary>
    private void AddLocallyLocked(in LocalPublication publication)
    {
        if (!publication.Method.LastValue)
        {
            _local.AddLast(publication);
            return;
        }
        var key = KeyOf(publication.Method, publication.Arguments);
        if (_localLatest.Remove(key, out var superseded)) _local.Remove(superseded);
        _localLatest.Add(key, _local.AddLast(publication));
    }

    /// <summary>Under the route lock: removes and returns the oldest waiting publication.</summary>
    private LocalPublication TakeFirstLocked()
    {
        var first = _local.First!;
        _local.RemoveFirst();
        var publication = first.Value;
        if (publication.Method.LastValue)
        {
            var key = KeyOf(publication.Method, publication.Arguments);
            if (_localLatest.TryGetValue(key, out var latest) && latest == first) _localLatest.Remove(key);
        }
        return publication;
    }

    /// <summary>The one worker of the local queue: each publication waits for its real client, then reaches it, in order.</summary>
    private async Task DrainLocallyAsync()
    {
        while (true)
        {
            LocalPublication next;
            lock (Gate)
            {
                // Cleared only once the previous publication was delivered: a later one cannot overtake it.
                if (_local.Count == 0)
                {
                    _draining = false;
                    return;
                }
                next = TakeFirstLocked();
            }
            try
            {
                if (!await WaitForClientAsync(next).ConfigureAwait(false)) continue;
                await Dispatch(next.Leader, next.Method, next.Arguments).ConfigureAwait(false);
            }
            catch (Exception ex)
            {
                NodeLog.OnewayFailed(logger, next.Method.Name, ex);
            }
        }
    }

    /// <summary>
    /// Waits while this process leads with <paramref name="publication"/>'s leader channel and its client does not
    /// exist (a failing factory is retried meanwhile); false when the route moved on (the next route's replay has it).
    /// </summary>
    private async ValueTask<bool> WaitForClientAsync(LocalPublication publication)
    {
        var readiness = publication.Leader.Readiness;
        while (channel.CurrentRoute?.Local == publication.Leader)
        {
            if (readiness.IsReady) return true;
            try
            {
                await readiness.WaitAsync(channel.TimeoutOf(publication.Method), CancellationToken.None).ConfigureAwait(false);
            }
            catch (Exception ex) when (ex is TimeoutException or ClusterClientException)
            {
                // Not built yet, or the factory failed and is being retried: keep waiting while this term lasts.
            }
        }
        return false;
    }

    private static ValueTask Dispatch(LeaderChannel<T> leader, ClusterMethod method, byte[] encoded)
    {
        var reader = WireSerializer.CreateReader(new ReadOnlySequence<byte>(encoded), DecodingLimits.UntrustedData);
        return leader.DispatchAsync(method, ref reader, DiscardReply.Instance, CancellationToken.None);
    }

    private readonly record struct LocalPublication(LeaderChannel<T> Leader, ClusterMethod Method, byte[] Arguments);

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
