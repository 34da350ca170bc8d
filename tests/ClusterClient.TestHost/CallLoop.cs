using System.Text.Json;

namespace ClusterSharing.TestHost;

/// <summary>
/// Back-to-back calls for a while, as a busy worker would make them across a failover. Counts successes,
/// typed failures (ClusterClientException and subclasses, by type) and untyped ones (anything else, which
/// the runtime should never surface), and which leader answered when.
/// </summary>
internal sealed class CallLoop
{
    private const int MaxCalls = 5_000_000;
    private readonly Dictionary<string, int> _typed = new(StringComparer.Ordinal);
    private readonly List<PidSpan> _pids = new();
    private int _successes;
    private int _untyped;
    private string? _untypedSample;
    private string? _typedSample;
    private double _lastSuccessTs = double.NaN;
    private double _maxGapMs;
    private double _maxGapStartTs = double.NaN;

    private sealed class PidSpan(int pid, double firstTs)
    {
        public int Pid { get; } = pid;
        public double FirstTs { get; } = firstTs;
        public double LastTs { get; set; } = firstTs;
        public int Count { get; set; } = 1;
    }

    public static async Task<CallLoop> RunAsync(ITestService client, TimeSpan duration, string kind)
    {
        Func<Task<int>> call = kind switch
        {
            "pid" => client.GetLeaderPidAsync,
            "idem" => () => client.SlowIdempotentAsync(0),
            _ => throw new ArgumentException($"Unknown loop kind '{kind}'; use pid or idem."),
        };
        var loop = new CallLoop();
        double start = MonotonicClock.Milliseconds();
        double end = start + duration.TotalMilliseconds;
        for (int i = 0; i < MaxCalls && MonotonicClock.Milliseconds() < end; i++)
        {
            try
            {
                int pid = await call().ConfigureAwait(false);
                loop.Success(pid, MonotonicClock.Milliseconds());
                // On the leader the call completes synchronously (a direct call); yield so the loop does not hold a
                // thread-pool thread the node needs to accept the followers that re-register after a failover.
                await Task.Yield();
            }
            catch (ClusterClientException e)
            {
                loop._typed[e.GetType().Name] = loop._typed.GetValueOrDefault(e.GetType().Name) + 1;
                loop._typedSample ??= e.Message;
                // A failing call must not turn into a busy loop that starves the election on a small machine.
                await Task.Delay(1).ConfigureAwait(false);
            }
            catch (Exception e)
            {
                loop._untyped++;
                loop._untypedSample ??= e.GetType().Name + ": " + e.Message;
                await Task.Delay(1).ConfigureAwait(false);
            }
        }
        return loop;
    }

    private void Success(int pid, double ts)
    {
        _successes++;
        if (!double.IsNaN(_lastSuccessTs) && ts - _lastSuccessTs > _maxGapMs)
        {
            _maxGapMs = ts - _lastSuccessTs;
            _maxGapStartTs = _lastSuccessTs;
        }
        _lastSuccessTs = ts;
        var last = _pids.Count > 0 ? _pids[^1] : null;
        if (last is not null && last.Pid == pid)
        {
            last.LastTs = ts;
            last.Count++;
        }
        else
        {
            _pids.Add(new PidSpan(pid, ts));
        }
    }

    public void Write(Utf8JsonWriter w)
    {
        w.WriteStartObject();
        w.WriteNumber("successes", _successes);
        w.WriteStartObject("typed");
        foreach (var (type, count) in _typed) w.WriteNumber(type, count);
        w.WriteEndObject();
        w.WriteNumber("untyped", _untyped);
        if (_untypedSample is not null) w.WriteString("untypedSample", _untypedSample);
        if (_typedSample is not null) w.WriteString("typedSample", _typedSample);
        w.WriteNumber("maxGapMs", _maxGapMs);
        if (!double.IsNaN(_maxGapStartTs)) w.WriteNumber("maxGapStartTs", _maxGapStartTs);
        // Runs of consecutive answers from one leader, in order: a failover shows as a change of pid.
        w.WriteStartArray("leaders");
        foreach (var span in _pids)
        {
            w.WriteStartObject();
            w.WriteNumber("pid", span.Pid);
            w.WriteNumber("count", span.Count);
            w.WriteNumber("firstTs", span.FirstTs);
            w.WriteNumber("lastTs", span.LastTs);
            w.WriteEndObject();
        }
        w.WriteEndArray();
        w.WriteEndObject();
    }
}
