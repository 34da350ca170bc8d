using System.Globalization;
using System.Text.Json;

namespace ClusterSharing.TestHost;

/// <summary>
/// Executes stdin commands against the proxy (<c>handle.Client</c>), each on its own task so slow calls
/// and quick ones overlap like in a real worker. Every command is answered with its correlation id.
/// </summary>
internal sealed class CommandProcessor
{
    private const int MaxConcurrentCommands = 1024;
    private readonly ClusterClient<ITestService> _handle;
    private readonly ClusterClient<IClockService>? _clock;
    private readonly Dictionary<string, Action<string>> _listeners = new(StringComparer.Ordinal);
    private readonly Dictionary<string, LeaderWorkRegistration> _leaderWork = new(StringComparer.Ordinal);
    private readonly List<Task> _running = new();
    private readonly SemaphoreSlim _slots = new(MaxConcurrentCommands);
    private int _handleDisposed;

    public CommandProcessor(ClusterClient<ITestService> handle, ClusterClient<IClockService>? clock)
    {
        _handle = handle;
        _clock = clock;
    }

    private ITestService Client => _handle.Client;

    public async Task RunAsync(TextReader input)
    {
        while (await input.ReadLineAsync().ConfigureAwait(false) is { } line)
        {
            line = line.Trim();
            if (line.Length == 0) continue;
            string[] parts = line.Split(' ', 3, StringSplitOptions.RemoveEmptyEntries);
            if (parts.Length < 2 || !long.TryParse(parts[0], NumberStyles.Integer, CultureInfo.InvariantCulture, out long id))
            {
                StdoutLines.Event("bad-command", w => w.WriteString("line", line));
                continue;
            }
            string command = parts[1];
            string rest = parts.Length > 2 ? parts[2] : "";
            if (command == "exit")
            {
                StdoutLines.Reply(id, w => w.WriteBooleanValue(true));
                break;
            }
            await _slots.WaitAsync().ConfigureAwait(false);
            var task = Task.Run(() => ExecuteAsync(id, command, rest));
            lock (_running)
            {
                _running.RemoveAll(t => t.IsCompleted);
                _running.Add(task);
            }
        }
        Task[] pending;
        lock (_running) pending = _running.ToArray();
        // Commands still running end with the handle; don't let them delay the exit for long.
        await Task.WhenAny(Task.WhenAll(pending), Task.Delay(TimeSpan.FromSeconds(5))).ConfigureAwait(false);
    }

    public async Task DisposeHandleAsync()
    {
        if (Interlocked.Exchange(ref _handleDisposed, 1) != 0) return;
        var dispose = Task.WhenAll(_handle.DisposeAsync().AsTask(), _clock?.DisposeAsync().AsTask() ?? Task.CompletedTask);
        if (await Task.WhenAny(dispose, Task.Delay(TimeSpan.FromSeconds(10))).ConfigureAwait(false) != dispose)
            StdoutLines.Event("dispose-hung");
    }

    private async Task ExecuteAsync(long id, string command, string rest)
    {
        try
        {
            string[] a = rest.Length == 0 ? [] : rest.Split(' ', StringSplitOptions.RemoveEmptyEntries);
            switch (command)
            {
                case "echo":
                {
                    string text = await Client.EchoAsync(rest).ConfigureAwait(false);
                    StdoutLines.Reply(id, w => w.WriteStringValue(text));
                    break;
                }
                case "big":
                {
                    string big = await Client.BigAsync(Int(a, 0)).ConfigureAwait(false);
                    StdoutLines.Reply(id, w => w.WriteNumberValue(big.Length));
                    break;
                }
                case "add":
                {
                    int sum = await Client.AddAsync(Int(a, 0), Int(a, 1)).ConfigureAwait(false);
                    StdoutLines.Reply(id, w => w.WriteNumberValue(sum));
                    break;
                }
                case "slow":
                {
                    using var cancel = a.Length > 1 ? new CancellationTokenSource(Int(a, 1)) : null;
                    int pid = await Client.SlowAsync(Int(a, 0), cancel?.Token ?? default).ConfigureAwait(false);
                    StdoutLines.Reply(id, w => w.WriteNumberValue(pid));
                    break;
                }
                case "slow-idem":
                {
                    int pid = await Client.SlowIdempotentAsync(Int(a, 0)).ConfigureAwait(false);
                    StdoutLines.Reply(id, w => w.WriteNumberValue(pid));
                    break;
                }
                case "fail":
                    await Client.FailAsync(rest).ConfigureAwait(false);
                    StdoutLines.Reply(id, w => w.WriteNullValue());
                    break;
                case "record":
                    Client.Record(Int(a, 0));
                    StdoutLines.Reply(id, w => w.WriteNullValue());
                    break;
                case "record-many":
                {
                    // Oneways FIRST..FIRST+N-1 (FIRST defaults to 1) one after another from one thread: the order the
                    // real client must see them in.
                    int first = a.Length > 1 ? Int(a, 1) : 1;
                    for (int i = first, end = first + Int(a, 0); i < end; i++) Client.Record(i);
                    StdoutLines.Reply(id, w => w.WriteNullValue());
                    break;
                }
                case "recorded":
                {
                    long total = await Client.GetRecordedAsync().ConfigureAwait(false);
                    StdoutLines.Reply(id, w => w.WriteNumberValue(total));
                    break;
                }
                case "pid":
                {
                    int pid = await Client.GetLeaderPidAsync().ConfigureAwait(false);
                    StdoutLines.Reply(id, w => w.WriteNumberValue(pid));
                    break;
                }
                case "clock-pid":
                {
                    var clock = _clock ?? throw new InvalidOperationException("Start the host with --second-channel to use clock-pid.");
                    int pid = await clock.Client.GetLeaderPidAsync().ConfigureAwait(false);
                    StdoutLines.Reply(id, w => w.WriteNumberValue(pid));
                    break;
                }
                case "sub":
                    Subscribe(Str(a, 0));
                    StdoutLines.Reply(id, w => w.WriteNullValue());
                    break;
                case "sub-slow":
                    Subscribe(Str(a, 0), Int(a, 1));
                    StdoutLines.Reply(id, w => w.WriteNullValue());
                    break;
                case "sub-awaited":
                {
                    // Replies once the awaited subscribe completed, with the machine-wide time it did.
                    string topic = Str(a, 0);
                    await Client.SubscribeAwaited(topic, value => StdoutLines.Event("value", w => { w.WriteString("topic", topic); w.WriteString("value", value); }))
                        .ConfigureAwait(false);
                    double at = MonotonicClock.Milliseconds();
                    StdoutLines.Reply(id, w => w.WriteNumberValue(at));
                    break;
                }
                case "publish-latest-many":
                {
                    // COUNT publications over KEYS keys (k0, k1, ...; publication i has key k(i % KEYS) and value PREFIX-i), in order from one thread.
                    int keys = Int(a, 0), count = Int(a, 1);
                    string prefix = Str(a, 2);
                    for (int i = 0; i < count; i++)
                        Client.PublishLatest("k" + (i % keys).ToString(CultureInfo.InvariantCulture), prefix + "-" + i.ToString(CultureInfo.InvariantCulture));
                    StdoutLines.Reply(id, w => w.WriteNullValue());
                    break;
                }
                case "publish-latest":
                    Client.PublishLatest(Str(a, 0), Str(a, 1));
                    StdoutLines.Reply(id, w => w.WriteNullValue());
                    break;
                case "sub-work":
                {
                    string queue = Str(a, 0);
                    Client.SubscribeWork(queue, value => StdoutLines.Event("work", w => { w.WriteString("queue", queue); w.WriteString("value", value); }));
                    StdoutLines.Reply(id, w => w.WriteNullValue());
                    break;
                }
                case "burst":
                    await Client.BurstAsync(Str(a, 0), Int(a, 1), Str(a, 2)).ConfigureAwait(false);
                    StdoutLines.Reply(id, w => w.WriteNullValue());
                    break;
                case "unsub":
                    Unsubscribe(Str(a, 0));
                    StdoutLines.Reply(id, w => w.WriteNullValue());
                    break;
                case "publish":
                    Client.Publish(new Announcement(Str(a, 0), Str(a, 1)));
                    StdoutLines.Reply(id, w => w.WriteNullValue());
                    break;
                case "publish-many":
                {
                    // One after another from one thread: the order the real client must see them in.
                    string topic = Str(a, 0), prefix = Str(a, 2);
                    int count = Int(a, 1);
                    for (int i = 0; i < count; i++) Client.Publish(new Announcement(topic, prefix + "-" + i.ToString(CultureInfo.InvariantCulture)));
                    StdoutLines.Reply(id, w => w.WriteNullValue());
                    break;
                }
                case "loop":
                {
                    var report = await CallLoop.RunAsync(Client, TimeSpan.FromMilliseconds(Int(a, 0)), a.Length > 1 ? a[1] : "pid").ConfigureAwait(false);
                    StdoutLines.Reply(id, report.Write);
                    break;
                }
                case "burn":
                {
                    // CPU-bound user work on thread-pool threads (Task.Run), the usual way an app keeps a machine busy:
                    // heartbeats must not miss a beat because of it.
                    int ms = Int(a, 0), workers = a.Length > 1 ? Int(a, 1) : Environment.ProcessorCount * 2;
                    var burners = Enumerable.Range(0, workers).Select(_ => Task.Run(() => Burn(ms))).ToArray();
                    long spins = (await Task.WhenAll(burners).ConfigureAwait(false)).Sum();
                    StdoutLines.Reply(id, w => w.WriteNumberValue(spins));
                    break;
                }
                case "on-notice":
                    Client.Notice += (sender, text) => StdoutLines.Event("notice", w =>
                    {
                        w.WriteString("text", text);
                        w.WriteBoolean("senderIsProxy", ReferenceEquals(sender, Client));
                    });
                    StdoutLines.Reply(id, w => w.WriteNullValue());
                    break;
                case "raise":
                    await Client.RaiseNoticeAsync(rest).ConfigureAwait(false);
                    StdoutLines.Reply(id, w => w.WriteNullValue());
                    break;
                case "stream":
                {
                    // Takes COUNT values, then stops (breaking out of await foreach ends the subscription).
                    int count = Int(a, 1);
                    var values = new List<int>();
                    using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(30));
                    await foreach (int value in Client.SubscribeCounter(Str(a, 0), timeout.Token).ConfigureAwait(false))
                    {
                        values.Add(value);
                        if (values.Count >= count) break;
                    }
                    StdoutLines.Reply(id, w =>
                    {
                        w.WriteStartArray();
                        foreach (int v in values) w.WriteNumberValue(v);
                        w.WriteEndArray();
                    });
                    break;
                }
                case "stream-cancel":
                {
                    // Reads NAME until MS elapse, then cancels the token: the stream must end with OperationCanceledException.
                    var values = new List<int>();
                    bool cancelled = false;
                    using var cancel = new CancellationTokenSource(Int(a, 1));
                    try
                    {
                        await foreach (int value in Client.SubscribeCounter(Str(a, 0), cancel.Token).ConfigureAwait(false))
                        {
                            values.Add(value);
                            if (values.Count > 10_000) break;
                        }
                    }
                    catch (OperationCanceledException) when (cancel.IsCancellationRequested)
                    {
                        cancelled = true;
                    }
                    StdoutLines.Reply(id, w =>
                    {
                        w.WriteStartObject();
                        w.WriteBoolean("cancelled", cancelled);
                        w.WriteStartArray("values");
                        foreach (int v in values) w.WriteNumberValue(v);
                        w.WriteEndArray();
                        w.WriteEndObject();
                    });
                    break;
                }
                case "stamp-start":
                    // Stamps through the cluster (a oneway, then an invoke) until stamp-stop, only while this process
                    // follows: its calls then travel as frames and can sit in a stopped leader's socket buffer.
                    StartStamping();
                    StdoutLines.Reply(id, w => w.WriteNullValue());
                    break;
                case "stamp-stop":
                {
                    var report = await StopStampingAsync().ConfigureAwait(false);
                    StdoutLines.Reply(id, report.Write);
                    break;
                }
                case "ledger":
                    StdoutLines.Reply(id, FencedLedger.Write);
                    break;
                case "when-leader":
                    StartLeaderWork(Str(a, 0));
                    StdoutLines.Reply(id, w => w.WriteNullValue());
                    break;
                case "when-leader-stop":
                {
                    LeaderWorkRegistration? registration;
                    lock (_leaderWork)
                    {
                        if (!_leaderWork.Remove(Str(a, 0), out registration))
                            throw new InvalidOperationException($"No leader work named '{a[0]}'.");
                    }
                    await registration.DisposeAsync().ConfigureAwait(false);
                    StdoutLines.Reply(id, w => w.WriteNullValue());
                    break;
                }
                case "status":
                    StdoutLines.Reply(id, WriteStatus);
                    break;
                case "ready":
                {
                    using var timeout = new CancellationTokenSource(a.Length > 0 ? Int(a, 0) : 60_000);
                    await _handle.ReadyAsync(timeout.Token).ConfigureAwait(false);
                    StdoutLines.Reply(id, WriteStatus);
                    break;
                }
                case "close":
                    await _handle.DisposeAsync().ConfigureAwait(false);
                    StdoutLines.Reply(id, w => w.WriteNullValue());
                    break;
                case var member when member.StartsWith("member-", StringComparison.Ordinal):
                    await MembershipCommands.ExecuteAsync(_handle.Membership, id, member, rest).ConfigureAwait(false);
                    break;
                default:
                    StdoutLines.WriteJson(w =>
                    {
                        w.WriteNumber("id", id);
                        w.WriteBoolean("ok", false);
                        w.WriteString("error", "UnknownCommand");
                        w.WriteString("message", $"Unknown command '{command}'.");
                    });
                    break;
            }
        }
        catch (Exception e)
        {
            LineOutput.Failed(id, e);
        }
    }

    private CancellationTokenSource? _stamping;
    private Task<StampReport>? _stampLoop;

    private void StartStamping()
    {
        if (_stamping is not null) throw new InvalidOperationException("Stamping already runs; send stamp-stop first.");
        _stamping = new CancellationTokenSource();
        var token = _stamping.Token;
        _stampLoop = Task.Run(async () =>
        {
            var report = new StampReport();
            for (int i = 0; i < 10_000_000 && !token.IsCancellationRequested; i++)
            {
                if (_handle.IsLeader)
                {
                    await Task.Delay(5, CancellationToken.None).ConfigureAwait(false);
                    continue;
                }
                try
                {
                    Client.Stamp(i);
                    await Client.StampAsync(i).ConfigureAwait(false);
                    report.Successes++;
                }
                catch (Exception e)
                {
                    report.Failed(e);
                    await Task.Delay(1, CancellationToken.None).ConfigureAwait(false);
                }
            }
            return report;
        });
    }

    private async Task<StampReport> StopStampingAsync()
    {
        var stamping = _stamping ?? throw new InvalidOperationException("Stamping does not run.");
        await stamping.CancelAsync().ConfigureAwait(false);
        var report = await _stampLoop!.ConfigureAwait(false);
        _stamping = null;
        stamping.Dispose();
        return report;
    }

    private sealed class StampReport
    {
        private readonly Dictionary<string, int> _failures = new(StringComparer.Ordinal);

        public long Successes { get; set; }

        public void Failed(Exception e)
        {
            string key = e is LeaderLostException lost ? $"LeaderLostException(sent={lost.RequestSent})" : e.GetType().Name;
            _failures[key] = _failures.GetValueOrDefault(key) + 1;
        }

        public void Write(Utf8JsonWriter w)
        {
            w.WriteStartObject();
            w.WriteNumber("successes", Successes);
            w.WriteStartObject("failures");
            foreach (var (type, count) in _failures) w.WriteNumber(type, count);
            w.WriteEndObject();
            w.WriteEndObject();
        }
    }

    private void WriteStatus(Utf8JsonWriter w)
    {
        w.WriteStartObject();
        w.WriteBoolean("leader", _handle.IsLeader);
        w.WriteNumber("epoch", _handle.Epoch);
        w.WriteNumber("port", _handle.Port);
        w.WriteString("name", _handle.Name);
        w.WriteEndObject();
    }

    /// <summary>
    /// Leader work that reports "leader-work" events: started (with whether this process leads, and the epoch), then
    /// stopped when its token fires. It only waits, so every start and stop is visible in the output.
    /// </summary>
    private void StartLeaderWork(string name)
    {
        var registration = _handle.WhenLeader(async token =>
        {
            StdoutLines.Event("leader-work", w =>
            {
                w.WriteString("name", name);
                w.WriteString("state", "started");
                w.WriteBoolean("leader", _handle.IsLeader);
                w.WriteNumber("epoch", _handle.Epoch);
            });
            try
            {
                await Task.Delay(Timeout.Infinite, token).ConfigureAwait(false);
            }
            finally
            {
                StdoutLines.Event("leader-work", w =>
                {
                    w.WriteString("name", name);
                    w.WriteString("state", "stopped");
                    w.WriteBoolean("cancelled", token.IsCancellationRequested);
                });
            }
        }, new LeaderWorkOptions { Name = name, GracePeriod = TimeSpan.FromSeconds(5) });
        lock (_leaderWork) _leaderWork.Add(name, registration);
    }

    private void Subscribe(string topic, int delayMs = 0)
    {
        // A slow listener sleeps on the delivery thread, like user code doing blocking work per value.
        Action<string> listener = value =>
        {
            if (delayMs > 0) Thread.Sleep(delayMs);
            StdoutLines.Event("value", w => { w.WriteString("topic", topic); w.WriteString("value", value); });
        };
        lock (_listeners)
        {
            if (!_listeners.TryAdd(topic, listener))
                throw new InvalidOperationException($"This host already subscribed to '{topic}'.");
        }
        Client.Subscribe(topic, listener);
    }

    private void Unsubscribe(string topic)
    {
        Action<string>? listener;
        lock (_listeners)
        {
            if (!_listeners.Remove(topic, out listener))
                throw new InvalidOperationException($"This host has no subscription to '{topic}'.");
        }
        Client.Unsubscribe(topic, listener);
    }

    private static long Burn(int milliseconds)
    {
        long end = Environment.TickCount64 + milliseconds, spins = 0;
        while (Environment.TickCount64 < end) spins++;
        return spins;
    }

    private static int Int(string[] a, int index) =>
        int.Parse(Str(a, index), NumberStyles.Integer, CultureInfo.InvariantCulture);

    private static string Str(string[] a, int index) =>
        index < a.Length ? a[index] : throw new ArgumentException($"Argument {index + 1} is missing.");
}
