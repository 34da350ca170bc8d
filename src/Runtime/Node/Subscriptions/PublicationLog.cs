using ClusterSharing.Follower;
using ClusterSharing.Leader;
using ClusterSharing.Proxies;
using ClusterSharing.Serialization;
using Microsoft.Extensions.Logging;

namespace ClusterSharing.Node.Subscriptions;

/// <summary>
/// The publications this process made on one channel, remembered (deduplicated by member and argument bytes, at most
/// <see cref="Capacity"/>) so that each new leader gets them once: sent through the channel's current route as they
/// are made, replayed when the channel takes a new route.
/// </summary>
/// <remarks>Shares the channel's route lock, so a publication made while a new leader is being attached reaches it exactly once.</remarks>
internal sealed class PublicationLog<T>(NodeChannel<T> channel, ILogger logger) where T : class
{
    /// <summary>Publications kept for replay after a failover; the oldest is forgotten beyond this.</summary>
    public const int Capacity = 1024;

    private readonly LinkedList<(ClusterMethod Method, byte[] Arguments)> _publications = new();
    // The remembered publications by member and argument bytes, so a repeated publication is found without a scan.
    private readonly Dictionary<(uint, string), LinkedListNode<(ClusterMethod Method, byte[] Arguments)>> _index = new();

    private object Gate => channel.RouteGate;

    /// <summary>Publications currently remembered for replay (tests).</summary>
    internal int Count
    {
        get { lock (Gate) return _publications.Count; }
    }

    public void Publish<TArgs>(ClusterMethod method, in TArgs arguments, IMessagePackFormatter<TArgs> argumentsFormatter)
    {
        byte[] encoded = LocalSubscriptions<T>.Encode(arguments, argumentsFormatter);
        LeaderChannel<T>? local = null;
        lock (Gate)
        {
            // The same publication again replaces the remembered one (moved to the end), so a replay sends it once.
            var key = LocalSubscriptions<T>.KeyOf(method.Id, encoded);
            if (_index.Remove(key, out var previous)) _publications.Remove(previous);
            _index.Add(key, _publications.AddLast((method, encoded)));
            if (_publications.Count > Capacity)
            {
                var oldest = _publications.First!.Value;
                _publications.RemoveFirst();
                _index.Remove(LocalSubscriptions<T>.KeyOf(oldest.Method.Id, oldest.Arguments));
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
                    local = leader;
                    break;
            }
        }
        if (local is not null) _ = PublishLocallyAsync(local, method, encoded);
    }

    /// <summary>Under the route lock: a new leader connection accepted the channel; re-publish everything, once.</summary>
    public void ReplayTo(LeaderConnection connection, int channelId)
    {
        foreach (var (method, arguments) in _publications) connection.TrySendPublish(channelId, method, arguments);
    }

    /// <summary>Under the route lock: what to replay to this process's own real client once it exists (<see cref="ReplayLocally"/>).</summary>
    public (ClusterMethod Method, byte[] Arguments)[] Snapshot() => [.. _publications];

    /// <summary>Outside the lock: sends <paramref name="publications"/> to <paramref name="leader"/> once its real client is ready.</summary>
    public void ReplayLocally(LeaderChannel<T> leader, (ClusterMethod Method, byte[] Arguments)[] publications)
    {
        foreach (var (method, arguments) in publications) _ = PublishLocallyAsync(leader, method, arguments);
    }

    /// <summary>Under the route lock, as the channel stops.</summary>
    public void Clear()
    {
        _publications.Clear();
        _index.Clear();
    }

    private async Task PublishLocallyAsync(LeaderChannel<T> leader, ClusterMethod method, byte[] encoded)
    {
        try
        {
            await leader.Readiness.WaitAsync(channel.TimeoutOf(method), CancellationToken.None).ConfigureAwait(false);
            await Dispatch(leader, method, encoded).ConfigureAwait(false);
        }
        catch (Exception ex)
        {
            NodeLog.OnewayFailed(logger, method.Name, ex);
        }
    }

    private static ValueTask Dispatch(LeaderChannel<T> leader, ClusterMethod method, byte[] encoded)
    {
        var reader = new MessagePackReader(encoded, MessagePackReaderOptions.UntrustedData);
        return leader.DispatchAsync(method, ref reader, DiscardReply.Instance, CancellationToken.None);
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
