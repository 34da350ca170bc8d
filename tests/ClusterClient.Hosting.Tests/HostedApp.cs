using System.Diagnostics;
using System.Text;

namespace ClusterSharing.Hosting.Tests;

/// <summary>
/// One ClusterClient.Hosting.TestApp process (a Generic Host app using AddClusterClient). Keeps its stdout lines for
/// <see cref="WaitForLineAsync"/>; disposing kills it if it is still running, so no test leaves a process behind.
/// </summary>
internal sealed class HostedApp : IAsyncDisposable
{
    public static readonly TimeSpan DefaultTimeout = TimeSpan.FromSeconds(60);

    private readonly Process _process;
    private readonly List<string> _lines = new();
    private readonly StringBuilder _stderr = new();

    private HostedApp(Process process, string label)
    {
        _process = process;
        Label = label;
        process.OutputDataReceived += (_, e) =>
        {
            if (e.Data is not null) lock (_lines) _lines.Add(e.Data);
        };
        process.ErrorDataReceived += (_, e) =>
        {
            if (e.Data is not null) lock (_stderr) _stderr.AppendLine(e.Data);
        };
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
    }

    public string Label { get; }

    public int Pid => _process.Id;

    public static HostedApp Start(string label, params string[] arguments)
    {
        string dll = Path.Combine(AppContext.BaseDirectory, "testapp", "ClusterClient.Hosting.TestApp.dll");
        if (!File.Exists(dll)) throw new FileNotFoundException($"The test app was not found at {dll}; build tests/ClusterClient.Hosting.Tests (its CopyTestAppOutput target copies it there).", dll);
        var info = new ProcessStartInfo(Environment.ProcessPath is { } host && Path.GetFileNameWithoutExtension(host) == "dotnet" ? host : "dotnet")
        {
            RedirectStandardInput = true,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
            StandardOutputEncoding = Encoding.UTF8,
            StandardErrorEncoding = Encoding.UTF8,
        };
        info.ArgumentList.Add(dll);
        foreach (var argument in arguments) info.ArgumentList.Add(argument);
        foreach (var name in new[] { "CLUSTER_CLIENT_PORT", "CLUSTER_CLIENT_SINGLE_MODE", "CLUSTER_CLIENT_SECRET" }) info.Environment.Remove(name);
        return new HostedApp(Process.Start(info) ?? throw new InvalidOperationException("Process.Start returned null."), label);
    }

    public string[] Lines
    {
        get { lock (_lines) return _lines.ToArray(); }
    }

    /// <summary>Waits for a stdout line (from index <paramref name="from"/>) matching <paramref name="predicate"/>; returns its index.</summary>
    public async Task<(int Index, string Line)> WaitForLineAsync(Func<string, bool> predicate, string what, int from = 0, TimeSpan? timeout = null)
    {
        var watch = Stopwatch.StartNew();
        var limit = timeout ?? DefaultTimeout;
        while (true)
        {
            var lines = Lines;
            for (int i = from; i < lines.Length; i++)
                if (predicate(lines[i])) return (i, lines[i]);
            if (watch.Elapsed > limit || _process.HasExited && Lines.Length == lines.Length)
                throw new TimeoutException($"{Label} (pid {Pid}) did not print {what} within {limit.TotalSeconds:0} s (exited: {_process.HasExited}).\nstdout:\n{string.Join('\n', lines)}\nstderr:\n{Stderr}");
            await Task.Delay(20);
        }
    }

    public string Stderr
    {
        get { lock (_stderr) return _stderr.ToString(); }
    }

    public async Task SendAsync(string line)
    {
        await _process.StandardInput.WriteLineAsync(line);
        await _process.StandardInput.FlushAsync();
    }

    /// <summary>Sends "call" and returns the pid the leader answered with.</summary>
    public async Task<int> CallAsync()
    {
        int from = Lines.Length;
        await SendAsync("call");
        var (_, line) = await WaitForLineAsync(l => l.StartsWith("call", StringComparison.Ordinal), "a call result", from);
        Assert.True(line.StartsWith("call ", StringComparison.Ordinal), $"{Label}: {line}");
        return int.Parse(line["call ".Length..], System.Globalization.CultureInfo.InvariantCulture);
    }

    public void Kill() => _process.Kill(entireProcessTree: true);

    /// <summary>Asks the app to stop its host and waits for it to exit; returns the exit code.</summary>
    public async Task<int> StopAsync()
    {
        await SendAsync("stop");
        using var timeout = new CancellationTokenSource(DefaultTimeout);
        await _process.WaitForExitAsync(timeout.Token);
        return _process.ExitCode;
    }

    public async ValueTask DisposeAsync()
    {
        try
        {
            if (!_process.HasExited)
            {
                _process.Kill(entireProcessTree: true);
                await _process.WaitForExitAsync();
            }
        }
        catch (InvalidOperationException)
        {
            // Never started or already reaped.
        }
        _process.Dispose();
    }
}
