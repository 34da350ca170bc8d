namespace ClusterSharing.Follower;

/// <summary>
/// A follower connection's requests waiting for their response, by request id. A plain dictionary under a lock rather
/// than a ConcurrentDictionary: every add and remove is a few instructions next to a socket send, and a Dictionary
/// reuses its entries where a ConcurrentDictionary allocates a node per request. Removing is the only way to own a
/// request, so exactly one of the response, the deadline, a cancellation or the connection's close completes it.
/// </summary>
internal sealed class RequestTable
{
    private readonly Lock _gate = new();
    private readonly Dictionary<long, PendingRequest> _entries = new();

    public int Count
    {
        get
        {
            lock (_gate) return _entries.Count;
        }
    }

    public void Add(long id, PendingRequest request)
    {
        lock (_gate) _entries.Add(id, request);
    }

    public bool TryRemove(long id, out PendingRequest? request)
    {
        lock (_gate) return _entries.Remove(id, out request);
    }

    /// <summary>Removes <paramref name="id"/> only while it still maps to <paramref name="request"/> (requests are pooled and reused).</summary>
    public bool TryRemove(long id, PendingRequest request)
    {
        lock (_gate)
        {
            if (!_entries.TryGetValue(id, out var current) || current != request) return false;
            _entries.Remove(id);
            return true;
        }
    }

    /// <summary>Moves every request whose deadline is at or before <paramref name="timestamp"/> into <paramref name="expired"/>.</summary>
    public void RemoveExpired(long timestamp, List<PendingRequest> expired)
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

    /// <summary>Empties the table, returning what was in it.</summary>
    public List<PendingRequest> RemoveAll()
    {
        lock (_gate)
        {
            var all = new List<PendingRequest>(_entries.Values);
            _entries.Clear();
            return all;
        }
    }
}
