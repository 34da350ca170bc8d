using System.Diagnostics;
using System.Text.Json;
using ClusterSharing.Charts;

namespace ClusterSharing.Chaos;

/// <summary>
/// The kill loop: 1 leader + N followers under continuous invoke and subscribe load; the leader is SIGKILLed again
/// and again (a replacement worker starts after each kill). Counts hung calls, untyped failures, values missing after
/// recovery, and the time from each kill to each survivor's first successful call on the new leader.
/// </summary>
internal sealed class ChaosRun
{
    private static readonly TimeSpan RecoveryLimit = TimeSpan.FromSeconds(30);
    private static readonly TimeSpan ValueLimit = TimeSpan.FromSeconds(15);
    private static readonly TimeSpan ReadyLimit = TimeSpan.FromSeconds(60);

    private readonly ChaosOptions _options;
    private readonly List<WorkerProcess> _all = new();
    private readonly List<double> _failoverMs = new();
    private readonly List<IReadOnlyList<double>> _failoverPerKill = new();
    private readonly List<double> _newLeaderMs = new();
    private readonly List<string> _anomalies = new();
    private readonly List<(double From, double To)> _failoverWindows = new();
    private readonly Random _random;
    private readonly Stopwatch _watch = Stopwatch.StartNew();
    private int _lostValues;
    private int _rounds;
    private long _seq;

    public ChaosRun(ChaosOptions options)
    {
        _options = options;
        _random = new Random(options.Seed);
    }

    private List<WorkerProcess> Alive => _all.Where(w => !w.Killed && !w.HasExited).ToList();

    private WorkerProcess StartWorker()
    {
        var worker = WorkerProcess.Start($"worker {_all.Count + 1}", _options.Workers.ToArguments());
        _all.Add(worker);
        return worker;
    }

    public async Task<int> RunAsync()
    {
        var watch = _watch;
        Console.Error.WriteLine($"chaos: port {_options.Workers.Port}, {_options.Followers} followers + 1 leader, {_options.Kills} kills, heartbeat {_options.Workers.HeartbeatMs} ms, response timeout {_options.Workers.ResponseTimeoutMs} ms");
        try
        {
            for (int i = 0; i <= _options.Followers; i++) StartWorker();
            if (!await Poll.UntilAsync(() => _all.All(w => w.Ready || w.ReadyFailed), ReadyLimit) || _all.Any(w => w.ReadyFailed))
            {
                _anomalies.Add("the cluster did not start: " + string.Join("; ", _all.Select(w => $"{w.Label} ready={w.Ready} {w.Failure}")));
                return await FinishAsync(watch);
            }
            for (int round = 1; round <= _options.Kills; round++)
            {
                if (!await RoundAsync(round)) break;
                _rounds = round;
                if (round % 10 != 0 && round != _options.Kills) continue;
                var sorted = Percentiles.Sorted(_failoverMs);
                Console.Error.WriteLine($"chaos: {round}/{_options.Kills} kills, {watch.Elapsed.TotalSeconds:0} s; so far failover p50 {Percentiles.NearestRank(sorted, 50):0.0} ms, " +
                                        $"max {Percentiles.NearestRank(sorted, 100):0.0} ms, lost values {_lostValues}, anomalies {_anomalies.Count}");
            }
        }
        catch (Exception e)
        {
            _anomalies.Add($"the controller failed: {e}");
        }
        return await FinishAsync(watch);
    }

    private async Task<bool> RoundAsync(int round)
    {
        // A settled cluster: everyone ready, one leader, everyone answered by it and making progress now.
        double settleFrom = MonotonicClock.Milliseconds();
        WorkerProcess? leader = null;
        bool settled = await Poll.UntilAsync(() =>
        {
            var alive = Alive;
            var leaders = alive.Where(w => w.IsLeader).ToList();
            if (leaders.Count != 1 || !alive.All(w => w.Ready)) return false;
            leader = leaders[0];
            return alive.All(w => w.LastAnsweredPid == leaders[0].Pid && w.LastProgressTs > settleFrom);
        }, RecoveryLimit);
        if (!settled || leader is null)
        {
            _anomalies.Add($"round {round}: the cluster did not settle on one leader within {RecoveryLimit.TotalSeconds} s: " +
                           string.Join("; ", Alive.Select(w => $"{w.Label} pid {w.Pid} ready={w.Ready} leader={w.IsLeader} answeredBy={w.LastAnsweredPid}")));
            return false;
        }

        // A live publication from a follower that survives the kill (re-published to the next leader) ...
        var followers = Alive.Where(w => w != leader).ToList();
        long before = ++_seq;
        followers[_random.Next(followers.Count)].Send($"publish {before}");
        await Task.Delay(_random.Next(0, 100));

        double killedAt = MonotonicClock.Milliseconds();
        leader.Kill();
        var survivors = Alive;
        // ... and, every other round, a newer one published while there is no leader.
        long current = before;
        if (round % 2 == 0)
        {
            current = ++_seq;
            survivors[_random.Next(survivors.Count)].Send($"publish {current}");
        }

        bool recovered = await Poll.UntilAsync(() => survivors.All(w => w.FirstAnsweredAfter(killedAt, leader.Pid) is not null), RecoveryLimit);
        var thisKill = new List<double>();
        foreach (var w in survivors)
        {
            if (w.FirstAnsweredAfter(killedAt, leader.Pid) is { } ts)
            {
                thisKill.Add(ts - killedAt);
                if (w.IsLeader) _newLeaderMs.Add(ts - killedAt);
            }
        }
        _failoverMs.AddRange(thisKill);
        _failoverPerKill.Add(thisKill);
        var newLeader = survivors.FirstOrDefault(w => w.IsLeader);
        Console.Error.WriteLine($"chaos: kill {round}/{_options.Kills}: SIGKILL to leader pid {leader.Pid}; new leader pid {(newLeader is null ? "?" : newLeader.Pid)}; " +
                                $"{thisKill.Count}/{survivors.Count} survivors answered again after {(thisKill.Count > 0 ? thisKill.Min() : double.NaN):0.0}-{(thisKill.Count > 0 ? thisKill.Max() : double.NaN):0.0} ms; " +
                                $"{_watch.Elapsed.TotalSeconds:0} s");
        if (!recovered)
        {
            _anomalies.Add($"round {round}: not every survivor had a successful call within {RecoveryLimit.TotalSeconds} s of the kill");
            return false;
        }

        var replacement = StartWorker();
        // Every survivor sees the current value; the fresh worker can only learn it through the re-published publication.
        bool survivorsSaw = await Poll.UntilAsync(() => survivors.All(w => w.MaxSeq >= current), ValueLimit);
        if (!survivorsSaw)
        {
            var missing = survivors.Where(w => w.MaxSeq < current).ToList();
            _lostValues += missing.Count;
            _anomalies.Add($"round {round}: {missing.Count} survivor(s) did not see value {current} (saw {string.Join(",", missing.Select(w => w.MaxSeq))})");
        }
        if (!await Poll.UntilAsync(() => replacement.Ready || replacement.ReadyFailed, ReadyLimit) || !replacement.Ready)
        {
            _anomalies.Add($"round {round}: the replacement worker did not get ready: {replacement.Failure}");
            return false;
        }
        if (!await Poll.UntilAsync(() => replacement.MaxSeq >= current, ValueLimit))
        {
            _lostValues++;
            _anomalies.Add($"round {round}: the new worker did not see value {current} (saw {replacement.MaxSeq})");
        }
        _failoverWindows.Add((killedAt, MonotonicClock.Milliseconds()));
        foreach (var w in Alive.Where(w => w.MaxSeq > current))
            _anomalies.Add($"round {round}: {w.Label} saw value {w.MaxSeq}, newer than anything published ({current})");
        return true;
    }

    private async Task<int> FinishAsync(Stopwatch watch)
    {
        await Task.WhenAll(_all.Select(w => w.StopAsync(TimeSpan.FromSeconds(_options.Workers.ResponseTimeoutMs / 1000.0 + 15))));
        long ok = 0, okRemote = 0, untyped = 0, hung = 0, subscriptionOps = 0, regressions = 0;
        // Re-publication after a failover replays every live publication in no particular order, so an older value may
        // pass by before the current one again; outside those windows a step back in time would be a bug.
        var outside = _all.SelectMany(w => w.Regressions.Select(r => (Worker: w, r.Ts, r.Seq, r.After)))
            .Where(r => !_failoverWindows.Any(win => r.Ts >= win.From && r.Ts <= win.To)).ToList();
        long regressionsOutside = outside.Count;
        // Where each one happened relative to the failover windows, for diagnosis.
        var outsideSamples = outside.Take(5).Select(r =>
        {
            var before = _failoverWindows.Where(win => win.To < r.Ts).Select(win => ((double From, double To)?)win).LastOrDefault();
            string when = before is { } win ? $"{r.Ts - win.To:0} ms after the failover window of the kill at {win.From:0} closed ({win.To - win.From:0} ms long)" : "before the first kill";
            return $"{r.Worker.Label} (pid {r.Worker.Pid}): value {r.Seq} after {r.After}, {when}";
        }).ToArray();
        double maxCallMs = 0;
        var typed = new SortedDictionary<string, long>(StringComparer.Ordinal);
        var untypedSamples = new List<string>();
        var typedSamples = new SortedDictionary<string, string>(StringComparer.Ordinal);
        int publishFailures = 0, inversionsOwn = 0, inversionsOthers = 0;
        long orderedOwn = 0, orderedOthers = 0, orderRepeats = 0;
        var untypedByType = new SortedDictionary<string, long>(StringComparer.Ordinal);
        foreach (var w in _all)
        {
            publishFailures += w.PublishFailures;
            var (own, others) = w.Inversions;
            inversionsOwn += own;
            inversionsOthers += others;
            if (w.LastStats is not { } stats)
            {
                hung += w.HungEvents;
                continue;
            }
            hung += Math.Max(w.HungEvents, stats.GetProperty("hung").GetInt64());
            ok += stats.GetProperty("ok").GetInt64();
            subscriptionOps += stats.GetProperty("subscriptionOps").GetInt64();
            okRemote += stats.GetProperty("okRemote").GetInt64();
            regressions += stats.GetProperty("valueRegressions").GetInt64();
            untyped += stats.GetProperty("untyped").GetInt64();
            maxCallMs = Math.Max(maxCallMs, stats.GetProperty("maxCallMs").GetDouble());
            if (stats.TryGetProperty("untypedSample", out var sample)) untypedSamples.Add(sample.GetString()!);
            foreach (var t in stats.GetProperty("typed").EnumerateObject()) typed[t.Name] = typed.GetValueOrDefault(t.Name) + t.Value.GetInt64();
            foreach (var t in stats.GetProperty("typedSamples").EnumerateObject()) typedSamples.TryAdd(t.Name, t.Value.GetString()!);
            foreach (var t in stats.GetProperty("untypedByType").EnumerateObject()) untypedByType[t.Name] = untypedByType.GetValueOrDefault(t.Name) + t.Value.GetInt64();
            orderedOwn += stats.GetProperty("orderedOwn").GetInt64();
            orderedOthers += stats.GetProperty("orderedOthers").GetInt64();
            orderRepeats += stats.GetProperty("orderRepeats").GetInt64();
        }
        // Every failure by exception type; a call may fail only because the leader died after it was sent, or its timeout
        // passed (ClusterNoLeaderException is the ClusterTimeoutException of a call that found no leader in time).
        var failuresByType = new SortedDictionary<string, long>(typed, StringComparer.Ordinal);
        foreach (var (type, count) in untypedByType) failuresByType[type] = failuresByType.GetValueOrDefault(type) + count;
        long failedOtherwise = failuresByType.Where(f => f.Key is not ("LeaderLostException(RequestSent)" or "ClusterTimeoutException" or "ClusterNoLeaderException")).Sum(f => f.Value);

        var report = new Dictionary<string, object?>
        {
            ["kills"] = _rounds,
            ["killsRequested"] = _options.Kills,
            ["workersStarted"] = _all.Count,
            ["elapsedSeconds"] = Math.Round(watch.Elapsed.TotalSeconds, 1),
            ["callsOk"] = ok,
            ["callsOkThroughTheLeaderConnection"] = okRemote,
            ["subscribeUnsubscribeOps"] = subscriptionOps,
            ["failuresByType"] = failuresByType,
            ["failedOtherThanLeaderLostSentOrTimeout"] = failedOtherwise,
            ["typedFailures"] = typed,
            ["typedFailureSamples"] = typedSamples,
            ["untypedFailures"] = untyped,
            ["untypedSamples"] = untypedSamples.Distinct().Take(5).ToArray(),
            ["hungCalls"] = hung,
            ["maxCallMs"] = Math.Round(maxCallMs, 1),
            ["responseTimeoutMs"] = _options.Workers.ResponseTimeoutMs,
            ["lostValues"] = _lostValues,
            ["valueRegressionsDuringFailover"] = regressions - regressionsOutside,
            ["valueRegressionsOutsideFailover"] = regressionsOutside,
            ["valueRegressionsOutsideFailoverSamples"] = outsideSamples,
            ["publishFailures"] = publishFailures,
            // Each worker publishes an ordered stream; the real client of whichever process leads checks each arrival
            // against the previous one of its stream: its own process's (direct, also before its client exists) and
            // other workers' (over their connections, and replayed after every failover).
            ["publicationOrderInversions"] = inversionsOwn + inversionsOthers,
            ["publicationOrderInversionsLeaderOwn"] = inversionsOwn,
            ["publicationOrderInversionsFromFollowers"] = inversionsOthers,
            ["orderedPublicationsReceivedLeaderOwn"] = orderedOwn,
            ["orderedPublicationsReceivedFromFollowers"] = orderedOthers,
            ["orderedPublicationRepeats"] = orderRepeats,
            ["failoverSamples"] = _failoverMs.Count,
            ["failoverMs"] = Distribution(_failoverMs),
            ["newLeaderFirstCallMs"] = Distribution(_newLeaderMs),
        };
        report["charts"] = DrawCharts();
        report["anomalies"] = _anomalies.Take(20).ToArray();
        bool pass = _rounds == _options.Kills && hung == 0 && untyped == 0 && _lostValues == 0 && regressionsOutside == 0 && _anomalies.Count == 0
                    && failedOtherwise == 0 && inversionsOwn + inversionsOthers == 0;
        report["pass"] = pass;
        string json = JsonSerializer.Serialize(report, new JsonSerializerOptions { WriteIndented = true });
        if (_options.JsonPath is { } path) await File.WriteAllTextAsync(path, json);
        Console.WriteLine(json);
        if (!pass)
        {
            foreach (var w in _all.Where(w => w.StderrTail().Length > 0).TakeLast(3))
                Console.Error.WriteLine($"--- {w.Label} (pid {w.Pid}) stderr tail ---\n{w.StderrTail()}");
        }
        return pass ? 0 : 1;
    }

    private static Dictionary<string, double> Distribution(List<double> values) => new()
    {
        ["p50"] = Rounded(values, 50),
        ["p90"] = Rounded(values, 90),
        ["p99"] = Rounded(values, 99),
        ["max"] = Rounded(values, 100),
        ["min"] = Rounded(values, 0),
    };

    private static double Rounded(List<double> values, double p) => values.Count == 0 ? 0 : Math.Round(Percentiles.NearestRank(Percentiles.Sorted(values), p), 1);

    /// <summary>Failover per kill and the failover CDF as PNG files; a chart that cannot be drawn is an anomaly, not a crash.</summary>
    private List<string> DrawCharts()
    {
        var written = new List<string>();
        if (_options.ChartsDirectory is not { } directory || _failoverPerKill.Count == 0) return written;
        try
        {
            var folder = new ChartFolder(directory);
            string setup = $"{_options.Followers} followers, {_rounds} kills";
            written.Add(folder.FailoverPerKill("chaos-failover-per-kill.png", $"Chaos run: failover per leader kill ({setup})", _failoverPerKill));
            written.Add(folder.Cdf("chaos-failover-cdf.png", $"Chaos run: failover time ({setup})", "SIGKILL → first successful call (ms)", "ms",
                [new ChartSeries("every survivor", Percentiles.Sorted(_failoverMs)), new ChartSeries("new leader's own first call", Percentiles.Sorted(_newLeaderMs))]));
            foreach (var path in written) Console.Error.WriteLine($"chaos: chart {path}");
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or TypeInitializationException or DllNotFoundException)
        {
            _anomalies.Add($"the charts could not be written to {directory}: {e.Message}");
        }
        return written;
    }
}

/// <summary>The controller's settings (see <see cref="ChaosCommandLine"/>).</summary>
internal sealed class ChaosOptions
{
    public int Kills { get; set; } = 100;
    public int Followers { get; set; } = 4;
    public int Seed { get; set; } = 7;
    /// <summary>What every worker is started with (its port is the cluster's).</summary>
    public WorkerOptions Workers { get; set; } = new();
    public string? JsonPath { get; set; }
    public int Frames { get; set; } = 1_000_000;
    public int Flood { get; set; } = 500;
    /// <summary>Where the charts go; null draws none.</summary>
    public string? ChartsDirectory { get; set; }
}
