using System.Collections.Concurrent;
using System.Globalization;
using Microsoft.Extensions.Logging;

namespace ClusterSharing.Harness;

/// <summary>
/// A worker's logger that keeps only the time (the machine-wide monotonic clock, ns) of the runtime's log events that
/// mark the stages of a failover, so the coordinator can lay the stages of every process on one time line.
/// </summary>
internal sealed class FailoverStages : ILogger
{
    /// <summary>The events recorded, by id, in the order a graceful failover passes them.</summary>
    public static readonly (int Id, string Stage)[] Stages =
    [
        (4110, "old leader: resigning (server closed, revoke sent)"),
        (1002, "survivor: saw the connection to the old leader close"),
        (4111, "survivor: watch saw the leader key deleted"),
        (4102, "old leader: revoke acknowledged"),
        (4112, "survivor: lease granted, campaign transaction sent"),
        (4100, "new leader: key created (elected)"),
        (4113, "other survivor: campaign lost, following"),
        (1000, "new leader: serving"),
        (2003, "new leader: follower connected (TCP + TLS)"),
        (4006, "new leader: follower authenticated (SPAKE2)"),
        (1001, "other survivor: following the new leader"),
        (2005, "new leader: follower registered its channel"),
    ];

    private readonly ConcurrentQueue<(int Id, long Ns)> _events = new();

    public IDisposable? BeginScope<TState>(TState state) where TState : notnull => null;

    public bool IsEnabled(LogLevel logLevel) => logLevel >= LogLevel.Debug;

    public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
    {
        foreach (var (id, _) in Stages)
        {
            if (id != eventId.Id) continue;
            _events.Enqueue((id, MonotonicClock.Nanoseconds()));
            return;
        }
    }

    /// <summary>The events recorded since the last drain, as "id:ns id:ns …" ("-" when none).</summary>
    public string Drain()
    {
        var parts = new List<string>();
        while (_events.TryDequeue(out var e)) parts.Add(string.Create(CultureInfo.InvariantCulture, $"{e.Id}:{e.Ns}"));
        return parts.Count == 0 ? "-" : string.Join(' ', parts);
    }

    /// <summary>Parses <see cref="Drain"/>'s answers of several workers: the first time of each stage at or after <paramref name="startNs"/>.</summary>
    public static Dictionary<int, long> FirstAfter(IEnumerable<string> answers, long startNs)
    {
        var first = new Dictionary<int, long>();
        foreach (string answer in answers)
        {
            foreach (string part in answer.Split(' ', StringSplitOptions.RemoveEmptyEntries))
            {
                int colon = part.IndexOf(':', StringComparison.Ordinal);
                if (colon < 0) continue;
                int id = int.Parse(part.AsSpan(0, colon), CultureInfo.InvariantCulture);
                long ns = long.Parse(part.AsSpan(colon + 1), CultureInfo.InvariantCulture);
                if (ns >= startNs && (!first.TryGetValue(id, out long known) || ns < known)) first[id] = ns;
            }
        }
        return first;
    }
}
