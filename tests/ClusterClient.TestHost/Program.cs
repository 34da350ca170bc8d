using ClusterSharing;
using ClusterSharing.TestHost;

// A worker process for the multi-process tests: it joins the cluster on --port, then executes the commands
// it reads on stdin (one per line: "<id> <command> [arguments]") and answers one JSON object per line on
// stdout. Closing its stdin ends it, so a crashed test run leaves no process behind.
//
// Commands: echo TEXT | add A B | slow MS [CANCEL_AFTER_MS] | slow-idem MS | fail MESSAGE | record N | record-many COUNT [FIRST] | recorded |
// pid | big LENGTH | sub TOPIC | sub-slow TOPIC DELAY_MS | sub-work QUEUE | unsub TOPIC | publish TOPIC VALUE | burst TOPIC COUNT PREFIX | loop MS [pid|idem] | burn MS [THREADS] | status | ready [TIMEOUT_MS] | close |
// on-notice | raise TEXT | when-leader NAME | when-leader-stop NAME | stream NAME COUNT | stream-cancel NAME MS | clock-pid (with --second-channel) | exit
// Replies: {"id":7,"ok":true,"value":...} or {"id":8,"ok":false,"error":"LeaderLostException","sent":true,"message":"..."}
// Events:  started, factory, ready, ready-failed, leader-changed, leadership-lost, executing, real-call-cancelled,
//          recorded, real-subscribed, real-unsubscribed, real-published, value, real-raised, notice, real-stream-started,
//          real-stream-stopped, real-client-disposed, real-burst, work, listener-error, clock-ready,
//          clock-ready-failed, leader-work, exited
HostArguments arguments;
try
{
    arguments = HostArguments.Parse(args);
}
catch (Exception e) when (e is ArgumentException or FormatException or OverflowException)
{
    Console.Error.WriteLine(e.Message);
    return 2;
}

StdoutLines.Event("started", w => w.WriteNumber("port", arguments.Port ?? 0));

int factoryAttempts = 0;
ITestService Factory()
{
    int attempt = Interlocked.Increment(ref factoryAttempts);
    bool fail = attempt <= arguments.FactoryFails
        || (arguments.FactoryFailFile is { } file && File.Exists(file));
    StdoutLines.Event("factory", w => { w.WriteNumber("attempt", attempt); w.WriteBoolean("ok", !fail); });
    if (fail)
    {
        var error = new InvalidOperationException(arguments.FactoryError);
        if (arguments.FactoryCode is not null) error.Data["Code"] = arguments.FactoryCode;
        throw error;
    }
    return new TestService(attempt, () => Volatile.Read(ref EpochSource.Handle)?.Epoch ?? 0);
}

// --factory-delay-ms: the asynchronous factory, which awaits that long before building (a client that connects).
async ValueTask<ITestService> FactoryAsync(CancellationToken cancellationToken)
{
    await Task.Delay(arguments.FactoryDelayMs!.Value, cancellationToken);
    return Factory();
}

ClusterClient<ITestService> handle;
try
{
    handle = arguments.FactoryDelayMs is null
        ? ClusterClient.Create<ITestService>(Factory, arguments.Apply)
        : ClusterClient.Create<ITestService>(FactoryAsync, arguments.Apply);
    Volatile.Write(ref EpochSource.Handle, handle);
}
catch (Exception e)
{
    StdoutLines.Event("create-failed", w => LineOutput.WriteError(w, e));
    return 3;
}

handle.ListenerError += (_, e) => StdoutLines.Event("listener-error", w =>
{
    w.WriteString("member", e.Member);
    w.WriteString("message", e.Exception.Message);
});

MembershipCommands.WatchEvents(handle.Membership);

handle.LeaderChanged += (_, e) =>
{
    StdoutLines.Event("leader-changed", w => { w.WriteBoolean("leader", e.IsLeader); w.WriteNumber("epoch", e.Epoch); });
    if (e.IsLeader) WatchLeadership(handle);
};

ClusterClient<IClockService>? clock = null;
if (arguments.SecondChannel)
{
    clock = ClusterClient.Create<IClockService>(() => new ClockService(), arguments.ApplySecondChannel);
    _ = Task.Run(async () =>
    {
        try
        {
            using var timeout = new CancellationTokenSource(arguments.ReadyTimeoutMs);
            await clock.ReadyAsync(timeout.Token);
            StdoutLines.Event("clock-ready", w => w.WriteBoolean("leader", clock.IsLeader));
        }
        catch (Exception e)
        {
            StdoutLines.Event("clock-ready-failed", w => LineOutput.WriteError(w, e));
        }
    });
}

var commands = new CommandProcessor(handle, clock);
// Console.In reads synchronously even through ReadLineAsync: give it its own task so ReadyAsync runs alongside.
var stdinDone = Task.Run(() => commands.RunAsync(Console.In));

try
{
    using var readyTimeout = new CancellationTokenSource(arguments.ReadyTimeoutMs);
    await handle.ReadyAsync(readyTimeout.Token);
    StdoutLines.Event("ready", w => { w.WriteBoolean("leader", handle.IsLeader); w.WriteNumber("epoch", handle.Epoch); });
    if (handle.IsLeader) WatchLeadership(handle);
}
catch (Exception e)
{
    // The process stays up: a test may retry with the "ready" command once the cause is gone.
    StdoutLines.Event("ready-failed", w => LineOutput.WriteError(w, e));
}

await stdinDone;
await commands.DisposeHandleAsync();
StdoutLines.Event("exited");
// Ends the process even if something left a foreground thread behind; the tests must never leak workers.
Environment.Exit(0);
return 0;

static void WatchLeadership(ClusterClient<ITestService> handle)
{
    var token = handle.LeadershipLost;
    // Both the ready path and LeaderChanged may see the same term; report its end once.
    if (!LeadershipWatch.TryStart(token)) return;
    token.Register(static state =>
    {
        var h = (ClusterClient<ITestService>)state!;
        StdoutLines.Event("leadership-lost", w => w.WriteNumber("epoch", h.Epoch));
    }, handle);
}

/// <summary>The handle whose epoch the real client reports (set once Create returned; the factory may run before).</summary>
internal static class EpochSource
{
    public static ClusterClient<ITestService>? Handle;
}

internal static class LeadershipWatch
{
    private static readonly Lock Gate = new();
    private static CancellationToken _watched;

    public static bool TryStart(CancellationToken token)
    {
        lock (Gate)
        {
            if (token == _watched) return false;
            _watched = token;
            return true;
        }
    }
}
