using ClusterSharing.ProcessHarness;

namespace ClusterSharing.IntegrationTests;

/// <summary>
/// One ClusterClient.TestHost worker process, driven over the JSON line protocol (see <see cref="JsonLineProcess"/>).
/// Disposing closes its stdin and kills whatever is left, so no test leaves a worker behind.
/// </summary>
public sealed class HostProcess : JsonLineProcess
{
    private HostProcess(string label)
        : base(label)
    {
    }

    /// <summary>Path of the TestHost dll copied next to this assembly by the project's CopyChildToolOutput target.</summary>
    public static string TestHostPath => ChildTools.PathOf("testhost", "ClusterClient.TestHost.dll");

    /// <summary>Starts a worker with <c>dotnet ClusterClient.TestHost.dll</c> and the given arguments.</summary>
    public static HostProcess Start(string label, params string[] arguments) => Start(label, environment: null, arguments);

    /// <summary>Starts a worker with extra environment variables (a null value removes the variable).</summary>
    public static HostProcess Start(string label, IReadOnlyDictionary<string, string?>? environment, params string[] arguments)
    {
        var host = new HostProcess(label);
        var info = ProcessCommand.ForDll(TestHostPath, arguments);
        foreach (var (name, value) in environment ?? new Dictionary<string, string?>())
        {
            if (value is null) info.Environment.Remove(name);
            else info.Environment[name] = value;
        }
        host.Launch(info);
        return host;
    }

    /// <summary>Lines of its log (stderr with <c>--log</c>) at level Warning so far.</summary>
    public int WarningLines => Volatile.Read(ref _warningLines);

    private int _warningLines;

    /// <summary>Lines of its log (with <c>--log</c>) saying that a deposed leader refused a call (event 4008) so far.</summary>
    public int FencingRefusalLines => Volatile.Read(ref _fencingRefusalLines);

    private int _fencingRefusalLines;

    /// <inheritdoc/>
    protected override void OnStderrLine(string line)
    {
        base.OnStderrLine(line);
        if (line.Contains(" Warning ", StringComparison.Ordinal)) Interlocked.Increment(ref _warningLines);
        if (line.Contains("it was refused, not run", StringComparison.Ordinal)) Interlocked.Increment(ref _fencingRefusalLines);
    }

    /// <summary>A port nobody listens on right now.</summary>
    public static int FreePort() => LoopbackPort.Free();

    /// <summary>Waits for the process to end (after <see cref="ChildProcess.Kill"/> or an exit command).</summary>
    public async Task WaitForExitAsync(TimeSpan? timeout = null)
    {
        if (!await ExitsWithinAsync(timeout ?? DefaultTimeout).ConfigureAwait(false))
            throw new TimeoutException($"{Label} (pid {Pid}) did not exit.\n{Describe()}");
    }

    /// <inheritdoc/>
    protected override TimeSpan DisposeGrace => TimeSpan.FromSeconds(3);
}
