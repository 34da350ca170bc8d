using System.Diagnostics;
using System.Reflection;
using System.Text;
using System.Text.Json;
using System.Text.RegularExpressions;

namespace ClusterSharing.Chaos;

/// <summary>The controller's view of one worker process: its events as they arrive, its log counts, SIGKILL.</summary>
internal sealed partial class WorkerProcess
{
    private readonly Process _process;
    private readonly Lock _gate = new();
    private readonly List<(int Pid, double Ts)> _answered = new();
    private readonly List<double> _regressions = new();
    private readonly Dictionary<int, int> _logCounts = new();
    private readonly Queue<string> _stderrTail = new();
    private readonly Task _stdout;
    private readonly Task _stderr;
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
    private string? _failure;

    private WorkerProcess(Process process, string label)
    {
        _process = process;
        Label = label;
        Pid = process.Id;
        _stdout = Task.Run(PumpStdoutAsync);
        _stderr = Task.Run(PumpStderrAsync);
    }

    public string Label { get; }
    public int Pid { get; }
    public bool Killed { get; private set; }
    public double StartedAt { get; } = Lines.Now();

    public bool Ready { get { lock (_gate) return _ready; } }
    public bool ReadyFailed { get { lock (_gate) return _readyFailed; } }
    public bool IsLeader { get { lock (_gate) return _isLeader; } }
    public long MaxSeq { get { lock (_gate) return _maxSeq; } }
    public int HungEvents { get { lock (_gate) return _hungEvents; } }
    public int PublishFailures { get { lock (_gate) return _publishFailures; } }
    public string? Failure { get { lock (_gate) return _failure; } }
    public JsonElement? LastStats { get { lock (_gate) return _lastStats; } }
    public JsonElement? LastGc { get { lock (_gate) return _lastGc; } }
    public bool HasExited => _process.HasExited;
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
        get { lock (_gate) return new SortedDictionary<string, int>(_logCounts.ToDictionary(p => p.Key.ToString(System.Globalization.CultureInfo.InvariantCulture), p => p.Value)); }
    }

    /// <summary>When this worker's subscription delivered a value older than the one before it.</summary>
    public double[] Regressions
    {
        get { lock (_gate) return _regressions.ToArray(); }
    }

    public int LogCount(int eventId)
    {
        lock (_gate) return _logCounts.GetValueOrDefault(eventId);
    }

    public string StderrTail
    {
        get { lock (_gate) return string.Join("\n", _stderrTail); }
    }

    public static WorkerProcess Start(string label, IEnumerable<string> arguments)
    {
        string host = Environment.ProcessPath ?? throw new InvalidOperationException("The chaos controller cannot find its own executable.");
        var info = new ProcessStartInfo(host)
        {
            RedirectStandardInput = true,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
            StandardOutputEncoding = Encoding.UTF8,
            StandardErrorEncoding = Encoding.UTF8,
        };
        // Started as "dotnet ClusterClient.Chaos.dll": the workers need the dll too.
        if (Path.GetFileNameWithoutExtension(host).Equals("dotnet", StringComparison.OrdinalIgnoreCase))
            info.ArgumentList.Add(Assembly.GetEntryAssembly()!.Location);
        foreach (var argument in arguments) info.ArgumentList.Add(argument);
        info.Environment.Remove(ClusterClientOptions.PortEnvironmentVariable);
        info.Environment.Remove(ClusterClientOptions.SingleModeEnvironmentVariable);
        var process = Process.Start(info) ?? throw new InvalidOperationException("Process.Start returned null for a chaos worker.");
        return new WorkerProcess(process, label);
    }

    public void Send(string line)
    {
        try
        {
            lock (_process) _process.StandardInput.WriteLine(line);
        }
        catch (Exception e) when (e is IOException or InvalidOperationException or ObjectDisposedException)
        {
            // The worker is gone (killed); the caller notices through its events.
        }
    }

    /// <summary>SIGKILL: no goodbye, no flush; its sockets close when the kernel reaps it.</summary>
    public void Kill()
    {
        Killed = true;
        try
        {
            _process.Kill();
        }
        catch (InvalidOperationException)
        {
            // Already exited.
        }
    }

    public async Task StopAsync(TimeSpan grace)
    {
        if (!_process.HasExited)
        {
            Send("exit");
            try
            {
                lock (_process) _process.StandardInput.Close();
            }
            catch (Exception e) when (e is IOException or InvalidOperationException)
            {
                // Already gone.
            }
            using var timeout = new CancellationTokenSource(grace);
            try
            {
                await _process.WaitForExitAsync(timeout.Token).ConfigureAwait(false);
            }
            catch (OperationCanceledException)
            {
                Kill();
            }
        }
        await Task.WhenAny(Task.WhenAll(_stdout, _stderr), Task.Delay(TimeSpan.FromSeconds(5))).ConfigureAwait(false);
    }

    private async Task PumpStdoutAsync()
    {
        var reader = _process.StandardOutput;
        while (await reader.ReadLineAsync().ConfigureAwait(false) is { } line)
        {
            JsonElement element;
            try
            {
                using var document = JsonDocument.Parse(line);
                element = document.RootElement.Clone();
            }
            catch (JsonException)
            {
                continue;
            }
            if (!element.TryGetProperty("e", out var e)) continue;
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
                        _answered.Add((element.GetProperty("pid").GetInt32(), ts));
                        break;
                    case "value":
                        _maxSeq = Math.Max(_maxSeq, element.GetProperty("seq").GetInt64());
                        break;
                    case "regression":
                        _regressions.Add(ts);
                        break;
                    case "hung":
                        _hungEvents++;
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
    }

    private async Task PumpStderrAsync()
    {
        var reader = _process.StandardError;
        while (await reader.ReadLineAsync().ConfigureAwait(false) is { } line)
        {
            var match = EventIdPattern().Match(line);
            lock (_gate)
            {
                if (match.Success)
                {
                    int id = int.Parse(match.Groups[1].ValueSpan, provider: System.Globalization.CultureInfo.InvariantCulture);
                    _logCounts[id] = _logCounts.GetValueOrDefault(id) + 1;
                }
                _stderrTail.Enqueue(line.Length > 400 ? line[..400] : line);
                if (_stderrTail.Count > 40) _stderrTail.Dequeue();
            }
        }
    }

    [GeneratedRegex(@"^\w+ (\d+):")]
    private static partial Regex EventIdPattern();

    public static async Task<bool> WaitUntilAsync(Func<bool> condition, TimeSpan timeout)
    {
        var watch = Stopwatch.StartNew();
        while (!condition())
        {
            if (watch.Elapsed > timeout) return false;
            await Task.Delay(5).ConfigureAwait(false);
        }
        return true;
    }
}
