using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using System.Threading.Tasks.Sources;
using BenchmarkDotNet.Attributes;
using ClusterSharing.Protocol;
using ClusterSharing.Proxies;
using ClusterSharing.Transport;

namespace ClusterSharing.Benchmarks;

/// <summary>The hot-path contract: one invoke with a primitive argument and result.</summary>
[ClusterDelegate]
public partial interface IBenchEcho
{
    /// <summary>Returns <paramref name="value"/>.</summary>
    ValueTask<long> EchoAsync(long value);
}

/// <summary>The real client; allocation-free itself so the figures are the runtime's.</summary>
public sealed class BenchEcho : IBenchEcho
{
    /// <inheritdoc/>
    public ValueTask<long> EchoAsync(long value) => new(value);
}

/// <summary>
/// Follower hot path: the generated proxy's call → request table → frame bytes on a real loopback socket → the reply
/// frame → the awaiting caller. The other end is a scripted leader (a bare <see cref="FrameConnection"/> that answers the
/// handshake, the registration and every invoke from its read loop without allocating), so the figures are the
/// follower's: <c>Allocated</c> is the follower runtime's bytes per invoke.
/// </summary>
[MemoryDiagnoser]
public class FollowerInvokeBenchmarks
{
    private const int Pipelined = 256;
    private ScriptedPeer? _leader;
    private ClusterClient<IBenchEcho>? _follower;
    private readonly ValueTask<long>[] _calls = new ValueTask<long>[Pipelined];

    /// <summary>Starts the scripted leader and a real follower node connected to it.</summary>
    [GlobalSetup]
    public void Setup()
    {
        _leader = ScriptedPeer.StartLeader();
        _follower = ClusterClient.Create<IBenchEcho>(() => throw new InvalidOperationException("a follower never builds the real client"), o =>
        {
            o.Port = _leader.Port;
            o.Role = ClusterRole.Follower;
            o.HeartbeatInterval = TimeSpan.FromSeconds(5);
            o.Security = ClusterSecurity.Open; // the scripted leader does not authenticate
        });
        _follower.ReadyAsync().GetAwaiter().GetResult();
    }

    /// <summary>One call at a time: the full round trip, latency-bound.</summary>
    [Benchmark]
    public ValueTask<long> SequentialInvoke() => _follower!.Client.EchoAsync(42);

    /// <summary>
    /// One call at a time, awaited by an async method as user code does (its continuation is the method's state
    /// machine, which the thread pool queues without a wrapper); 64 round trips per benchmark invocation so the method's
    /// own Task is amortised. <see cref="SequentialInvoke"/> is awaited by BenchmarkDotNet's blocking helper instead,
    /// whose delegate continuation the pool wraps (32 B).
    /// </summary>
    [Benchmark(OperationsPerInvoke = SequentialBatch)]
    public async Task<long> SequentialInvokeAwaited()
    {
        var client = _follower!.Client;
        long sum = 0;
        for (int i = 0; i < SequentialBatch; i++) sum += await client.EchoAsync(i);
        return sum;
    }

    private const int SequentialBatch = 64;

    /// <summary>256 calls in flight, then all awaited: per-call cost with batching.</summary>
    [Benchmark(OperationsPerInvoke = Pipelined)]
    public async Task<long> PipelinedInvoke()
    {
        var client = _follower!.Client;
        for (int i = 0; i < Pipelined; i++) _calls[i] = client.EchoAsync(i);
        long sum = 0;
        for (int i = 0; i < Pipelined; i++) sum += await _calls[i];
        return sum;
    }

    /// <summary>Closes both ends.</summary>
    [GlobalCleanup]
    public void Cleanup()
    {
        _follower?.DisposeAsync().AsTask().GetAwaiter().GetResult();
        _leader?.Dispose();
    }
}

/// <summary>
/// Leader hot path: an invoke frame read from the socket → channel and method lookup → generated dispatch onto the real
/// client → the reply frame written back. The other end is a scripted follower (a bare <see cref="FrameConnection"/>
/// that sends pre-encoded invokes and counts replies without allocating), so <c>Allocated</c> is the leader's bytes per call.
/// </summary>
[MemoryDiagnoser]
public class LeaderDispatchBenchmarks
{
    private const int Pipelined = 1000;
    private ClusterClient<IBenchEcho>? _leader;
    private ScriptedPeer? _follower;

    /// <summary>Starts a real leader node and a scripted follower registered with it.</summary>
    [GlobalSetup]
    public void Setup()
    {
        int port = ScriptedPeer.FreePort();
        _leader = ClusterClient.Create<IBenchEcho>(() => new BenchEcho(), o =>
        {
            o.Port = port;
            o.Role = ClusterRole.Leader;
            o.HeartbeatInterval = TimeSpan.FromSeconds(5);
            o.Security = ClusterSecurity.Open; // the scripted follower does not authenticate
        });
        _leader.ReadyAsync().GetAwaiter().GetResult();
        _follower = ScriptedPeer.StartFollower(port);
    }

    /// <summary>As <see cref="SequentialDispatch"/>, awaited 64 times by an async method (see <c>SequentialInvokeAwaited</c>).</summary>
    [Benchmark(OperationsPerInvoke = SequentialBatch)]
    public async Task SequentialDispatchAwaited()
    {
        for (int i = 0; i < SequentialBatch; i++) await _follower!.InvokeAsync(1);
    }

    private const int SequentialBatch = 64;

    /// <summary>One invoke frame, then wait for its reply.</summary>
    [Benchmark]
    public ValueTask SequentialDispatch() => _follower!.InvokeAsync(1);

    /// <summary>1000 invoke frames sent back to back, then wait for every reply.</summary>
    [Benchmark(OperationsPerInvoke = Pipelined)]
    public ValueTask PipelinedDispatch() => _follower!.InvokeAsync(Pipelined);

    /// <summary>Closes both ends.</summary>
    [GlobalCleanup]
    public void Cleanup()
    {
        _follower?.Dispose();
        _leader?.DisposeAsync().AsTask().GetAwaiter().GetResult();
    }
}

/// <summary>
/// One end of a ClusterClient connection scripted with the public protocol types: a leader that answers every invoke
/// with the same pre-encoded result, or a follower that sends pre-encoded invokes. Allocation-free once connected.
/// </summary>
internal sealed class ScriptedPeer : IDisposable, IValueTaskSource
{
    private const long Epoch = 1;
    // [42]: the argument array of EchoAsync(42); 42: its result.
    private static readonly byte[] Arguments = [0x91, 0x2a];
    private static readonly byte[] Result = [0x2a];

    private readonly Socket? _listener;
    private FrameConnection? _connection;
    private ManualResetValueTaskSourceCore<bool> _done = new() { RunContinuationsAsynchronously = true };
    private int _expected;
    private uint _methodId;
    private long _nextRequestId = 100;

    private ScriptedPeer(Socket? listener) => _listener = listener;

    public int Port => ((IPEndPoint)_listener!.LocalEndPoint!).Port;

    public static int FreePort()
    {
        using var probe = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        probe.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        return ((IPEndPoint)probe.LocalEndPoint!).Port;
    }

    public static ScriptedPeer StartLeader()
    {
        var listener = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        listener.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        listener.Listen(4);
        var peer = new ScriptedPeer(listener);
        _ = peer.AcceptAsync();
        return peer;
    }

    private async Task AcceptAsync()
    {
        var socket = await _listener!.AcceptAsync().ConfigureAwait(false);
        _connection = new FrameConnection(socket);
        await _connection.RunAsync(OnFrameAsLeader).ConfigureAwait(false);
    }

    private ValueTask OnFrameAsLeader(Frame frame)
    {
        var c = _connection!;
        switch (frame.Type)
        {
            case PacketType.Heartbeat:
                c.Send(PacketType.HeartbeatResponse, frame.RequestId, new HeartbeatHeader(Epoch, frame.ReadHeader<HeartbeatHeader>().SentAtTicks));
                break;
            case PacketType.RegisterChannel:
                c.Send(PacketType.RegisterChannelResult, frame.RequestId, new RegisterChannelResultHeader(Epoch, 1, true, null));
                break;
            case PacketType.Invoke:
                c.Send(PacketType.InvokeResult, frame.RequestId, new ResultHeader(Epoch, ResultStatus.Ok), Result);
                break;
        }
        return default;
    }

    public static ScriptedPeer StartFollower(int port)
    {
        var peer = new ScriptedPeer(null);
        var contract = ContractResolver.Resolve<IBenchEcho>(ProxyGenerationMode.PreferGenerated);
        peer._methodId = contract.Methods[0].Id;
        peer._connection = FrameConnection.ConnectAsync(new IPEndPoint(IPAddress.Loopback, port)).GetAwaiter().GetResult();
        _ = peer._connection.RunAsync(peer.OnFrameAsFollower);
        peer._expected = 1;
        peer._connection.Send(PacketType.Heartbeat, 1, new HeartbeatHeader(0, Stopwatch.GetTimestamp()));
        peer.Wait();
        peer._expected = 1;
        peer._connection.Send(PacketType.RegisterChannel, 2, new RegisterChannelHeader(Epoch, contract.Name, contract.Fingerprint, Environment.ProcessId));
        peer.Wait();
        return peer;
    }

    private void Wait()
    {
        var pending = new ValueTask(this, _done.Version);
        pending.AsTask().WaitAsync(TimeSpan.FromSeconds(30)).GetAwaiter().GetResult();
    }

    private ValueTask OnFrameAsFollower(Frame frame)
    {
        switch (frame.Type)
        {
            case PacketType.Heartbeat:
                _connection!.Send(PacketType.HeartbeatResponse, frame.RequestId, new HeartbeatHeader(Epoch, frame.ReadHeader<HeartbeatHeader>().SentAtTicks));
                break;
            case PacketType.RegisterChannelResult when !frame.ReadHeader<RegisterChannelResultHeader>().Ok:
                throw new InvalidOperationException("the leader refused the scripted follower's registration");
            case PacketType.HeartbeatResponse when frame.RequestId == 0:
                break;
            case PacketType.HeartbeatResponse:
            case PacketType.RegisterChannelResult:
            case PacketType.InvokeResult:
                if (--_expected == 0) _done.SetResult(true);
                break;
        }
        return default;
    }

    /// <summary>Sends <paramref name="count"/> invokes and completes when all replies are in.</summary>
    public ValueTask InvokeAsync(int count)
    {
        _expected = count;
        var pending = new ValueTask(this, _done.Version);
        for (int i = 0; i < count; i++)
            _connection!.Send(PacketType.Invoke, ++_nextRequestId, new CallHeader(Epoch, 1, _methodId), Arguments, 30_000);
        return pending;
    }

    public void GetResult(short token)
    {
        _done.GetResult(token);
        _done.Reset();
    }

    public ValueTaskSourceStatus GetStatus(short token) => _done.GetStatus(token);

    public void OnCompleted(Action<object?> continuation, object? state, short token, ValueTaskSourceOnCompletedFlags flags) =>
        _done.OnCompleted(continuation, state, token, flags);

    public void Dispose()
    {
        _connection?.Abort("benchmark done");
        _listener?.Dispose();
    }
}
