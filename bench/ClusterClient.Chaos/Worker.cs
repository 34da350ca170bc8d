using System.Globalization;
using System.Text.Json;
using Microsoft.Extensions.Logging;

namespace ClusterSharing.Chaos;

/// <summary>
/// A worker process: joins the cluster, runs back-to-back invoke loops and a subscription to the "state" topic, and
/// reports on stdout what a busy application would see: who answered, every value, typed and untyped failures, and
/// calls that outlive their timeout (hung). Reads "publish N", "gc", "stats" and "exit" on stdin.
/// </summary>
internal sealed class Worker
{
    public const string Topic = "state";
    private const double HungGraceMs = 5_000;

    private readonly WorkerOptions _options;
    private readonly Lock _gate = new();
    private readonly Dictionary<string, long> _typed = new(StringComparer.Ordinal);
    private readonly Dictionary<string, string> _typedSamples = new(StringComparer.Ordinal);
    private readonly double[] _callStarted;
    private readonly bool[] _hungFlagged;
    private ClusterClient<IChaosService> _handle = null!;
    private long _ok;
    private long _untyped;
    private long _hung;
    private long _subscriptionOps;
    private long _okRemote;
    private double _maxCallMs;
    private string? _untypedSample;
    private int _lastAnsweredPid;
    private long _maxSeq;
    private long _lastSeq;
    private long _regressions;
    private readonly Dictionary<string, long> _untypedByType = new(StringComparer.Ordinal);
    // This process's real client (while it leads): ordered publications received from its own process and from others.
    private long _orderedOwn;
    private long _orderedOthers;
    private long _orderRepeats;
    private volatile bool _stopping;

    private Worker(WorkerOptions options)
    {
        _options = options;
        _callStarted = new double[options.Loops];
        _hungFlagged = new bool[options.Loops];
    }

    public static async Task<int> RunAsync(WorkerOptions options)
    {
        var worker = new Worker(options);
        return await worker.RunCoreAsync().ConfigureAwait(false);
    }

    private async Task<int> RunCoreAsync()
    {
        try
        {
            _handle = ClusterClient.Create<IChaosService>(() => new ChaosService(OnOrdered), _options.Apply);
        }
        catch (Exception e)
        {
            StdoutLines.Event("create-failed", w => w.WriteString("message", e.Message));
            return 3;
        }
        _handle.LeaderChanged += (_, e) => StdoutLines.Event("role", w => { w.WriteBoolean("leader", e.IsLeader); w.WriteNumber("epoch", e.Epoch); });
        var commands = Task.Run(ReadCommandsAsync);
        try
        {
            using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(60));
            await _handle.ReadyAsync(timeout.Token).ConfigureAwait(false);
        }
        catch (Exception e)
        {
            StdoutLines.Event("ready-failed", w => { w.WriteString("error", e.GetType().Name); w.WriteString("message", e.Message); });
            await _handle.DisposeAsync().ConfigureAwait(false);
            return 4;
        }
        _handle.Client.Subscribe(Topic, OnValue);
        StdoutLines.Event("ready", w => { w.WriteBoolean("leader", _handle.IsLeader); w.WriteNumber("epoch", _handle.Epoch); });

        var loops = Enumerable.Range(0, _options.Loops).Select(i => Task.Run(() => CallLoopAsync(i)))
            .Append(Task.Run(SubscriptionChurnAsync)).Append(Task.Run(OrderedPublicationsAsync)).ToArray();
        using var timer = new Timer(_ => Tick(), null, 500, 500);
        await commands.ConfigureAwait(false);
        _stopping = true;
        await Task.WhenAny(Task.WhenAll(loops), Task.Delay(TimeSpan.FromSeconds(_options.ResponseTimeoutMs / 1000.0 + 5))).ConfigureAwait(false);
        Tick();
        WriteStats("final");
        var dispose = _handle.DisposeAsync().AsTask();
        await Task.WhenAny(dispose, Task.Delay(TimeSpan.FromSeconds(5))).ConfigureAwait(false);
        StdoutLines.Event("exited");
        Environment.Exit(0);
        return 0;
    }

    private void OnValue(long seq)
    {
        long previous;
        lock (_gate)
        {
            // Older than the last value delivered: the subscription went back in time (a replay after a newer value).
            previous = _lastSeq;
            if (seq < previous) _regressions++;
            _lastSeq = seq;
            if (seq > _maxSeq) _maxSeq = seq;
        }
        if (seq < previous) StdoutLines.Event("regression", w => { w.WriteNumber("seq", seq); w.WriteNumber("after", previous); });
        StdoutLines.Event("value", w => w.WriteNumber("seq", seq));
    }

    /// <summary>
    /// This worker's ordered publication stream (0, 1, 2, ...): it reaches whichever real client exists, directly when this
    /// process leads (also before its client is built), over the connection when it follows, and by replay after a failover.
    /// </summary>
    private async Task OrderedPublicationsAsync()
    {
        if (_options.OrderPaceMs == 0) return;
        string topic = ChaosService.OrderTopicPrefix + Environment.ProcessId.ToString(CultureInfo.InvariantCulture);
        for (long seq = 0; !_stopping; seq++)
        {
            try
            {
                _handle.Client.Publish(new StateValue(topic, seq));
            }
            catch (Exception e)
            {
                CountFailure("publish", e);
            }
            await Task.Delay(_options.OrderPaceMs).ConfigureAwait(false);
        }
    }

    /// <summary>The real client (in this process, while it leads) received one ordered publication.</summary>
    private void OnOrdered(OrderedArrival arrival)
    {
        bool own = arrival.Topic == ChaosService.OrderTopicPrefix + Environment.ProcessId.ToString(CultureInfo.InvariantCulture);
        lock (_gate)
        {
            if (own) _orderedOwn++;
            else _orderedOthers++;
            if (arrival.IsRepeat) _orderRepeats++;
        }
        // Reported at once: a leader is killed any moment, its periodic stats would lose the last ones.
        if (arrival.IsInversion)
        {
            StdoutLines.Event("inversion", w =>
            {
                w.WriteString("topic", arrival.Topic);
                w.WriteBoolean("own", own);
                w.WriteNumber("seq", arrival.Sequence);
                w.WriteNumber("after", arrival.Previous);
            });
        }
    }

    /// <summary>A failed call or publication, counted by exception type (a lost leader also by whether the request was sent).</summary>
    private void CountFailure(string what, Exception e)
    {
        string type = e is LeaderLostException lost ? $"LeaderLostException({(lost.RequestSent ? "RequestSent" : "NotSent")})" : e.GetType().Name;
        string key = what.Length == 0 ? type : what + ":" + type;
        lock (_gate)
        {
            if (e is ClusterClientException)
            {
                _typed[key] = _typed.GetValueOrDefault(key) + 1;
                _typedSamples.TryAdd(key, e.Message);
            }
            else
            {
                _untyped++;
                _untypedByType[key] = _untypedByType.GetValueOrDefault(key) + 1;
                _untypedSample ??= $"{key}: {e.Message}";
            }
        }
    }

    private async Task ReadCommandsAsync()
    {
        while (await Console.In.ReadLineAsync().ConfigureAwait(false) is { } line)
        {
            string[] parts = line.Trim().Split(' ', StringSplitOptions.RemoveEmptyEntries);
            if (parts.Length == 0) continue;
            switch (parts[0])
            {
                case "publish":
                    long seq = long.Parse(parts[1], CultureInfo.InvariantCulture);
                    try
                    {
                        _handle.Client.Publish(new StateValue(Topic, seq));
                        StdoutLines.Event("published", w => w.WriteNumber("seq", seq));
                    }
                    catch (Exception e)
                    {
                        StdoutLines.Event("publish-failed", w => { w.WriteNumber("seq", seq); w.WriteString("error", e.GetType().Name); w.WriteString("message", e.Message); });
                    }
                    break;
                case "gc":
                    GC.Collect();
                    GC.WaitForPendingFinalizers();
                    GC.Collect();
                    WriteStats("gc");
                    break;
                case "stats":
                    WriteStats("stats");
                    break;
                case "exit":
                    return;
            }
        }
    }

    private async Task CallLoopAsync(int index)
    {
        var client = _handle.Client;
        bool idempotent = index % 2 == 1;
        while (!_stopping)
        {
            double start = MonotonicClock.Milliseconds();
            Volatile.Write(ref _callStarted[index], start);
            try
            {
                int pid = idempotent
                    ? await client.GetLeaderPidIdempotentAsync().ConfigureAwait(false)
                    : await client.GetLeaderPidAsync().ConfigureAwait(false);
                Completed(index, start);
                Answered(pid);
                if (pid != Environment.ProcessId) Interlocked.Increment(ref _okRemote);
                if (_options.PaceMs > 0) await Task.Delay(_options.PaceMs).ConfigureAwait(false);
                else await Task.Yield();
            }
            catch (Exception e)
            {
                Completed(index, start);
                CountFailure("", e);
                // A failing call must not become a busy loop that starves the election.
                await Task.Delay(5).ConfigureAwait(false);
            }
        }
    }

    /// <summary>Subscribe and unsubscribe load: a new listener on one of a few topics every few milliseconds, the previous one dropped.</summary>
    private async Task SubscriptionChurnAsync()
    {
        if (_options.Loops == 0) return;
        var client = _handle.Client;
        var live = new Queue<(string Topic, Action<long> Listener)>();
        for (long i = 0; !_stopping; i++)
        {
            try
            {
                string topic = $"churn-{i % 8}";
                Action<long> listener = static _ => { };
                client.Subscribe(topic, listener);
                live.Enqueue((topic, listener));
                if (live.Count > 4)
                {
                    var (oldTopic, oldListener) = live.Dequeue();
                    client.Unsubscribe(oldTopic, oldListener);
                }
                lock (_gate) _subscriptionOps++;
            }
            catch (Exception e)
            {
                CountFailure("subscribe", e);
            }
            await Task.Delay(10).ConfigureAwait(false);
        }
    }

    private void Completed(int index, double start)
    {
        double ms = MonotonicClock.Milliseconds() - start;
        Volatile.Write(ref _callStarted[index], 0);
        lock (_gate)
        {
            if (ms > _maxCallMs) _maxCallMs = ms;
            _hungFlagged[index] = false;
            if (ms <= _options.ResponseTimeoutMs + HungGraceMs) _ok++;
        }
    }

    private void Answered(int pid)
    {
        bool changed;
        lock (_gate)
        {
            changed = pid != _lastAnsweredPid;
            _lastAnsweredPid = pid;
        }
        if (changed) StdoutLines.Event("answered", w => w.WriteNumber("by", pid));
    }

    /// <summary>Flags calls that are still running past their timeout plus a grace period: hung.</summary>
    private void Tick()
    {
        double now = MonotonicClock.Milliseconds();
        for (int i = 0; i < _callStarted.Length; i++)
        {
            double started = Volatile.Read(ref _callStarted[i]);
            if (started == 0) continue;
            double running = now - started;
            bool flag = false;
            lock (_gate)
            {
                if (running > _options.ResponseTimeoutMs + HungGraceMs && !_hungFlagged[i])
                {
                    _hungFlagged[i] = true;
                    _hung++;
                    flag = true;
                }
            }
            if (flag) StdoutLines.Event("hung", w => { w.WriteNumber("loop", i); w.WriteNumber("runningMs", running); });
        }
        WriteStats("stats");
    }

    private void WriteStats(string name)
    {
        lock (_gate)
        {
            var typed = _typed.ToArray();
            var untypedByType = _untypedByType.ToArray();
            long orderedOwn = _orderedOwn, orderedOthers = _orderedOthers, orderRepeats = _orderRepeats;
            var typedSamples = _typedSamples.ToArray();
            long ok = _ok, untyped = _untyped, hung = _hung, maxSeq = _maxSeq, subscriptionOps = _subscriptionOps, regressions = _regressions;
            double maxMs = _maxCallMs;
            string? sample = _untypedSample;
            StdoutLines.Event(name, w =>
            {
                w.WriteNumber("ok", ok);
                w.WriteNumber("subscriptionOps", subscriptionOps);
                w.WriteNumber("okRemote", Interlocked.Read(ref _okRemote));
                w.WriteStartObject("typed");
                foreach (var (type, count) in typed) w.WriteNumber(type, count);
                w.WriteEndObject();
                w.WriteStartObject("typedSamples");
                foreach (var (type, message) in typedSamples) w.WriteString(type, message);
                w.WriteEndObject();
                w.WriteNumber("untyped", untyped);
                w.WriteStartObject("untypedByType");
                foreach (var (type, count) in untypedByType) w.WriteNumber(type, count);
                w.WriteEndObject();
                w.WriteNumber("orderedOwn", orderedOwn);
                w.WriteNumber("orderedOthers", orderedOthers);
                w.WriteNumber("orderRepeats", orderRepeats);
                if (sample is not null) w.WriteString("untypedSample", sample);
                w.WriteNumber("hung", hung);
                w.WriteNumber("maxCallMs", maxMs);
                w.WriteNumber("maxSeq", maxSeq);
                w.WriteNumber("valueRegressions", regressions);
                w.WriteNumber("workingSet", Environment.WorkingSet);
                w.WriteNumber("heap", GC.GetTotalMemory(false));
            });
        }
    }
}

/// <summary>The worker's command line.</summary>
internal sealed class WorkerOptions
{
    public int Port { get; set; }
    public int HeartbeatMs { get; set; } = 1000;
    public int ResponseTimeoutMs { get; set; } = 5000;
    public int MaxWaitMs { get; set; } = 30_000;
    public int RegistrationTimeoutMs { get; set; } = 10_000;
    public int Loops { get; set; } = 2;
    public int PaceMs { get; set; } = 1;
    /// <summary>Pause between two publications of the worker's ordered stream (0: no stream).</summary>
    public int OrderPaceMs { get; set; } = 10;
    public bool Log { get; set; }

    /// <summary>No authentication (ClusterSecurity.Open), so hostile frames reach the decoders behind the handshake.</summary>
    public bool Open { get; set; }

    public void Apply(ClusterClientOptions options)
    {
        options.Port = Port;
        options.SingleMode = false;
        options.HeartbeatInterval = TimeSpan.FromMilliseconds(HeartbeatMs);
        options.ResponseTimeout = TimeSpan.FromMilliseconds(ResponseTimeoutMs);
        options.MaxWaitTime = TimeSpan.FromMilliseconds(MaxWaitMs);
        options.RegistrationTimeout = TimeSpan.FromMilliseconds(RegistrationTimeoutMs);
        if (Log) options.Logger = new StderrLogger(LogLevel.Information, includeExceptions: false);
        if (Open) options.Security = ClusterSecurity.Open;
    }

    public IEnumerable<string> ToArguments()
    {
        yield return "worker";
        foreach (var (flag, value) in new (string, int)[]
                 {
                     ("--port", Port), ("--heartbeat-ms", HeartbeatMs), ("--response-timeout-ms", ResponseTimeoutMs), ("--max-wait-ms", MaxWaitMs),
                     ("--registration-timeout-ms", RegistrationTimeoutMs), ("--loops", Loops), ("--pace-ms", PaceMs), ("--order-pace-ms", OrderPaceMs),
                 })
        {
            yield return flag;
            yield return value.ToString(CultureInfo.InvariantCulture);
        }
        if (Log) yield return "--log";
        if (Open) yield return "--open";
    }
}
