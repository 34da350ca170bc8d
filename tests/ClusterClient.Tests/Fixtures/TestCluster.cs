using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using ClusterSharing.Node;

namespace ClusterSharing.Tests.Fixtures;

/// <summary>Independent in-process nodes on one free loopback port, disposed with the test.</summary>
internal sealed class TestCluster : IAsyncDisposable
{
    private readonly List<ClusterNode> _nodes = new();
    private readonly List<IAsyncDisposable> _handles = new();

    public TestCluster() => Port = FreePort();

    public int Port { get; }

    /// <summary>A lease directory of this cluster alone, so epochs start at 1 whatever ran on the port before.</summary>
    public string StateDirectory { get; } = Directory.CreateTempSubdirectory("cc-test-").FullName;

    public static int FreePort()
    {
        var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        int port = ((IPEndPoint)listener.LocalEndpoint).Port;
        listener.Stop();
        return port;
    }

    public ClusterClientOptions Options(Action<ClusterClientOptions>? configure = null)
    {
        var options = new ClusterClientOptions
        {
            Port = Port,
            SingleMode = false,
            MaxWaitTime = TimeSpan.FromSeconds(20),
            ConnectTimeout = TimeSpan.FromSeconds(5),
            ResponseTimeout = TimeSpan.FromSeconds(20),
            // Generous: the test machine is shared and busy; a false death would fail unrelated assertions.
            HeartbeatInterval = TimeSpan.FromSeconds(1),
            StateDirectory = StateDirectory,
        };
        configure?.Invoke(options);
        return options;
    }

    /// <summary>A new node (as if in another process) with one calculator handle on it.</summary>
    public (ClusterNode Node, ClusterClient<ICalculator> Client) Start(Func<ICalculator>? factory = null, Action<ClusterClientOptions>? configure = null)
    {
        var options = Options(configure);
        var node = new ClusterNode(options);
        _nodes.Add(node);
        var client = ClusterClient<ICalculator>.Open(node, CalculatorContract.Instance, factory ?? (() => new Calculator()), options, ownsNodeReference: false);
        _handles.Add(client);
        return (node, client);
    }

    /// <summary>A new node with one calculator handle whose real client comes from an asynchronous factory.</summary>
    public (ClusterNode Node, ClusterClient<ICalculator> Client) Start(Func<CancellationToken, ValueTask<ICalculator>> factory, Action<ClusterClientOptions>? configure = null)
    {
        var options = Options(configure);
        var node = new ClusterNode(options);
        _nodes.Add(node);
        var client = ClusterClient<ICalculator>.Open(node, CalculatorContract.Instance, factory, options, ownsNodeReference: false);
        _handles.Add(client);
        return (node, client);
    }

    /// <summary>A new node (as if in another process) with one handle of another contract on it.</summary>
    public (ClusterNode Node, ClusterClient<T> Client) Start<T>(ClusterSharing.Proxies.ClusterContract<T> contract, Func<T> factory,
        Action<ClusterClientOptions>? configure = null) where T : class
    {
        var options = Options(configure);
        var node = new ClusterNode(options);
        _nodes.Add(node);
        var client = ClusterClient<T>.Open(node, contract, factory, options, ownsNodeReference: false);
        _handles.Add(client);
        return (node, client);
    }

    public ClusterClient<ICalculator> OpenAnother(ClusterNode node, Func<ICalculator>? factory = null, Action<ClusterClientOptions>? configure = null)
    {
        var options = Options(configure);
        var client = ClusterClient<ICalculator>.Open(node, CalculatorContract.Instance, factory ?? (() => new Calculator()), options, ownsNodeReference: false);
        _handles.Add(client);
        return client;
    }

    public static async Task WaitUntilAsync(Func<bool> condition, string what, int timeoutMs = 20_000)
    {
        var watch = Stopwatch.StartNew();
        while (!condition())
        {
            if (watch.ElapsedMilliseconds > timeoutMs) throw new TimeoutException($"Timed out waiting for {what}.");
            await Task.Delay(10);
        }
    }

    public async ValueTask DisposeAsync()
    {
        foreach (var handle in _handles) await handle.DisposeAsync();
        foreach (var node in _nodes) await node.DisposeAsync();
        try
        {
            Directory.Delete(StateDirectory, recursive: true);
        }
        catch (IOException)
        {
            // A node of another test still maps the lease; the temp directory is cleaned by the system.
        }
    }
}
