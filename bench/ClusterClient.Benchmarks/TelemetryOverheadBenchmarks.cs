using System.Diagnostics;
using System.Diagnostics.Metrics;
using BenchmarkDotNet.Attributes;

namespace ClusterSharing.Benchmarks;

/// <summary>
/// The cost of observability on the hot paths: the follower's invoke and the leader's dispatch (as in
/// <see cref="FollowerInvokeBenchmarks"/> and <see cref="LeaderDispatchBenchmarks"/>) with nothing listening, with a
/// MeterListener on every ClusterClient instrument, and with that plus an ActivityListener sampling every span.
/// </summary>
[MemoryDiagnoser]
public class TelemetryOverheadBenchmarks
{
    private const int Pipelined = 256;
    private ScriptedPeer? _scriptedLeader;
    private ClusterClient<IBenchEcho>? _follower;
    private ClusterClient<IBenchEcho>? _leader;
    private ScriptedPeer? _scriptedFollower;
    private MeterListener? _meters;
    private ActivityListener? _spans;
    private long _measurements;
    private readonly ValueTask<long>[] _calls = new ValueTask<long>[Pipelined];

    /// <summary>none, metrics, or metrics+traces.</summary>
    [Params("none", "metrics", "metrics+traces")]
    public string Listeners { get; set; } = "none";

    /// <summary>Starts both pairs and attaches the listeners of this case.</summary>
    [GlobalSetup]
    public void Setup()
    {
        _scriptedLeader = ScriptedPeer.StartLeader();
        _follower = ClusterClient.Create<IBenchEcho>(() => throw new InvalidOperationException("a follower never builds the real client"), o =>
        {
            o.Port = _scriptedLeader.Port;
            o.Role = ClusterRole.Follower;
            o.HeartbeatInterval = TimeSpan.FromSeconds(5);
        });
        _follower.ReadyAsync().GetAwaiter().GetResult();
        int port = ScriptedPeer.FreePort();
        _leader = ClusterClient.Create<IBenchEcho>(() => new BenchEcho(), o =>
        {
            o.Port = port;
            o.Role = ClusterRole.Leader;
            o.HeartbeatInterval = TimeSpan.FromSeconds(5);
        });
        _leader.ReadyAsync().GetAwaiter().GetResult();
        _scriptedFollower = ScriptedPeer.StartFollower(port);

        if (Listeners != "none")
        {
            _meters = new MeterListener
            {
                InstrumentPublished = (instrument, listener) =>
                {
                    if (instrument.Meter.Name == ClusterClientTelemetry.MeterName) listener.EnableMeasurementEvents(instrument);
                },
            };
            _meters.SetMeasurementEventCallback<long>((_, _, _, _) => Interlocked.Increment(ref _measurements));
            _meters.SetMeasurementEventCallback<double>((_, _, _, _) => Interlocked.Increment(ref _measurements));
            _meters.Start();
        }
        if (Listeners == "metrics+traces")
        {
            _spans = new ActivityListener
            {
                ShouldListenTo = source => source.Name == ClusterClientTelemetry.ActivitySourceName,
                Sample = (ref ActivityCreationOptions<ActivityContext> _) => ActivitySamplingResult.AllDataAndRecorded,
            };
            ActivitySource.AddActivityListener(_spans);
        }
    }

    /// <summary>Follower: one call at a time.</summary>
    [Benchmark]
    public ValueTask<long> FollowerSequentialInvoke() => _follower!.Client.EchoAsync(42);

    /// <summary>Follower: 256 calls in flight, then all awaited.</summary>
    [Benchmark(OperationsPerInvoke = Pipelined)]
    public async Task<long> FollowerPipelinedInvoke()
    {
        var client = _follower!.Client;
        for (int i = 0; i < Pipelined; i++) _calls[i] = client.EchoAsync(i);
        long sum = 0;
        for (int i = 0; i < Pipelined; i++) sum += await _calls[i];
        return sum;
    }

    /// <summary>Leader: 1000 invoke frames back to back, every reply awaited.</summary>
    [Benchmark(OperationsPerInvoke = 1000)]
    public ValueTask LeaderPipelinedDispatch() => _scriptedFollower!.InvokeAsync(1000);

    /// <summary>Detaches the listeners and closes everything.</summary>
    [GlobalCleanup]
    public void Cleanup()
    {
        _meters?.Dispose();
        _spans?.Dispose();
        _scriptedFollower?.Dispose();
        _leader?.DisposeAsync().AsTask().GetAwaiter().GetResult();
        _follower?.DisposeAsync().AsTask().GetAwaiter().GetResult();
        _scriptedLeader?.Dispose();
    }
}
