using System.Globalization;
using ClusterSharing.Demo;
using Spectre.Console;

// dotnet run --project samples/Demo [-- --workers N] [--port P] [--timeout-seconds S]
// The same executable is also the worker: "Demo worker --port P --index I".
if (args.Length > 0 && args[0] == "worker")
    return await Worker.RunAsync(Option(args, "--port", 0), Option(args, "--index", 0));

int workers = Option(args, "--workers", 4);
int port = Option(args, "--port", 0);
int timeoutSeconds = Option(args, "--timeout-seconds", 120);
if (workers is < 2 or > 32 || port is < 0 or > 65535 || timeoutSeconds < 10)
{
    Console.Error.WriteLine("Usage: Demo [--workers 2..32] [--port 1..65535, default: a free one] [--timeout-seconds >= 10]");
    return 2;
}
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

using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(timeoutSeconds));
Console.CancelKeyPress += (_, e) => { e.Cancel = true; timeout.Cancel(); };
var run = new DemoRun(workers, port == 0 ? DemoRun.FreePort() : port);
return await run.RunAsync(timeout.Token);

static int Option(string[] args, string name, int fallback)
{
    int i = Array.IndexOf(args, name);
    if (i < 0) return fallback;
    return i + 1 < args.Length && int.TryParse(args[i + 1], NumberStyles.Integer, CultureInfo.InvariantCulture, out int value)
        ? value
        : throw new ArgumentException($"{name} needs a whole number.");
}
