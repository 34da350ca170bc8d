using System.Diagnostics;
using System.Threading.Channels;

namespace ClusterSharing.Harness;

/// <summary>A child process speaking the line protocol: started, awaited until "ready", sent commands, killed or told to exit.</summary>
internal sealed class WorkerProcess : IAsyncDisposable
{
    private readonly Process _process;
    private readonly Channel<string> _lines = Channel.CreateUnbounded<string>();
    private readonly Queue<string> _stderrTail = new();
    private readonly SemaphoreSlim _commandLock = new(1, 1);

    private WorkerProcess(Process process, string label)
    {
        _process = process;
        Label = label;
    }

    public string Label { get; }

    /// <summary>Coordinator's clock (ns) just before the process was started.</summary>
    public long StartedNs { get; private set; }

    /// <summary>The worker's clock (ns) when its ReadyAsync completed.</summary>
    public long ReadyNs { get; private set; }

    public bool StartedAsLeader { get; private set; }

    public int Pid { get; private set; }

    public bool HasExited => _process.HasExited;

    public double ColdStartMs => (ReadyNs - StartedNs) / 1e6;

    public static WorkerProcess Start(string label, string fileName, IEnumerable<string> arguments, IDictionary<string, string>? environment = null)
    {
        var info = new ProcessStartInfo(fileName)
        {
            RedirectStandardInput = true,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        foreach (var a in arguments) info.ArgumentList.Add(a);
        if (environment is not null) foreach (var (k, v) in environment) info.Environment[k] = v;
        var worker = new WorkerProcess(new Process { StartInfo = info }, label);
        worker.StartedNs = LineHost.Ns(Stopwatch.GetTimestamp());
        worker._process.Start();
        worker.Pid = worker._process.Id;
        _ = worker.PumpStdoutAsync();
        _ = worker.PumpStderrAsync();
        return worker;
    }

    private async Task PumpStdoutAsync()
    {
        try
        {
            while (await _process.StandardOutput.ReadLineAsync().ConfigureAwait(false) is { } line)
            {
                // Anything else (a library printing to stdout) is not part of the protocol.
                if (line.StartsWith("ok", StringComparison.Ordinal) || line.StartsWith("err", StringComparison.Ordinal) || line.StartsWith("ready ", StringComparison.Ordinal))
                    _lines.Writer.TryWrite(line);
            }
        }
        finally
        {
            _lines.Writer.TryComplete();
        }
    }

    private async Task PumpStderrAsync()
    {
        while (await _process.StandardError.ReadLineAsync().ConfigureAwait(false) is { } line)
        {
            lock (_stderrTail)
            {
                _stderrTail.Enqueue(line);
                if (_stderrTail.Count > 40) _stderrTail.Dequeue();
            }
        }
    }

    public string StderrTail()
    {
        lock (_stderrTail) return _stderrTail.Count == 0 ? "(no stderr)" : string.Join(" | ", _stderrTail);
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
            throw new TimeoutException($"{Label} (pid {Pid}) did not answer {waitingFor} within {timeout.TotalSeconds:0} s; stderr: {StderrTail()}");
        }
        catch (ChannelClosedException)
        {
            throw new InvalidOperationException($"{Label} (pid {Pid}) exited while {waitingFor}; stderr: {StderrTail()}");
        }
    }

    public async Task WaitReadyAsync(TimeSpan timeout)
    {
        var line = await NextLineAsync(timeout, "ready").ConfigureAwait(false);
        var parts = line.Split(' ');
        if (parts[0] != "ready") throw new InvalidOperationException($"{Label}: expected 'ready', got '{line}'");
        ReadyNs = long.Parse(parts[1]);
        StartedAsLeader = parts[2] == "1";
    }

    /// <summary>Sends one command and returns the text after "ok".</summary>
    public async Task<string> CommandAsync(string command, TimeSpan? timeout = null)
    {
        await _commandLock.WaitAsync().ConfigureAwait(false);
        try
        {
            await _process.StandardInput.WriteLineAsync(command).ConfigureAwait(false);
            await _process.StandardInput.FlushAsync().ConfigureAwait(false);
            var line = await NextLineAsync(timeout ?? TimeSpan.FromSeconds(60), $"'{command}'").ConfigureAwait(false);
            if (line.StartsWith("err", StringComparison.Ordinal)) throw new InvalidOperationException($"{Label}: '{command}' failed: {line}");
            return line.Length > 3 ? line[3..] : "";
        }
        finally
        {
            _commandLock.Release();
        }
    }

    /// <summary>SIGKILL: no goodbye, no flush; the kernel closes its sockets.</summary>
    public void Kill()
    {
        try
        {
            _process.Kill(entireProcessTree: false);
        }
        catch (InvalidOperationException)
        {
            // Already gone.
        }
    }

    public async ValueTask DisposeAsync()
    {
        if (!_process.HasExited)
        {
            try
            {
                await _process.StandardInput.WriteLineAsync("exit").ConfigureAwait(false);
                await _process.StandardInput.FlushAsync().ConfigureAwait(false);
            }
            catch (IOException)
            {
            }
            using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(5));
            try
            {
                await _process.WaitForExitAsync(cts.Token).ConfigureAwait(false);
            }
            catch (OperationCanceledException)
            {
                Kill();
            }
        }
        _process.Dispose();
    }
}
