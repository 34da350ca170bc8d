namespace ClusterSharing.Transport;

/// <summary>A request that a <see cref="RequestTable{TRequest}"/> tracks by id until exactly one party completes it.</summary>
internal interface ITrackedRequest
{
    /// <summary>The id its frames carry on this connection.</summary>
    long RequestId { get; }

    /// <summary>Stopwatch timestamp after which the request times out; <see cref="long.MaxValue"/> for none.</summary>
    long Deadline { get; }
}

/// <summary>What <see cref="RequestTable{TRequest}.TryAdd"/> did.</summary>
internal enum RequestAddResult
{
    Added,
    /// <summary>The table already holds its capacity; nothing was added.</summary>
    Full,
    /// <summary>The id is already in the table (a peer that reused an id); nothing was added.</summary>
    Duplicate,
}

/// <summary>
/// One connection's requests in progress, by request id: the follower's calls waiting for the leader's answer, the
/// leader's calls running on the real client. A plain dictionary under a lock rather than a ConcurrentDictionary: every
/// add and remove is a few instructions next to a socket send, and a Dictionary reuses its entries where a
/// ConcurrentDictionary allocates a node per request. Removing is the only way to own a request, so exactly one of the
/// response, the deadline, a cancellation or the connection's close completes it.
/// </summary>
internal sealed class RequestTable<TRequest> where TRequest : class, ITrackedRequest
{
    private readonly Lock _gate = new();
    private readonly Dictionary<long, TRequest> _entries = new();

    public int Count
    {
        get
        {
            lock (_gate) return _entries.Count;
        }
    }

    /// <summary>Adds <paramref name="request"/> under its id unless the table holds <paramref name="capacity"/> requests already.</summary>
    public RequestAddResult TryAdd(TRequest request, int capacity = int.MaxValue)
    {
        lock (_gate)
        {
            if (_entries.Count >= capacity) return RequestAddResult.Full;
            return _entries.TryAdd(request.RequestId, request) ? RequestAddResult.Added : RequestAddResult.Duplicate;
        }
    }

    public bool TryRemove(long id, [System.Diagnostics.CodeAnalysis.NotNullWhen(true)] out TRequest? request)
    {
        lock (_gate) return _entries.Remove(id, out request);
    }

    /// <summary>Removes <paramref name="id"/> only while it still maps to <paramref name="request"/> (requests are pooled and reused).</summary>
    public bool TryRemove(long id, TRequest request)
    {
        lock (_gate)
        {
            if (!_entries.TryGetValue(id, out var current) || current != request) return false;
            _entries.Remove(id);
            return true;
        }
    }

    /// <summary>Moves every request whose deadline is at or before <paramref name="timestamp"/> into <paramref name="expired"/>.</summary>
    /// <remarks>A Dictionary's enumerator is a struct: the monitor thread that calls this stays allocation-free.</remarks>
    public void RemoveExpired(long timestamp, List<TRequest> expired)
    {
        lock (_gate)
        {
            foreach (var entry in _entries)
            {
                if (timestamp >= entry.Value.Deadline) expired.Add(entry.Value);
            }
            foreach (var request in expired) _entries.Remove(request.RequestId);
        }
    }

    /// <summary>Moves every request whose id is above <paramref name="id"/> into <paramref name="removed"/>.</summary>
    public void RemoveAbove(long id, List<TRequest> removed)
    {
        lock (_gate)
        {
            foreach (var entry in _entries)
            {
                if (entry.Key > id) removed.Add(entry.Value);
            }
            foreach (var request in removed) _entries.Remove(request.RequestId);
        }
    }

    /// <summary>Empties the table, returning what was in it.</summary>
    public TRequest[] RemoveAll()
    {
        lock (_gate)
        {
            TRequest[] all = [.. _entries.Values];
            _entries.Clear();
            return all;
        }
    }
}
