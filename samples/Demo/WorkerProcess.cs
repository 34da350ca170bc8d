using System.Diagnostics;
using System.Globalization;
using System.Text;
using System.Text.Json;

namespace ClusterSharing.Demo;

/// <summary>The parent's view of one worker: its stdout lines, its pending requests, and a way to kill it.</summary>
internal sealed class WorkerProcess : IAsyncDisposable
{
    private readonly Process _process;
    private readonly List<JsonElement> _events = new();
    private readonly Dictionary<string, TaskCompletionSource<JsonElement>> _pending = new();
    private readonly StringBuilder _stderr = new();
    private readonly SemaphoreSlim _changed = new(0);
    private readonly Task _pump;
    private int _nextId;

    private WorkerProcess(Process process, int index)
    {
        _process = process;
        Index = index;
        Pid = process.Id;
        _pump = Task.Run(PumpAsync);
        _ = Task.Run(async () =>
        {
            while (await process.StandardError.ReadLineAsync() is { } line)
                lock (_stderr) if (_stderr.Length < 64 * 1024) _stderr.AppendLine(line);
        });
    }

    public int Index { get; }
    public int Pid { get; }
    public bool Killed { get; private set; }

    public string Stderr
    {
        get { lock (_stderr) return _stderr.ToString(); }
    }

    /// <summary>Starts <c>this program worker --port P --index I</c>, as an apphost or through <c>dotnet Demo.dll</c>.</summary>
    public static WorkerProcess Start(int port, int index)
    {
        string self = Environment.ProcessPath ?? throw new InvalidOperationException("Cannot tell which executable is running (Environment.ProcessPath is null).");
        var info = new ProcessStartInfo(self)
        {
            RedirectStandardInput = true,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
            StandardOutputEncoding = Encoding.UTF8,
        };
        if (Path.GetFileNameWithoutExtension(self).Equals("dotnet", StringComparison.OrdinalIgnoreCase))
            info.ArgumentList.Add(typeof(WorkerProcess).Assembly.Location);
        info.ArgumentList.Add("worker");
        info.ArgumentList.Add("--port");
        info.ArgumentList.Add(port.ToString(CultureInfo.InvariantCulture));
        info.ArgumentList.Add("--index");
        info.ArgumentList.Add(index.ToString(CultureInfo.InvariantCulture));
        info.Environment.Remove(ClusterClientOptions.SingleModeEnvironmentVariable);
        var process = Process.Start(info) ?? throw new InvalidOperationException("Could not start a worker process.");
        return new WorkerProcess(process, index);
    }

    public async Task<JsonElement> RequestAsync(string command, CancellationToken cancellationToken)
    {
        string id = Interlocked.Increment(ref _nextId).ToString(CultureInfo.InvariantCulture);
        var reply = new TaskCompletionSource<JsonElement>(TaskCreationOptions.RunContinuationsAsynchronously);
        lock (_pending) _pending[id] = reply;
        await _process.StandardInput.WriteLineAsync($"{id} {command}".AsMemory(), cancellationToken);
        await _process.StandardInput.FlushAsync(cancellationToken);
        var line = await reply.Task.WaitAsync(cancellationToken);
        if (!line.GetProperty("ok").GetBoolean())
            throw new InvalidOperationException($"worker {Index} failed '{command}': {line.GetProperty("error").GetString()}: {line.GetProperty("message").GetString()}");
        return line.GetProperty("value");
    }

    public async Task<JsonElement> WaitForEventAsync(Func<JsonElement, bool> predicate, CancellationToken cancellationToken)
    {
        int next = 0;
        while (true)
        {
            JsonElement[] fresh;
            lock (_events) fresh = _events.Skip(next).ToArray();
            foreach (var e in fresh)
            {
                next++;
                if (predicate(e)) return e;
            }
            if (_pump.IsCompleted && fresh.Length == 0)
                throw new InvalidOperationException($"worker {Index} (pid {Pid}) exited. Its stderr:\n{Stderr}");
            await _changed.WaitAsync(TimeSpan.FromMilliseconds(200), cancellationToken);
        }
    }

    public IReadOnlyList<JsonElement> Events(string name)
    {
        lock (_events)
            return _events.Where(e => e.GetProperty("event").ValueEquals(name)).ToArray();
    }

    /// <summary>SIGKILL: the leader gets no chance to hand over, like a crash.</summary>
    public void Kill()
    {
        Killed = true;
        // The process alone (a worker starts no children): a tree kill first walks the machine's processes looking
        // for children, and on a busy machine the SIGKILL then lands late.
        try { _process.Kill(); }
        catch (InvalidOperationException) { }
    }

    public async Task WaitForExitAsync(CancellationToken cancellationToken) => await _process.WaitForExitAsync(cancellationToken);

    /// <summary>Closes stdin (the worker's cue to leave), kills it if it lingers, and releases it.</summary>
    public async ValueTask DisposeAsync()
    {
        try { _process.StandardInput.Close(); } catch (IOException) { }
        if (!await ExitsWithinAsync(TimeSpan.FromSeconds(2))) Kill();
        await ExitsWithinAsync(TimeSpan.FromSeconds(5));
        _process.Dispose();
    }

    private async Task<bool> ExitsWithinAsync(TimeSpan timeout)
    {
        using var cts = new CancellationTokenSource(timeout);
        try
        {
            await _process.WaitForExitAsync(cts.Token);
            return true;
        }
        catch (OperationCanceledException)
        {
            return false;
        }
    }

    private async Task PumpAsync()
    {
        while (await _process.StandardOutput.ReadLineAsync() is { } text)
        {
            JsonElement line;
            try
            {
                using var doc = JsonDocument.Parse(text);
                line = doc.RootElement.Clone();
            }
            catch (JsonException)
            {
                lock (_stderr) _stderr.AppendLine(text);
                continue;
            }
            if (line.TryGetProperty("id", out var id))
            {
                TaskCompletionSource<JsonElement>? reply;
                lock (_pending) _pending.Remove(id.GetString()!, out reply);
                reply?.TrySetResult(line);
            }
            else
            {
                lock (_events) _events.Add(line);
            }
            _changed.Release();
        }
        lock (_pending)
        {
            foreach (var reply in _pending.Values)
                reply.TrySetException(new InvalidOperationException($"worker {Index} (pid {Pid}) exited before replying."));
            _pending.Clear();
        }
        _changed.Release();
    }
}
