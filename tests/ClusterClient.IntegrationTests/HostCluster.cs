using System.Globalization;
using System.Text.Json;

namespace ClusterSharing.IntegrationTests;

/// <summary>Worker processes sharing one free port. Disposing it kills every worker it started.</summary>
public sealed class HostCluster : IAsyncDisposable
{
    private readonly List<HostProcess> _hosts = new();
    private readonly string[] _commonArguments;

    /// <param name="commonArguments">Flags every worker gets, after <c>--port</c>.</param>
    public HostCluster(params string[] commonArguments)
        : this(HostProcess.FreePort(), commonArguments)
    {
    }

    private HostCluster(int port, string[] commonArguments)
    {
        Port = port;
        _commonArguments = commonArguments;
    }

    /// <summary>Workers on a given port (one another test's process already holds in part, e.g. its UDP side).</summary>
    public static HostCluster AtPort(int port, params string[] commonArguments) => new(port, commonArguments);

    /// <summary>The port the workers compete for.</summary>
    public int Port { get; }

    /// <summary>Every worker started, killed or not.</summary>
    public IReadOnlyList<HostProcess> Hosts
    {
        get { lock (_hosts) return _hosts.ToArray(); }
    }

    /// <summary>Starts one worker with the common flags plus <paramref name="extraArguments"/>.</summary>
    public HostProcess Start(params string[] extraArguments)
    {
        var arguments = new List<string> { "--port", Port.ToString(CultureInfo.InvariantCulture) };
        arguments.AddRange(_commonArguments);
        arguments.AddRange(extraArguments);
        lock (_hosts)
        {
            var host = HostProcess.Start($"worker {_hosts.Count + 1}", arguments.ToArray());
            _hosts.Add(host);
            return host;
        }
    }

    /// <summary>Starts <paramref name="count"/> workers at once (they race for the port) and waits until each is ready.</summary>
    public async Task<(HostProcess Leader, HostProcess[] Followers)> StartReadyAsync(int count, params string[] extraArguments)
    {
        var hosts = Enumerable.Range(0, count).Select(_ => Start(extraArguments)).ToArray();
        var ready = await Task.WhenAll(hosts.Select(h => WaitReadyAsync(h))).ConfigureAwait(false);
        var leaders = hosts.Where((_, i) => ready[i].GetProperty("leader").GetBoolean()).ToArray();
        Assert.True(leaders.Length == 1, $"Expected exactly one leader among {count} workers, saw {leaders.Length}.\n{DescribeAll()}");
        return (leaders[0], hosts.Where(h => h != leaders[0]).ToArray());
    }

    /// <summary>Waits for the worker's "ready" event; fails with its output if it reported "ready-failed" instead.</summary>
    public static async Task<JsonElement> WaitReadyAsync(HostProcess host)
    {
        var line = await WaitReadyOutcomeAsync(host).ConfigureAwait(false);
        Assert.True(HostProcess.IsEvent(line, "ready"), $"{host.Label} did not get ready: {line.GetRawText()}\n{host.Describe()}");
        return line;
    }

    /// <summary>Waits for the worker's "ready-failed" event; fails at once if it got ready instead.</summary>
    public static async Task<JsonElement> WaitReadyFailedAsync(HostProcess host)
    {
        var line = await WaitReadyOutcomeAsync(host).ConfigureAwait(false);
        Assert.True(HostProcess.IsEvent(line, "ready-failed"), $"{host.Label} was expected to fail to get ready: {line.GetRawText()}\n{host.Describe()}");
        return line;
    }

    private static Task<JsonElement> WaitReadyOutcomeAsync(HostProcess host) => host.WaitForAsync(
        l => HostProcess.IsEvent(l, "ready") || HostProcess.IsEvent(l, "ready-failed") || HostProcess.IsEvent(l, "create-failed"),
        "ready or ready-failed");

    /// <summary>Output of every worker, for failure messages.</summary>
    public string DescribeAll() => string.Join("\n", Hosts.Select(h => h.Describe()));

    /// <inheritdoc/>
    public async ValueTask DisposeAsync()
    {
        await Task.WhenAll(Hosts.Select(h => h.DisposeAsync().AsTask())).ConfigureAwait(false);
    }
}
