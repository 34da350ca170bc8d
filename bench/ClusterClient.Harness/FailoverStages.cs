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
    /// <summary>Which process a stage happens in: the leader that resigned, the survivor elected next, the other survivor.</summary>
    public enum Role { OldLeader, NewLeader, OtherSurvivor }

    /// <summary>The stages of a graceful failover, in the order it passes them: in which process, which event, what it means.</summary>
    public static readonly (Role Role, int Id, string Stage)[] Stages =
    [
        (Role.OldLeader, 4110, "old leader: sessions closed, revoke sent"),
        (Role.NewLeader, 1002, "next leader: saw its connection to the old leader close"),
        (Role.OtherSurvivor, 1002, "other survivor: saw its connection to the old leader close"),
        (Role.OldLeader, 4102, "old leader: revoke acknowledged (key deleted)"),
        (Role.NewLeader, 4111, "next leader: watch saw the key deleted"),
        (Role.OtherSurvivor, 4111, "other survivor: watch saw the key deleted"),
        (Role.NewLeader, 4112, "next leader: lease granted, campaign transaction sent"),
        (Role.OtherSurvivor, 4112, "other survivor: lease granted, campaign transaction sent"),
        (Role.NewLeader, 4100, "next leader: key created (elected)"),
        (Role.NewLeader, 1000, "next leader: serving"),
        (Role.OtherSurvivor, 4113, "other survivor: campaign lost"),
        (Role.OtherSurvivor, 4114, "other survivor: read the new leader's record, connecting"),
        (Role.NewLeader, 4006, "next leader: follower authenticated (TCP + TLS + SPAKE2)"),
        (Role.OtherSurvivor, 1001, "other survivor: following the new leader"),
        (Role.NewLeader, 2005, "next leader: follower registered its channel"),
    ];

    private static readonly HashSet<int> Recorded = [.. Stages.Select(s => s.Id)];

    private readonly ConcurrentQueue<(int Id, long Ns)> _events = new();

    public IDisposable? BeginScope<TState>(TState state) where TState : notnull => null;

    public bool IsEnabled(LogLevel logLevel) => logLevel >= LogLevel.Debug;

    public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
    {
        if (Recorded.Contains(eventId.Id)) _events.Enqueue((eventId.Id, MonotonicClock.Nanoseconds()));
    }

    /// <summary>The events recorded since the last drain, as "id:ns id:ns …" ("-" when none).</summary>
    public string Drain()
    {
        var parts = new List<string>();
        while (_events.TryDequeue(out var e)) parts.Add(string.Create(CultureInfo.InvariantCulture, $"{e.Id}:{e.Ns}"));
        return parts.Count == 0 ? "-" : string.Join(' ', parts);
    }

    /// <summary>
    /// Lays the <see cref="Drain"/> answers of the old leader and the two survivors on one time line: each stage's first
    /// time at or after <paramref name="startNs"/>, in ms after it. The next leader is the survivor that was elected.
    /// </summary>
    public static Dictionary<string, double> Place(string oldLeader, string[] survivors, long startNs)
    {
        var old = FirstAfter(oldLeader, startNs);
        var reached = survivors.Select(s => FirstAfter(s, startNs)).ToArray();
        int next = Array.FindIndex(reached, r => r.ContainsKey(4100));
        var byRole = new Dictionary<Role, Dictionary<int, long>> { [Role.OldLeader] = old };
        if (next >= 0)
        {
            byRole[Role.NewLeader] = reached[next];
            if (reached.Length == 2) byRole[Role.OtherSurvivor] = reached[1 - next];
        }
        var placed = new Dictionary<string, double>(StringComparer.Ordinal);
        foreach (var (role, id, stage) in Stages)
            if (byRole.TryGetValue(role, out var times) && times.TryGetValue(id, out long ns)) placed[stage] = (ns - startNs) / 1e6;
        return placed;
    }

    private static Dictionary<int, long> FirstAfter(string answer, long startNs)
    {
        var first = new Dictionary<int, long>();
        foreach (string part in answer.Split(' ', StringSplitOptions.RemoveEmptyEntries))
        {
            int colon = part.IndexOf(':', StringComparison.Ordinal);
            if (colon < 0) continue;
            int id = int.Parse(part.AsSpan(0, colon), CultureInfo.InvariantCulture);
            long ns = long.Parse(part.AsSpan(colon + 1), CultureInfo.InvariantCulture);
            if (ns >= startNs && !first.ContainsKey(id)) first[id] = ns;
        }
        return first;
    }
}
