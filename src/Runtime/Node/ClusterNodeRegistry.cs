namespace ClusterSharing.Node;

/// <summary>One node per (process, port, mode): every <c>ClusterClient.Create</c> on a port shares its listener or connection.</summary>
internal static class ClusterNodeRegistry
{
    private static readonly object Gate = new();
    private static readonly Dictionary<(int Port, bool Single), Entry> Nodes = new();

    /// <summary>Returns the node for the options' port, creating it with these options when there is none, and adds a reference.</summary>
    /// <remarks>Node-wide options (role, timeouts of the election and heartbeats, limits, logger) come from the first creator.</remarks>
    public static ClusterNode Acquire(ClusterClientOptions options)
    {
        var key = (options.Port, options.SingleMode);
        lock (Gate)
        {
            if (!Nodes.TryGetValue(key, out var entry))
            {
                entry = new Entry(new ClusterNode(options));
                Nodes.Add(key, entry);
            }
            entry.References++;
            return entry.Node;
        }
    }

    /// <summary>Drops a reference; the last one disposes the node (and gives up the port).</summary>
    public static ValueTask ReleaseAsync(ClusterNode node)
    {
        lock (Gate)
        {
            var key = (node.Port, node.SingleMode);
            if (!Nodes.TryGetValue(key, out var entry) || entry.Node != node) return ValueTask.CompletedTask;
            if (--entry.References > 0) return ValueTask.CompletedTask;
            Nodes.Remove(key);
        }
        return node.DisposeAsync();
    }

    private sealed class Entry(ClusterNode node)
    {
        public ClusterNode Node { get; } = node;

        public int References { get; set; }
    }
}
