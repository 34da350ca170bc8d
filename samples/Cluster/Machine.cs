using System.Diagnostics;
using System.Globalization;
using System.Threading.Channels;

namespace ClusterSharing.Samples.Cluster;

/// <summary>The parent's handle on one worker process (one "machine"): its output lines, one at a time, and SIGKILL.</summary>
internal sealed class Machine : IAsyncDisposable
{
    private readonly Process _process;
    private readonly Channel<string> _lines = Channel.CreateUnbounded<string>();

    private Machine(string address, Process process)
    {
        Address = address;
        _process = process;
        Pid = process.Id;
        _ = Task.Run(async () =>
        {
            while (await process.StandardOutput.ReadLineAsync() is { } line) _lines.Writer.TryWrite(line);
            _lines.Writer.TryComplete();
        });
        _ = Task.Run(async () =>
        {
            while (await process.StandardError.ReadLineAsync() is { } line) Console.Error.WriteLine($"[{address}] {line}");
        });
    }

    public string Address { get; }

    public int Pid { get; }

    /// <summary>Starts this program as <c>worker ADDRESS PORT ENGINE ENGINE_ADDRESS</c> with the secret in its environment.</summary>
    public static Machine Start(string address, int port, string engine, string engineAddress, string secret)
    {
        string self = Environment.ProcessPath ?? throw new InvalidOperationException("Cannot tell which executable is running.");
        var info = new ProcessStartInfo(self)
        {
            RedirectStandardInput = true,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        if (Path.GetFileNameWithoutExtension(self).Equals("dotnet", StringComparison.OrdinalIgnoreCase))
            info.ArgumentList.Add(typeof(Machine).Assembly.Location);
        foreach (string arg in new[] { "worker", address, port.ToString(CultureInfo.InvariantCulture), engine, engineAddress }) info.ArgumentList.Add(arg);
        info.Environment[Worker.SecretVariable] = secret;
        var process = Process.Start(info) ?? throw new InvalidOperationException("Could not start a worker process.");
        return new Machine(address, process);
    }

    /// <summary>The next line starting with one of <paramref name="prefixes"/>, skipping others.</summary>
    public async Task<string[]> NextAsync(CancellationToken cancellationToken, params string[] prefixes)
    {
        while (true)
        {
            if (!await _lines.Reader.WaitToReadAsync(cancellationToken))
                throw new InvalidOperationException($"The worker on {Address} (pid {Pid}) exited.");
            while (_lines.Reader.TryRead(out string? line))
            {
                string[] words = line.Split(' ');
                if (words[0] == "failed") throw new InvalidOperationException($"The worker on {Address} failed: {line[7..]}");
                if (prefixes.Contains(words[0])) return words;
            }
        }
    }

    /// <summary>Asks the worker to invoke the shared client; its answer is the next "answer" (or "error") line.</summary>
    public async Task<string[]> InvokeAsync(CancellationToken cancellationToken)
    {
        await _process.StandardInput.WriteLineAsync("invoke".AsMemory(), cancellationToken);
        await _process.StandardInput.FlushAsync(cancellationToken);
        return await NextAsync(cancellationToken, "answer", "error");
    }

    /// <summary>SIGKILL, like a crash: no goodbye, no resign; the others wait for its lease (etcd) or key (Redis) to expire.</summary>
    public void Kill()
    {
        try { _process.Kill(); }
        catch (InvalidOperationException) { }
    }

    public Task WaitForExitAsync(CancellationToken cancellationToken) => _process.WaitForExitAsync(cancellationToken);

    /// <summary>Closes stdin (the worker's cue to leave), kills it if it lingers.</summary>
    public async ValueTask DisposeAsync()
    {
        try { _process.StandardInput.Close(); } catch (IOException) { }
        using var grace = new CancellationTokenSource(TimeSpan.FromSeconds(5));
        try { await _process.WaitForExitAsync(grace.Token); }
        catch (OperationCanceledException) { Kill(); }
        _process.Dispose();
    }
}
