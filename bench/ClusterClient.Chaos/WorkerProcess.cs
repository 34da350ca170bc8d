using System.Globalization;
using System.Text.Json;
using System.Text.RegularExpressions;

namespace ClusterSharing.Chaos;

/// <summary>
/// The controller's view of one worker process: its events folded into state as they arrive (not kept: a long run
/// would pile them up), its log lines counted by event id, SIGKILL.
/// </summary>
internal sealed partial class WorkerProcess : JsonLineProcess
{
    private readonly Lock _gate = new();
    private readonly List<(int Pid, double Ts)> _answered = new();
    private readonly List<(double Ts, long Seq, long After)> _regressions = new();
    private readonly Dictionary<int, int> _logCounts = new();
    private JsonElement? _lastStats;
    private JsonElement? _lastGc;
    private long _maxSeq;
    private long _peakWorkingSet;
    private long _lastOk = -1;
    private double _lastProgressTs;
    private bool _ready;
    private bool _readyFailed;
    private bool _isLeader;
    private int _hungEvents;
    private int _publishFailures;
    private int _inversionsOwn;
    private int _inversionsOthers;
    private string? _failure;

    private WorkerProcess(string label)
        : base(label, retainLines: false)
    {
    }

    public bool Ready { get { lock (_gate) return _ready; } }
    public bool ReadyFailed { get { lock (_gate) return _readyFailed; } }
    public bool IsLeader { get { lock (_gate) return _isLeader; } }
    public long MaxSeq { get { lock (_gate) return _maxSeq; } }
    public int HungEvents { get { lock (_gate) return _hungEvents; } }
    public int PublishFailures { get { lock (_gate) return _publishFailures; } }
    /// <summary>Ordered publications that reached this worker's real client out of order: its own, and other workers'.</summary>
    public (int Own, int Others) Inversions { get { lock (_gate) return (_inversionsOwn, _inversionsOthers); } }
    public string? Failure { get { lock (_gate) return _failure; } }
    public JsonElement? LastStats { get { lock (_gate) return _lastStats; } }
    public JsonElement? LastGc { get { lock (_gate) return _lastGc; } }
    /// <summary>When this worker last reported more successful calls than before.</summary>
    public double LastProgressTs { get { lock (_gate) return _lastProgressTs; } }
    public long PeakWorkingSet { get { lock (_gate) return _peakWorkingSet; } }

    public int LastAnsweredPid
    {
        get { lock (_gate) return _answered.Count > 0 ? _answered[^1].Pid : 0; }
    }

    /// <summary>The first time this worker was answered by a process other than <paramref name="notPid"/> after <paramref name="after"/>.</summary>
    public double? FirstAnsweredAfter(double after, int notPid)
    {
        lock (_gate)
        {
            foreach (var (pid, ts) in _answered)
                if (ts > after && pid != notPid) return ts;
        }
        return null;
    }

    public SortedDictionary<string, int> LogCounts
    {
        get { lock (_gate) return new SortedDictionary<string, int>(_logCounts.ToDictionary(p => p.Key.ToString(CultureInfo.InvariantCulture), p => p.Value)); }
    }

    /// <summary>When this worker's subscription delivered a value older than the one before it.</summary>
    public (double Ts, long Seq, long After)[] Regressions
    {
        get { lock (_gate) return _regressions.ToArray(); }
    }

    public int LogCount(int eventId)
    {
        lock (_gate) return _logCounts.GetValueOrDefault(eventId);
    }

    /// <summary>Starts this program again as <c>worker …</c>.</summary>
    public static WorkerProcess Start(string label, IEnumerable<string> arguments)
    {
        var worker = new WorkerProcess(label);
        worker.Launch(ProcessCommand.ForThisProgram(arguments));
        return worker;
    }

    /// <summary>Sends one command ("publish 7", "gc"); a worker that is gone is noticed through its events.</summary>
    public void Send(string command) => TrySendLine(command);

    protected override void OnLine(JsonElement element)
    {
        if (element.ValueKind != JsonValueKind.Object || !element.TryGetProperty("event", out var e)) return;
        double ts = element.GetProperty("ts").GetDouble();
        lock (_gate)
        {
            switch (e.GetString())
            {
                case "ready":
                    _ready = true;
                    _isLeader = element.GetProperty("leader").GetBoolean();
                    break;
                case "ready-failed":
                case "create-failed":
                    _readyFailed = true;
                    _failure = element.GetRawText();
                    break;
                case "role":
                    _isLeader = element.GetProperty("leader").GetBoolean();
                    break;
                case "answered":
                    _answered.Add((element.GetProperty("by").GetInt32(), ts));
                    break;
                case "value":
                    _maxSeq = Math.Max(_maxSeq, element.GetProperty("seq").GetInt64());
                    break;
                case "regression":
                    _regressions.Add((ts, element.GetProperty("seq").GetInt64(), element.GetProperty("after").GetInt64()));
                    break;
                case "hung":
                    _hungEvents++;
                    break;
                case "inversion":
                    if (element.GetProperty("own").GetBoolean()) _inversionsOwn++;
                    else _inversionsOthers++;
                    _failure ??= element.GetRawText();
                    break;
                case "publish-failed":
                    _publishFailures++;
                    _failure ??= element.GetRawText();
                    break;
                case "stats":
                case "final":
                    _lastStats = element;
                    _peakWorkingSet = Math.Max(_peakWorkingSet, element.GetProperty("workingSet").GetInt64());
                    long ok = element.GetProperty("ok").GetInt64();
                    if (ok > _lastOk)
                    {
                        if (_lastOk >= 0) _lastProgressTs = ts;
                        _lastOk = ok;
                    }
                    break;
                case "gc":
                    _lastStats = element;
                    _lastGc = element;
                    break;
            }
        }
    }

    protected override void OnStderrLine(string line)
    {
        var match = EventIdPattern().Match(line);
        if (!match.Success) return;
        int id = int.Parse(match.Groups[1].ValueSpan, provider: CultureInfo.InvariantCulture);
        lock (_gate) _logCounts[id] = _logCounts.GetValueOrDefault(id) + 1;
    }

    /// <summary>The event id in a <see cref="StderrLogger"/> line: <c>12.345 [pid] Level 2004:Name message</c>.</summary>
    [GeneratedRegex(@"^\S+ \[\d+\] \w+ (\d+):")]
    private static partial Regex EventIdPattern();
}
