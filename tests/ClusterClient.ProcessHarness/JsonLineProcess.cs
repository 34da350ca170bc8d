using System.Globalization;
using System.Text;
using System.Text.Json;

namespace ClusterSharing.ProcessHarness;

/// <summary>
/// The parent side of the JSON line protocol (the child writes with <see cref="StdoutLines"/>): every stdout line is
/// one JSON object. Requests go out as <c>"&lt;id&gt; &lt;command&gt;"</c> and a line carrying that <c>"id"</c> completes
/// them; events are kept in <see cref="Lines"/> for <see cref="WaitForAsync"/> (unless the subclass keeps its own
/// state from <see cref="OnLine"/> instead).
/// </summary>
public abstract class JsonLineProcess : ChildProcess
{
    /// <summary>Default wait for anything expected from a child; generous because the cores are shared.</summary>
    public static readonly TimeSpan DefaultTimeout = TimeSpan.FromSeconds(45);

    private readonly bool _retainLines;
    private readonly List<JsonElement> _lines = new();
    private readonly Dictionary<long, TaskCompletionSource<JsonElement>> _pending = new();
    private readonly SemaphoreSlim _changed = new(0);
    private long _nextId;

    /// <param name="label">Name for messages, for example "worker 2".</param>
    /// <param name="retainLines">
    /// False for long runs whose subclass folds each line into its own state in <see cref="OnLine"/>: then
    /// <see cref="Lines"/> stays empty and memory stays flat.
    /// </param>
    protected JsonLineProcess(string label, bool retainLines = true)
        : base(label) => _retainLines = retainLines;

    /// <summary>Every JSON line received so far (empty when lines are not retained).</summary>
    public IReadOnlyList<JsonElement> Lines
    {
        get { lock (_lines) return _lines.ToArray(); }
    }

    /// <summary>How many lines arrived so far; pass it as <c>from</c> to wait only for later ones.</summary>
    public int LineCount
    {
        get { lock (_lines) return _lines.Count; }
    }

    /// <summary>Every event line with this name received so far.</summary>
    public IReadOnlyList<JsonElement> Events(string name) => Lines.Where(l => IsEvent(l, name)).ToArray();

    /// <summary>True when <paramref name="line"/> is <c>{"event":name,...}</c>.</summary>
    public static bool IsEvent(JsonElement line, string name) =>
        line.ValueKind == JsonValueKind.Object && line.TryGetProperty("event", out var e) && e.ValueEquals(name);

    /// <summary>One parsed line, on the pump's thread, before it is kept and before a waiting request completes.</summary>
    protected virtual void OnLine(JsonElement line)
    {
    }

    /// <summary>Sends a command ("echo hi") with a fresh correlation id and waits for its reply.</summary>
    public async Task<JsonElement> RequestAsync(string command, TimeSpan? timeout = null)
    {
        var (_, reply) = await SendAsync(command).ConfigureAwait(false);
        var limit = timeout ?? DefaultTimeout;
        if (await Task.WhenAny(reply, Task.Delay(limit)).ConfigureAwait(false) != reply)
            throw new TimeoutException($"{Label} (pid {Pid}) did not reply to '{command}' within {limit.TotalSeconds:0} s.\n{Describe()}");
        return await reply.ConfigureAwait(false);
    }

    /// <summary>Sends a command and returns its id and a task of its reply, without waiting for the reply.</summary>
    public async Task<(long Id, Task<JsonElement> Reply)> SendAsync(string command)
    {
        long id = Interlocked.Increment(ref _nextId);
        var reply = new TaskCompletionSource<JsonElement>(TaskCreationOptions.RunContinuationsAsynchronously);
        lock (_pending) _pending[id] = reply;
        await SendLineAsync(id.ToString(CultureInfo.InvariantCulture) + " " + command).ConfigureAwait(false);
        return (id, reply.Task);
    }

    /// <summary>Waits until a received line matches (lines received before the call count too, from index <paramref name="from"/>).</summary>
    public async Task<JsonElement> WaitForAsync(Func<JsonElement, bool> predicate, string what, TimeSpan? timeout = null, int from = 0)
    {
        var limit = timeout ?? DefaultTimeout;
        var deadline = DateTime.UtcNow + limit;
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
                throw new TimeoutException($"{Label} (pid {Pid}) did not report {what} within {limit.TotalSeconds:0} s.\n{Describe()}");
            if (StdoutClosed && next >= LineCount)
                throw new InvalidOperationException($"{Label} (pid {Pid}) ended without reporting {what}.\n{Describe()}");
            await _changed.WaitAsync(left < TimeSpan.FromMilliseconds(200) ? left : TimeSpan.FromMilliseconds(200)).ConfigureAwait(false);
        }
    }

    /// <summary>Waits for an event line (<c>{"event":name,...}</c>) that also satisfies <paramref name="predicate"/>.</summary>
    public Task<JsonElement> WaitForEventAsync(string name, Func<JsonElement, bool>? predicate = null, TimeSpan? timeout = null, int from = 0) =>
        WaitForAsync(l => IsEvent(l, name) && (predicate is null || predicate(l)), $"event '{name}'", timeout, from);

    /// <summary>The last lines of stdout and stderr, for failure messages.</summary>
    public string Describe()
    {
        var sb = new StringBuilder();
        sb.Append("--- ").Append(Label).Append(" (pid ").Append(Pid).Append(") stdout, last lines:\n");
        foreach (var line in Lines.TakeLast(40)) sb.Append(line.GetRawText()).Append('\n');
        string err = StderrTail(maxLines: 200);
        if (err.Length > 0) sb.Append("--- stderr (last 4000 chars):\n").Append(err.Length > 4000 ? err[^4000..] : err).Append('\n');
        return sb.ToString();
    }

    /// <inheritdoc/>
    protected sealed override void OnStdoutLine(string text)
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
            AddToStderrTail("[stdout, not JSON] " + text);
            return;
        }
        OnLine(line);
        if (_retainLines)
        {
            lock (_lines) _lines.Add(line);
        }
        if (line.ValueKind == JsonValueKind.Object && line.TryGetProperty("id", out var idElement) && idElement.TryGetInt64(out long id))
        {
            TaskCompletionSource<JsonElement>? reply;
            lock (_pending) _pending.Remove(id, out reply);
            reply?.TrySetResult(line);
        }
        _changed.Release();
    }

    /// <inheritdoc/>
    protected sealed override void OnStdoutClosed()
    {
        // The process ended: nothing else will answer.
        lock (_pending)
        {
            foreach (var reply in _pending.Values)
                reply.TrySetException(new InvalidOperationException($"{Label} (pid {Pid}) ended before replying.\n{Describe()}"));
            _pending.Clear();
        }
        _changed.Release();
    }
}
