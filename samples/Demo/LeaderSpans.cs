using System.Text.Json;

namespace ClusterSharing.Demo;

/// <summary>
/// Which leader answered (or pushed) when: runs of consecutive results from one leader pid, with the
/// monotonic time of the first and last. A failover shows up as a new run.
/// </summary>
internal sealed class LeaderSpans
{
    private readonly List<(int Pid, double First, double Last, int Count)> _spans = new();

    public void Record(int leaderPid)
    {
        double now = Lines.Now();
        lock (_spans)
        {
            if (_spans.Count > 0 && _spans[^1].Pid == leaderPid)
                _spans[^1] = _spans[^1] with { Last = now, Count = _spans[^1].Count + 1 };
            else
                _spans.Add((leaderPid, now, now, 1));
        }
    }

    /// <summary>Writes <c>"count"</c> and <c>"spans":[{pid,first,last,count}]</c>.</summary>
    public void Write(Utf8JsonWriter w)
    {
        lock (_spans)
        {
            w.WriteNumber("count", _spans.Sum(s => s.Count));
            w.WriteStartArray("spans");
            foreach (var s in _spans)
            {
                w.WriteStartObject();
                w.WriteNumber("pid", s.Pid);
                w.WriteNumber("first", s.First);
                w.WriteNumber("last", s.Last);
                w.WriteNumber("count", s.Count);
                w.WriteEndObject();
            }
            w.WriteEndArray();
        }
    }
}
