using System.Diagnostics;

namespace ClusterSharing.ProcessHarness;

/// <summary>
/// A child process driven over its standard streams: stdout is read line by line in the background and handed to
/// <see cref="OnStdoutLine"/>; stderr is kept as a bounded tail for failure messages. Closing stdin is the child's
/// signal to leave; <see cref="Kill"/> is SIGKILL. Disposing stops the child (stdin closed, a grace period, then
/// SIGKILL), so nothing is left running.
/// </summary>
/// <remarks>Subclasses start the process from a factory, after construction: <c>var p = new X(label); p.Launch(info);</c>.</remarks>
public abstract class ChildProcess : IAsyncDisposable
{
    private const int StderrTailLines = 200;
    private const int StderrLineLimit = 2_000;

    private readonly Queue<string> _stderrTail = new();
    private readonly SemaphoreSlim _stdinGate = new(1, 1);
    private Process? _process;
    private Task _stdoutPump = Task.CompletedTask;
    private Task _stderrPump = Task.CompletedTask;
    private int _disposed;

    /// <param name="label">Name for messages, for example "worker 2".</param>
    protected ChildProcess(string label) => Label = label;

    /// <summary>Name for messages, for example "worker 2".</summary>
    public string Label { get; }

    /// <summary>The child's process id.</summary>
    public int Pid { get; private set; }

    /// <summary><see cref="Stopwatch"/> timestamp just before the process was started.</summary>
    public long StartedTimestamp { get; private set; }

    /// <summary>True once <see cref="Kill"/> was called.</summary>
    public bool Killed { get; private set; }

    /// <summary>True once the process has ended.</summary>
    public bool HasExited => Process.HasExited;

    /// <summary>True once stdout has closed (the child ended or closed it): no further line will arrive.</summary>
    protected bool StdoutClosed => _stdoutPump.IsCompleted;

    private Process Process => _process ?? throw new InvalidOperationException($"{Label} was not launched.");

    /// <summary>Starts the process and the pumps; called once, by the subclass's factory.</summary>
    protected void Launch(ProcessStartInfo info)
    {
        if (_process is not null) throw new InvalidOperationException($"{Label} was already launched.");
        StartedTimestamp = Stopwatch.GetTimestamp();
        _process = Process.Start(info) ?? throw new InvalidOperationException($"Process.Start returned null for {Label} ({info.FileName}).");
        Pid = _process.Id;
        _stdoutPump = Task.Run(PumpStdoutAsync);
        _stderrPump = Task.Run(PumpStderrAsync);
    }

    /// <summary>One line the child wrote on stdout; called on the pump's thread, one line at a time.</summary>
    protected abstract void OnStdoutLine(string line);

    /// <summary>Stdout has closed; called once, after the last <see cref="OnStdoutLine"/>.</summary>
    protected virtual void OnStdoutClosed()
    {
    }

    /// <summary>One line the child wrote on stderr (already kept in the tail).</summary>
    protected virtual void OnStderrLine(string line)
    {
    }

    /// <summary>Keeps <paramref name="text"/> with the stderr tail, so failure messages show it.</summary>
    protected void AddToStderrTail(string text)
    {
        lock (_stderrTail)
        {
            _stderrTail.Enqueue(text.Length > StderrLineLimit ? text[..StderrLineLimit] + " …" : text);
            if (_stderrTail.Count > StderrTailLines) _stderrTail.Dequeue();
        }
    }

    /// <summary>The last <paramref name="maxLines"/> lines of stderr, joined by newlines ("" when there were none).</summary>
    public string StderrTail(int maxLines = 40)
    {
        lock (_stderrTail) return string.Join("\n", _stderrTail.TakeLast(maxLines));
    }

    /// <summary>Writes one line to the child's stdin; throws if the child is gone.</summary>
    public async Task SendLineAsync(string line, CancellationToken cancellationToken = default)
    {
        await _stdinGate.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            await Process.StandardInput.WriteLineAsync(line.AsMemory(), cancellationToken).ConfigureAwait(false);
            await Process.StandardInput.FlushAsync(cancellationToken).ConfigureAwait(false);
        }
        finally
        {
            _stdinGate.Release();
        }
    }

    /// <summary>Writes one line to the child's stdin; false when the child is gone (killed or exited).</summary>
    public bool TrySendLine(string line)
    {
        _stdinGate.Wait();
        try
        {
            Process.StandardInput.WriteLine(line);
            Process.StandardInput.Flush();
            return true;
        }
        catch (Exception e) when (e is IOException or InvalidOperationException or ObjectDisposedException)
        {
            return false;
        }
        finally
        {
            _stdinGate.Release();
        }
    }

    /// <summary>SIGKILL on Linux: no goodbye, no flush, like a crash or the OOM killer; the kernel closes its sockets.</summary>
    public void Kill()
    {
        Killed = true;
        try
        {
            Process.Kill(entireProcessTree: true);
        }
        catch (InvalidOperationException)
        {
            // Already exited.
        }
    }

    /// <summary>True if the process ends within <paramref name="timeout"/>.</summary>
    public async Task<bool> ExitsWithinAsync(TimeSpan timeout)
    {
        using var cts = new CancellationTokenSource(timeout);
        try
        {
            await Process.WaitForExitAsync(cts.Token).ConfigureAwait(false);
            return true;
        }
        catch (OperationCanceledException)
        {
            return false;
        }
    }

    /// <summary>
    /// Closes stdin (the child's signal to leave), gives it <paramref name="grace"/> to exit, SIGKILLs it if it lingers,
    /// and waits for its output to drain.
    /// </summary>
    public async Task StopAsync(TimeSpan grace)
    {
        if (!Process.HasExited)
        {
            await _stdinGate.WaitAsync().ConfigureAwait(false);
            try
            {
                Process.StandardInput.Close();
            }
            catch (Exception e) when (e is IOException or InvalidOperationException)
            {
                // Already gone.
            }
            finally
            {
                _stdinGate.Release();
            }
            if (!await ExitsWithinAsync(grace).ConfigureAwait(false)) Kill();
        }
        await ExitsWithinAsync(TimeSpan.FromSeconds(10)).ConfigureAwait(false);
        await Task.WhenAny(Task.WhenAll(_stdoutPump, _stderrPump), Task.Delay(TimeSpan.FromSeconds(5))).ConfigureAwait(false);
    }

    /// <summary>How long <see cref="DisposeAsync"/> lets the child leave on its own before SIGKILL.</summary>
    protected virtual TimeSpan DisposeGrace => TimeSpan.FromSeconds(5);

    /// <summary>Stops the child (see <see cref="StopAsync"/>) and releases the process.</summary>
    public async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0 || _process is null) return;
        try
        {
            await StopAsync(DisposeGrace).ConfigureAwait(false);
        }
        finally
        {
            if (!_process.HasExited) Kill();
            _process.Dispose();
            GC.SuppressFinalize(this);
        }
    }

    private async Task PumpStdoutAsync()
    {
        try
        {
            var reader = Process.StandardOutput;
            while (await reader.ReadLineAsync().ConfigureAwait(false) is { } line) OnStdoutLine(line);
        }
        finally
        {
            OnStdoutClosed();
        }
    }

    private async Task PumpStderrAsync()
    {
        var reader = Process.StandardError;
        while (await reader.ReadLineAsync().ConfigureAwait(false) is { } line)
        {
            AddToStderrTail(line);
            OnStderrLine(line);
        }
    }
}
