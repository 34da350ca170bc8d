using System.Diagnostics;
using System.Globalization;
using System.Threading.Channels;

namespace ClusterSharing.Harness;

/// <summary>
/// A child process speaking the harness's text line protocol (a .NET worker or a Node worker): started, awaited until
/// "ready", sent commands one at a time (each answered "ok …" or "err …"), killed or stopped.
/// </summary>
internal sealed class WorkerProcess : ChildProcess
{
    private readonly Channel<string> _lines = Channel.CreateUnbounded<string>();
    private readonly SemaphoreSlim _commandLock = new(1, 1);

    private WorkerProcess(string label)
        : base(label)
    {
    }

    /// <summary>Coordinator's clock (ns) just before the process was started.</summary>
    public long StartedNs => MonotonicClock.Nanoseconds(StartedTimestamp);

    /// <summary>The worker's clock (ns) when its ReadyAsync completed.</summary>
    public long ReadyNs { get; private set; }

    public bool StartedAsLeader { get; private set; }

    public double ColdStartMs => (ReadyNs - StartedNs) / 1e6;

    /// <summary>This program again as <c>worker …</c>, <c>crowd …</c>, <c>rawserver …</c> or <c>rawclient …</c>.</summary>
    public static WorkerProcess StartThisProgram(string label, IEnumerable<string> arguments, bool verbose = false)
    {
        var info = ProcessCommand.ForThisProgram(arguments);
        info.Environment[Worker.LogEnvironmentVariable] = verbose ? "1" : "0";
        return Launch(label, info);
    }

    /// <summary>Any other worker executable (node).</summary>
    public static WorkerProcess Start(string label, string fileName, IEnumerable<string> arguments, IDictionary<string, string> environment)
    {
        var info = ProcessCommand.ForExecutable(fileName, arguments);
        foreach (var (k, v) in environment) info.Environment[k] = v;
        return Launch(label, info);
    }

    private static WorkerProcess Launch(string label, ProcessStartInfo info)
    {
        var worker = new WorkerProcess(label);
        worker.Launch(info);
        return worker;
    }

    protected override void OnStdoutLine(string line)
    {
        // Anything else (a library printing to stdout) is not part of the protocol.
        if (line.StartsWith("ok", StringComparison.Ordinal) || line.StartsWith("err", StringComparison.Ordinal) || line.StartsWith("ready ", StringComparison.Ordinal))
            _lines.Writer.TryWrite(line);
    }

    protected override void OnStdoutClosed() => _lines.Writer.TryComplete();

    private string Stderr()
    {
        string tail = StderrTail();
        return tail.Length == 0 ? "(no stderr)" : tail.ReplaceLineEndings(" | ");
    }

    private async Task<string> NextLineAsync(TimeSpan timeout, string waitingFor)
    {
        using var cts = new CancellationTokenSource(timeout);
        try
        {
            return await _lines.Reader.ReadAsync(cts.Token).ConfigureAwait(false);
        }
        catch (OperationCanceledException)
        {
            throw new TimeoutException($"{Label} (pid {Pid}) did not answer {waitingFor} within {timeout.TotalSeconds:0} s; stderr: {Stderr()}");
        }
        catch (ChannelClosedException)
        {
            throw new InvalidOperationException($"{Label} (pid {Pid}) exited while {waitingFor}; stderr: {Stderr()}");
        }
    }

    public async Task WaitReadyAsync(TimeSpan timeout)
    {
        var line = await NextLineAsync(timeout, "ready").ConfigureAwait(false);
        var parts = line.Split(' ');
        if (parts[0] != "ready") throw new InvalidOperationException($"{Label}: expected 'ready', got '{line}'");
        ReadyNs = long.Parse(parts[1], CultureInfo.InvariantCulture);
        StartedAsLeader = parts[2] == "1";
    }

    /// <summary>Sends one command and returns the text after "ok".</summary>
    public async Task<string> CommandAsync(string command, TimeSpan? timeout = null)
    {
        await _commandLock.WaitAsync().ConfigureAwait(false);
        try
        {
            await SendLineAsync(command).ConfigureAwait(false);
            var line = await NextLineAsync(timeout ?? TimeSpan.FromSeconds(60), $"'{command}'").ConfigureAwait(false);
            if (line.StartsWith("err", StringComparison.Ordinal)) throw new InvalidOperationException($"{Label}: '{command}' failed: {line}");
            return line.Length > 3 ? line[3..] : "";
        }
        finally
        {
            _commandLock.Release();
        }
    }
}
