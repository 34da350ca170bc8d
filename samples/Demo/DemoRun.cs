using System.Globalization;
using System.Net;
using System.Net.Sockets;
using System.Text.Json;
using Spectre.Console;

namespace ClusterSharing.Demo;

/// <summary>
/// The parent: starts the workers, shows who leads, has every worker call the shared client, kills the leader
/// and shows the failover as the workers measured it. Never hangs: every step has a deadline, and the whole
/// run is bounded by <c>--timeout-seconds</c>.
/// </summary>
internal sealed class DemoRun
{
    private const string Symbol = "EURUSD";
    private readonly int _workerCount;
    private readonly int _port;
    private readonly List<WorkerProcess> _workers = new();
    private readonly List<(bool Ok, string Text)> _checks = new();

    public DemoRun(int workerCount, int port)
    {
        _workerCount = workerCount;
        _port = port;
    }

    public static int FreePort()
    {
        var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        int port = ((IPEndPoint)listener.LocalEndpoint).Port;
        listener.Stop();
        return port;
    }

    public async Task<int> RunAsync(CancellationToken cancellationToken)
    {
        try
        {
            await StartWorkersAsync(cancellationToken);
            var (leader, answers) = await InvokeFromEveryWorkerAsync(cancellationToken);
            await SubscribeEverywhereAsync(leader, cancellationToken);
            await FailOverAsync(leader, answers, cancellationToken);
            await MembershipSection.RunAsync([.. _workers.Where(w => !w.Killed)], Check, cancellationToken);
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
            Check(false, "The demo ran out of time (see --timeout-seconds); the workers were stopped.");
        }
        catch (Exception e) when (e is InvalidOperationException or TimeoutException or JsonException or KeyNotFoundException)
        {
            Check(false, e.Message);
        }
        finally
        {
            await Task.WhenAll(_workers.Select(w => w.DisposeAsync().AsTask()));
        }
        return PrintSummary();
    }

    private async Task StartWorkersAsync(CancellationToken cancellationToken)
    {
        AnsiConsole.Write(new Rule("[bold]ClusterClient demo[/]").LeftJustified());
        AnsiConsole.MarkupLine($"Starting [bold]{_workerCount}[/] worker processes; they compete for [bold]127.0.0.1:{_port}[/].");
        for (int i = 1; i <= _workerCount; i++) _workers.Add(WorkerProcess.Start(_port, i));

        var table = new Table().Title("Workers").AddColumns("Worker", "PID", "Role", "Epoch");
        foreach (var w in _workers)
        {
            var ready = await w.WaitForEventAsync(e => IsEvent(e, "ready") || IsEvent(e, "ready-failed"), cancellationToken);
            if (IsEvent(ready, "ready-failed"))
                throw new InvalidOperationException($"worker {w.Index} could not join: {ready.GetProperty("message").GetString()}");
            bool isLeader = ready.GetProperty("leader").GetBoolean();
            table.AddRow(S(w.Index), S(w.Pid), isLeader ? "[green]leader[/]" : "follower", S(ready.GetProperty("epoch").GetInt64()));
        }
        AnsiConsole.Write(table);
    }

    private async Task<(WorkerProcess Leader, JsonElement[] Answers)> InvokeFromEveryWorkerAsync(CancellationToken cancellationToken)
    {
        AnsiConsole.Write(new Rule("Every worker calls the shared client").LeftJustified());
        var answers = await Task.WhenAll(_workers.Select(w => w.RequestAsync($"query hello from worker {w.Index}", cancellationToken)));
        var table = new Table().AddColumns("Worker", "PID", "Answered by PID", "Real connection");
        for (int i = 0; i < _workers.Count; i++)
            table.AddRow(S(_workers[i].Index), S(_workers[i].Pid), S(answers[i].GetProperty("leaderPid").GetInt32()),
                Markup.Escape(answers[i].GetProperty("connectionId").GetString()!));
        AnsiConsole.Write(table);

        var leaderPids = answers.Select(a => a.GetProperty("leaderPid").GetInt32()).Distinct().ToArray();
        var connections = answers.Select(a => a.GetProperty("connectionId").GetString()).Distinct().ToArray();
        Check(leaderPids.Length == 1 && connections.Length == 1,
            $"{_workers.Count} workers were served by {connections.Length} real client(s) in {leaderPids.Length} process(es)");
        var leader = _workers.FirstOrDefault(w => w.Pid == leaderPids[0])
            ?? throw new InvalidOperationException($"The answering pid {leaderPids[0]} is not one of the workers.");
        return (leader, answers);
    }

    private async Task SubscribeEverywhereAsync(WorkerProcess leader, CancellationToken cancellationToken)
    {
        AnsiConsole.Write(new Rule($"Subscription fan-out: every worker watches {Symbol}").LeftJustified());
        await Task.WhenAll(_workers.Select(w => w.RequestAsync($"watch {Symbol}", cancellationToken)));
        await Task.Delay(1200, cancellationToken);
        var ticks = await Task.WhenAll(_workers.Select(w => w.RequestAsync("ticks", cancellationToken)));
        int upstream = (await leader.RequestAsync("upstream-subscriptions", cancellationToken)).GetProperty("count").GetInt32();

        var table = new Table().AddColumns("Worker", "PID", "Quotes received", "Pushed by PID");
        bool allFromLeader = true;
        for (int i = 0; i < _workers.Count; i++)
        {
            var pids = ticks[i].GetProperty("spans").EnumerateArray().Select(s => s.GetProperty("pid").GetInt32()).Distinct().ToArray();
            allFromLeader &= pids.Length == 1 && pids[0] == leader.Pid;
            table.AddRow(S(_workers[i].Index), S(_workers[i].Pid), S(ticks[i].GetProperty("count").GetInt32()), string.Join(", ", pids.Select(p => S(p))));
        }
        AnsiConsole.Write(table);
        Check(allFromLeader, $"{_workers.Count} workers received quotes pushed by the leader's real client");
        Check(upstream == 1, $"the real client holds {upstream} upstream subscription(s) for {_workers.Count} subscribed workers");
    }

    private async Task FailOverAsync(WorkerProcess oldLeader, JsonElement[] before, CancellationToken cancellationToken)
    {
        AnsiConsole.Write(new Rule("Failover: the leader is killed while every worker is calling").LeftJustified());
        var survivors = _workers.Where(w => w != oldLeader).ToArray();
        const int loopMs = 5000;
        var loops = survivors.Select(w => w.RequestAsync($"loop {loopMs}", cancellationToken)).ToArray();
        await Task.Delay(1500, cancellationToken);

        double killedAt = Lines.Now();
        oldLeader.Kill();
        AnsiConsole.MarkupLine($"[red]SIGKILL[/] sent to the leader, worker {oldLeader.Index} (pid {oldLeader.Pid}).");
        await oldLeader.WaitForExitAsync(cancellationToken);

        var reports = await Task.WhenAll(loops);
        var ticks = await Task.WhenAll(survivors.Select(w => w.RequestAsync("ticks", cancellationToken)));
        var table = new Table().AddColumns("Worker", "PID", "Calls OK", "LeaderLost", "Other errors", "Failover (ms)", "Quotes resume (ms)", "Now answered by");
        var failovers = new List<double>();
        var resumes = new List<double>();
        int newLeaderPid = 0, leaderLost = 0, otherErrors = 0;
        for (int i = 0; i < survivors.Length; i++)
        {
            var r = reports[i];
            var spans = r.GetProperty("spans").EnumerateArray().ToArray();
            string failover = "-";
            if (FirstRunAfter(r, oldLeader.Pid, killedAt) is { } firstCall)
            {
                failovers.Add(firstCall - killedAt);
                failover = (firstCall - killedAt).ToString("0.0", CultureInfo.InvariantCulture);
            }
            string resume = "-";
            if (FirstRunAfter(ticks[i], oldLeader.Pid, killedAt) is { } firstTick)
            {
                resumes.Add(firstTick - killedAt);
                resume = (firstTick - killedAt).ToString("0.0", CultureInfo.InvariantCulture);
            }
            int lastPid = spans.Length > 0 ? spans[^1].GetProperty("pid").GetInt32() : 0;
            newLeaderPid = newLeaderPid == 0 ? lastPid : newLeaderPid;
            int lost = r.GetProperty("leaderLost").GetInt32();
            int other = r.GetProperty("otherTyped").GetInt32() + r.GetProperty("untyped").GetInt32();
            leaderLost += lost;
            otherErrors += other;
            table.AddRow(S(survivors[i].Index), S(survivors[i].Pid), S(r.GetProperty("successes").GetInt32()), S(lost),
                other == 0 ? "0" : $"[red]{other}[/] {Markup.Escape(r.TryGetProperty("firstError", out var fe) ? fe.GetString()! : "")}",
                failover, resume, S(lastPid));
            Check(lastPid != 0 && lastPid != oldLeader.Pid, $"worker {survivors[i].Index}'s calls resumed on a new leader");
        }
        AnsiConsole.Write(table);
        AnsiConsole.MarkupLine("[grey]Failover = from the SIGKILL to that worker's first successful call on the new leader; quotes resume = to its first quote " +
            "pushed by the new leader's real client (one machine-wide monotonic clock).[/]");

        var newLeaders = survivors.Where(w => w.Events("leader-changed").Any(e => e.GetProperty("leader").GetBoolean())).ToArray();
        Check(newLeaders.Length == 1, $"exactly one new leader was elected (saw {newLeaders.Length})");
        Check(newLeaders.Length == 1 && newLeaders[0].Pid == newLeaderPid, $"every survivor is answered by the new leader, pid {newLeaderPid}");
        Check(otherErrors == 0, $"no call failed other than with LeaderLostException ({otherErrors} did)");
        Check(failovers.Count == survivors.Length, $"every survivor measured its failover ({failovers.Count}/{survivors.Length})");
        Check(resumes.Count == survivors.Length, $"every survivor's subscription resumed on the new leader ({resumes.Count}/{survivors.Length})");
        int outOfOrder = ticks.Sum(t => t.GetProperty("outOfOrder").GetInt32());
        int repeated = ticks.Sum(t => t.GetProperty("repeated").GetInt32());
        Check(outOfOrder == 0 && repeated <= survivors.Length,
            $"quotes reached every survivor in order across the failover ({outOfOrder} out of order, {repeated} replayed; at most one per worker is allowed)");

        var after = await Task.WhenAll(survivors.Select(w => w.RequestAsync($"query after failover from worker {w.Index}", cancellationToken)));
        var connections = after.Select(a => a.GetProperty("connectionId").GetString()).Distinct().ToArray();
        Check(connections.Length == 1 && connections[0] != before[0].GetProperty("connectionId").GetString(),
            $"after failover, {survivors.Length} workers share {connections.Length} new real client(s)");
        int upstream = (await survivors[0].RequestAsync("upstream-subscriptions", cancellationToken)).GetProperty("count").GetInt32();
        Check(upstream == 1, $"the new real client holds {upstream} upstream subscription(s) after the re-subscribe");

        if (failovers.Count > 0)
        {
            failovers.Sort();
            _summary = $"Failover (SIGKILL -> first successful call): min {failovers[0]:0.0} ms, median {failovers[failovers.Count / 2]:0.0} ms, max {failovers[^1]:0.0} ms; " +
                $"{leaderLost} in-flight call(s) failed with LeaderLostException.";
        }
        if (resumes.Count > 0)
        {
            resumes.Sort();
            _summary += $"\nQuotes resumed (SIGKILL -> first quote from the new leader): min {resumes[0]:0.0} ms, max {resumes[^1]:0.0} ms.";
        }
    }

    private string? _summary;

    private int PrintSummary()
    {
        AnsiConsole.Write(new Rule("Summary").LeftJustified());
        foreach (var (ok, text) in _checks)
            AnsiConsole.MarkupLine((ok ? "[green]PASS[/] " : "[red]FAIL[/] ") + Markup.Escape(text));
        if (_summary is not null) AnsiConsole.MarkupLine(Markup.Escape(_summary));
        bool passed = _checks.Count > 0 && _checks.All(c => c.Ok);
        if (!passed)
        {
            foreach (var w in _workers.Where(w => w.Stderr.Length > 0))
                AnsiConsole.MarkupLine($"[grey]worker {w.Index} stderr:[/]\n{Markup.Escape(w.Stderr)}");
        }
        AnsiConsole.MarkupLine(passed ? "[bold green]Demo passed.[/]" : "[bold red]Demo failed.[/]");
        return passed ? 0 : 1;
    }

    private void Check(bool ok, string text) => _checks.Add((ok, text));

    /// <summary>The time of the first run of results from a leader other than <paramref name="oldLeaderPid"/> that began after <paramref name="since"/>.</summary>
    private static double? FirstRunAfter(JsonElement report, int oldLeaderPid, double since)
    {
        foreach (var span in report.GetProperty("spans").EnumerateArray())
        {
            double first = span.GetProperty("first").GetDouble();
            if (span.GetProperty("pid").GetInt32() != oldLeaderPid && first > since) return first;
        }
        return null;
    }

    private static bool IsEvent(JsonElement e, string name) => e.TryGetProperty("event", out var v) && v.ValueEquals(name);

    private static string S(long value) => value.ToString(CultureInfo.InvariantCulture);
}
