using System.CommandLine;
using System.Globalization;
using ClusterSharing.Demo;
using Spectre.Console;

// dotnet run --project samples/Demo [-- --workers N] [--port P] [--timeout-seconds S]
// The same executable is also the worker: "Demo worker --port P --index I" (a hidden command).
CultureInfo.DefaultThreadCurrentCulture = CultureInfo.InvariantCulture;
CultureInfo.CurrentCulture = CultureInfo.InvariantCulture;

var workers = Number("--workers", 4, 2, 32, "Worker processes to start; they compete for one port.");
var port = Number("--port", 0, 0, 65535, "Loopback port (0: a free one).");
var timeoutSeconds = Number("--timeout-seconds", 120, 10, 3600, "Bound on the whole run; the workers are stopped when it passes.");
var root = new RootCommand(
    "ClusterClient demo: starts worker processes that share one upstream client, shows the election, the shared client, " +
    "the subscription fan-out and a failover after the leader is SIGKILLed. Exit code 0 when every check passed.")
{
    workers, port, timeoutSeconds,
};
root.SetAction(async (result, _) =>
{
    if (Console.IsOutputRedirected)
    {
        // Plain text for CI logs and files: no escape sequences, no terminal-width guessing.
        AnsiConsole.Console = AnsiConsole.Create(new AnsiConsoleSettings
        {
            Ansi = AnsiSupport.No,
            ColorSystem = ColorSystemSupport.NoColors,
            Interactive = InteractionSupport.No,
            Out = new AnsiConsoleOutput(Console.Out),
        });
        AnsiConsole.Profile.Width = 120;
    }
    using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(result.GetValue(timeoutSeconds)));
    Console.CancelKeyPress += (_, e) => { e.Cancel = true; timeout.Cancel(); };
    int chosen = result.GetValue(port);
    var run = new DemoRun(result.GetValue(workers), chosen == 0 ? DemoRun.FreePort() : chosen);
    return await run.RunAsync(timeout.Token);
});

var workerPort = new Option<int>("--port") { Description = "The cluster's port.", Required = true };
var index = new Option<int>("--index") { Description = "This worker's number, for the tables.", Required = true };
var worker = new Command("worker", "One worker process, driven by the demo over stdin/stdout.") { workerPort, index };
worker.Hidden = true;
worker.SetAction((result, _) => Worker.RunAsync(result.GetValue(workerPort), result.GetValue(index)));
root.Add(worker);

return await root.Parse(args).InvokeAsync();

static Option<int> Number(string name, int defaultValue, int minimum, int maximum, string description)
{
    var option = new Option<int>(name) { Description = description, DefaultValueFactory = _ => defaultValue, HelpName = "N" };
    option.Validators.Add(r =>
    {
        if (r.GetValueOrDefault<int>() is var v && (v < minimum || v > maximum)) r.AddError($"{name} must be {minimum}..{maximum}.");
    });
    return option;
}
