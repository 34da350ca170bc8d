using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Sockets;
using System.Text;
using System.Text.Json;

namespace ClusterSharing.IntegrationTests;

/// <summary>
/// One ClusterClient.TestHost worker process. Reads its stdout (one JSON object per line) in the background:
/// replies complete the matching <see cref="RequestAsync"/>, everything is kept in <see cref="Lines"/> for
/// <see cref="WaitForAsync"/>. Disposing kills the process tree, so no test leaves a worker behind.
/// </summary>
public sealed class HostProcess : IAsyncDisposable
{
    /// <summary>Default wait for anything a test expects to see; generous because two cores are shared.</summary>
    public static readonly TimeSpan DefaultTimeout = TimeSpan.FromSeconds(45);

    private readonly Process _process;
    private readonly List<JsonElement> _lines = new();
    private readonly StringBuilder _stderr = new();
    private readonly Dictionary<long, TaskCompletionSource<JsonElement>> _pending = new();
    private readonly SemaphoreSlim _changed = new(0);
    private readonly Task _stdoutPump;
    private readonly Task _stderrPump;
    private readonly SemaphoreSlim _stdinGate = new(1, 1);
    private long _nextId;
    private int _disposed;

    private HostProcess(Process process, string label)
    {
        _process = process;
        Label = label;
        Pid = process.Id;
        _stdoutPump = Task.Run(PumpStdoutAsync);
        _stderrPump = Task.Run(PumpStderrAsync);
    }

    /// <summary>Name for messages (for example "worker 2").</summary>
    public string Label { get; }

    /// <summary>The worker's process id.</summary>
    public int Pid { get; }

    /// <summary>True once the process has ended.</summary>
    public bool HasExited => _process.HasExited;

    /// <summary>Every JSON line received so far.</summary>
    public IReadOnlyList<JsonElement> Lines
    {
        get { lock (_lines) return _lines.ToArray(); }
    }

    /// <summary>Path of the TestHost dll copied next to this assembly by the project's CopyTestHostOutput target.</summary>
    public static string TestHostPath
    {
        get
        {
            string path = Path.Combine(AppContext.BaseDirectory, "testhost", "ClusterClient.TestHost.dll");
            if (!File.Exists(path))
                throw new FileNotFoundException($"The TestHost was not found at {path}. Build tests/ClusterClient.IntegrationTests (its CopyTestHostOutput target copies the TestHost there).", path);
            return path;
        }
    }

    /// <summary>Starts a worker with <c>dotnet ClusterClient.TestHost.dll</c> and the given arguments.</summary>
    /// <summary>
    /// How the tests start any of their .NET processes (<c>dotnet dll args</c>, output redirected as UTF-8), with the
    /// ClusterClient environment variables of the test run removed so no worker picks up a port, single mode or secret.
    /// </summary>
    public static ProcessStartInfo DotnetStartInfo(string dll, IEnumerable<string> arguments, bool redirectInput)
    {
        var info = new ProcessStartInfo(DotnetHost())
        {
            RedirectStandardInput = redirectInput,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
            StandardOutputEncoding = Encoding.UTF8,
            StandardErrorEncoding = Encoding.UTF8,
        };
        info.ArgumentList.Add(dll);
        foreach (var argument in arguments) info.ArgumentList.Add(argument);
        info.Environment.Remove("CLUSTER_CLIENT_PORT");
        info.Environment.Remove("CLUSTER_CLIENT_SINGLE_MODE");
        info.Environment.Remove("CLUSTER_CLIENT_SECRET");
        return info;
    }

    public static HostProcess Start(string label, params string[] arguments) => Start(label, environment: null, arguments);

    /// <summary>Starts a worker with extra environment variables (a null value removes the variable).</summary>
    public static HostProcess Start(string label, IReadOnlyDictionary<string, string?>? environment, params string[] arguments)
    {
        var info = DotnetStartInfo(TestHostPath, arguments, redirectInput: true);
        foreach (var (name, value) in environment ?? new Dictionary<string, string?>())
        {
            if (value is null) info.Environment.Remove(name);
            else info.Environment[name] = value;
        }
        var process = Process.Start(info) ?? throw new InvalidOperationException("Process.Start returned null for the TestHost.");
        return new HostProcess(process, label);
    }

    /// <summary>A port nobody listens on right now (bind port 0, read it, release it).</summary>
    public static int FreePort()
    {
        var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        int port = ((IPEndPoint)listener.LocalEndpoint).Port;
        listener.Stop();
        return port;
    }

    /// <summary>Sends a command ("echo hi") with a fresh correlation id and waits for its reply.</summary>
    public async Task<JsonElement> RequestAsync(string command, TimeSpan? timeout = null)
    {
        var (_, reply) = await SendAsync(command).ConfigureAwait(false);
        return await WithTimeout(reply, timeout ?? DefaultTimeout, $"the reply to '{command}'").ConfigureAwait(false);
    }

    /// <summary>Sends a command and returns its id and a task of its reply, without waiting for the reply.</summary>
    public async Task<(long Id, Task<JsonElement> Reply)> SendAsync(string command)
    {
        long id = Interlocked.Increment(ref _nextId);
        var reply = new TaskCompletionSource<JsonElement>(TaskCreationOptions.RunContinuationsAsynchronously);
        lock (_pending) _pending[id] = reply;
        await _stdinGate.WaitAsync().ConfigureAwait(false);
        try
        {
            await _process.StandardInput.WriteLineAsync(id.ToString(CultureInfo.InvariantCulture) + " " + command).ConfigureAwait(false);
            await _process.StandardInput.FlushAsync().ConfigureAwait(false);
        }
        finally
        {
            _stdinGate.Release();
        }
        return (id, reply.Task);
    }

    /// <summary>Waits until a received line matches (lines received before the call count too, from index <paramref name="from"/>).</summary>
    public async Task<JsonElement> WaitForAsync(Func<JsonElement, bool> predicate, string what, TimeSpan? timeout = null, int from = 0)
    {
        var deadline = DateTime.UtcNow + (timeout ?? DefaultTimeout);
        int next = from;
        while (true)
        {
            JsonElement[] snapshot;
            lock (_lines) snapshot = _lines.Skip(next).ToArray();
            foreach (var line in snapshot)
            {
                next++;
                if (predicate(line)) return line;
            }
            var left = deadline - DateTime.UtcNow;
            if (left <= TimeSpan.Zero)
                throw new TimeoutException($"{Label} (pid {Pid}) did not report {what} within {(timeout ?? DefaultTimeout).TotalSeconds:0} s.\n{Describe()}");
            if (_stdoutPump.IsCompleted && next >= LineCount)
                throw new InvalidOperationException($"{Label} (pid {Pid}) ended without reporting {what}.\n{Describe()}");
            await _changed.WaitAsync(left < TimeSpan.FromMilliseconds(200) ? left : TimeSpan.FromMilliseconds(200)).ConfigureAwait(false);
        }
    }

    /// <summary>Waits for an event line (<c>{"event":name,...}</c>) that also satisfies <paramref name="predicate"/>.</summary>
    public Task<JsonElement> WaitForEventAsync(string name, Func<JsonElement, bool>? predicate = null, TimeSpan? timeout = null, int from = 0) =>
        WaitForAsync(l => IsEvent(l, name) && (predicate is null || predicate(l)), $"event '{name}'", timeout, from);

    /// <summary>How many lines arrived so far; pass it as <c>from</c> to wait only for later ones.</summary>
    public int LineCount
    {
        get { lock (_lines) return _lines.Count; }
    }

    /// <summary>Every event line with this name received so far.</summary>
    public IReadOnlyList<JsonElement> Events(string name) => Lines.Where(l => IsEvent(l, name)).ToArray();

    /// <summary>SIGKILL on Linux: the process gets no chance to say goodbye, like a crash or the OOM killer.</summary>
    public void Kill()
    {
        try
        {
            _process.Kill(entireProcessTree: true);
        }
        catch (InvalidOperationException)
        {
            // Already exited.
        }
    }

    /// <summary>Waits for the process to end (after <see cref="Kill"/> or an exit command).</summary>
    public async Task WaitForExitAsync(TimeSpan? timeout = null)
    {
        using var cts = new CancellationTokenSource(timeout ?? DefaultTimeout);
        try
        {
            await _process.WaitForExitAsync(cts.Token).ConfigureAwait(false);
        }
        catch (OperationCanceledException)
        {
            throw new TimeoutException($"{Label} (pid {Pid}) did not exit.\n{Describe()}");
        }
    }

    /// <summary>Everything the worker wrote to stderr (its log with <c>--log</c>), the last 128-256 KiB of it.</summary>
    public string StandardErrorText
    {
        get { lock (_stderr) return _stderr.ToString(); }
    }

    /// <summary>The last lines of stdout and stderr, for failure messages.</summary>
    public string Describe()
    {
        var sb = new StringBuilder();
        sb.Append("--- ").Append(Label).Append(" (pid ").Append(Pid).Append(") stdout, last lines:\n");
        foreach (var line in Lines.TakeLast(40)) sb.Append(line.GetRawText()).Append('\n');
        lock (_stderr)
        {
            string err = _stderr.ToString();
            if (err.Length > 0)
                sb.Append("--- stderr (last 4000 chars):\n").Append(err.Length > 4000 ? err[^4000..] : err).Append('\n');
        }
        return sb.ToString();
    }

    /// <summary>Closes stdin (the worker's signal to exit), then kills whatever is left and releases the process.</summary>
    public async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0) return;
        try
        {
            if (!_process.HasExited)
            {
                try { _process.StandardInput.Close(); } catch (IOException) { } catch (InvalidOperationException) { }
                using var grace = new CancellationTokenSource(TimeSpan.FromSeconds(3));
                try { await _process.WaitForExitAsync(grace.Token).ConfigureAwait(false); }
                catch (OperationCanceledException) { }
            }
        }
        finally
        {
            Kill();
            using var last = new CancellationTokenSource(TimeSpan.FromSeconds(10));
            try { await _process.WaitForExitAsync(last.Token).ConfigureAwait(false); }
            catch (OperationCanceledException) { }
            await Task.WhenAny(Task.WhenAll(_stdoutPump, _stderrPump), Task.Delay(TimeSpan.FromSeconds(5))).ConfigureAwait(false);
            _process.Dispose();
        }
    }

    /// <summary>True when <paramref name="line"/> is <c>{"event":name,...}</c>.</summary>
    public static bool IsEvent(JsonElement line, string name) =>
        line.ValueKind == JsonValueKind.Object && line.TryGetProperty("event", out var e) && e.ValueEquals(name);

    private async Task PumpStdoutAsync()
    {
        var reader = _process.StandardOutput;
        while (await reader.ReadLineAsync().ConfigureAwait(false) is { } text)
        {
            JsonElement line;
            try
            {
                using var doc = JsonDocument.Parse(text);
                line = doc.RootElement.Clone();
            }
            catch (JsonException)
            {
                // Not ours (a stray Console.WriteLine); keep it visible in failure messages.
                lock (_stderr) _stderr.Append("[stdout, not JSON] ").Append(text).Append('\n');
                continue;
            }
            lock (_lines) _lines.Add(line);
            if (line.TryGetProperty("id", out var idElement) && idElement.TryGetInt64(out long id))
            {
                TaskCompletionSource<JsonElement>? reply;
                lock (_pending) _pending.Remove(id, out reply);
                reply?.TrySetResult(line);
            }
            _changed.Release();
        }
        // The process ended: nothing else will answer.
        lock (_pending)
        {
            foreach (var reply in _pending.Values)
                reply.TrySetException(new InvalidOperationException($"{Label} (pid {Pid}) ended before replying.\n{Describe()}"));
            _pending.Clear();
        }
        _changed.Release();
    }

    private async Task PumpStderrAsync()
    {
        var buffer = new char[4096];
        int read;
        while ((read = await _process.StandardError.ReadAsync(buffer).ConfigureAwait(false)) > 0)
        {
            lock (_stderr)
            {
                _stderr.Append(buffer, 0, read);
                // Bounded: a chatty logger must not grow the test's memory without limit.
                if (_stderr.Length > 256 * 1024) _stderr.Remove(0, _stderr.Length - 128 * 1024);
            }
        }
    }

    private async Task<JsonElement> WithTimeout(Task<JsonElement> reply, TimeSpan timeout, string what)
    {
        if (await Task.WhenAny(reply, Task.Delay(timeout)).ConfigureAwait(false) != reply)
            throw new TimeoutException($"{Label} (pid {Pid}) did not send {what} within {timeout.TotalSeconds:0} s.\n{Describe()}");
        return await reply.ConfigureAwait(false);
    }

    private static string DotnetHost()
    {
        // The test runs under dotnet itself (testhost), so DOTNET_HOST_PATH or the muxer next to the runtime is the same SDK.
        string? host = Environment.GetEnvironmentVariable("DOTNET_HOST_PATH");
        if (!string.IsNullOrEmpty(host) && File.Exists(host)) return host;
        string? process = Environment.ProcessPath;
        if (process is not null && Path.GetFileNameWithoutExtension(process).Equals("dotnet", StringComparison.OrdinalIgnoreCase)) return process;
        return "dotnet";
    }
}
