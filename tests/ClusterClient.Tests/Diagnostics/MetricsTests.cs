using System.Collections.Concurrent;
using System.Diagnostics.Metrics;

namespace ClusterSharing.Tests.Diagnostics;

[Collection(DiagnosticsCollection.Name)]
public sealed class MetricsTests
{
    /// <summary>Sums every measurement of the ClusterClient meter by instrument name and selected tags.</summary>
    private sealed class Recorder : IDisposable
    {
        private readonly MeterListener _listener = new();
        private readonly ConcurrentDictionary<string, double> _sums = new();
        private readonly ConcurrentDictionary<string, int> _counts = new();

        public Recorder()
        {
            _listener.InstrumentPublished = (instrument, listener) =>
            {
                if (instrument.Meter.Name == ClusterClientTelemetry.MeterName) listener.EnableMeasurementEvents(instrument);
            };
            _listener.SetMeasurementEventCallback<long>((i, v, tags, _) => Add(i, v, tags));
            _listener.SetMeasurementEventCallback<double>((i, v, tags, _) => Add(i, v, tags));
            _listener.Start();
        }

        private void Add(Instrument instrument, double value, ReadOnlySpan<KeyValuePair<string, object?>> tags)
        {
            string key = instrument.Name;
            foreach (var tag in tags)
                if (tag.Key is "clusterclient.role" or "error.type" or "network.io.direction") key += "|" + tag.Value;
            if (instrument.Name != "clusterclient.epoch") _sums.AddOrUpdate(key, value, (_, sum) => sum + value);
            _counts.AddOrUpdate(key, 1, (_, n) => n + 1);
            if (instrument.Name == "clusterclient.epoch") _sums.AddOrUpdate(key, value, (_, max) => Math.Max(max, value)); // a gauge: keep the highest
        }

        public double Sum(string key) => _sums.GetValueOrDefault(key);

        public int Count(string key) => _counts.GetValueOrDefault(key);

        public long Observe(string instrument)
        {
            long value = 0;
            using var listener = new MeterListener();
            listener.InstrumentPublished = (i, l) =>
            {
                if (i.Meter.Name == ClusterClientTelemetry.MeterName && i.Name == instrument) l.EnableMeasurementEvents(i);
            };
            listener.SetMeasurementEventCallback<long>((_, v, _, _) => value += v);
            listener.Start();
            listener.RecordObservableInstruments();
            return value;
        }

        public void Dispose() => _listener.Dispose();
    }

    [Fact]
    public async Task Instruments_move_with_calls_failures_and_a_failover()
    {
        using var recorder = new Recorder();
        await using var cluster = new TestCluster();
        var (leaderNode, leader) = cluster.Start();
        await leader.ReadyAsync();
        var (_, follower) = cluster.Start();
        await follower.ReadyAsync();

        for (int i = 0; i < 10; i++) Assert.Equal(i + 1, await follower.Client.AddAsync(i, 1));
        Assert.Equal(3, await leader.Client.AddAsync(1, 2));
        await Assert.ThrowsAsync<ClusterRemoteException>(() => follower.Client.FailAsync("boom"));

        Assert.Equal(11, recorder.Sum("clusterclient.calls|follower"));
        Assert.Equal(11, recorder.Sum("clusterclient.calls|leader"));
        Assert.Equal(11, recorder.Count("clusterclient.call.duration|follower") + recorder.Count("clusterclient.call.duration|follower|" + typeof(ClusterRemoteException).FullName));
        await TestCluster.WaitUntilAsync(() => recorder.Sum("clusterclient.call.active|follower") == 0 && recorder.Sum("clusterclient.call.active|leader") == 0,
            "the in-flight counts to return to zero");
        Assert.Equal(1, recorder.Sum("clusterclient.call.failures|follower|" + typeof(ClusterRemoteException).FullName));
        Assert.Equal(1, recorder.Sum("clusterclient.call.failures|leader|" + typeof(InvalidOperationException).FullName));
        Assert.True(recorder.Sum("clusterclient.network.io|transmit") > 0);
        Assert.True(recorder.Sum("clusterclient.network.io|receive") > 0);
        Assert.Equal(1, recorder.Sum("clusterclient.followers"));
        Assert.Equal(1, recorder.Sum("clusterclient.epoch"));

        // A slow call is in flight while it runs.
        var slow = follower.Client.SlowWhoAmIAsync(300);
        await TestCluster.WaitUntilAsync(() => recorder.Sum("clusterclient.call.active|follower") == 1, "one call in flight");
        await slow;

        // Failover: the leader goes away; the follower counts it and takes the next epoch.
        await leader.DisposeAsync();
        await leaderNode.DisposeAsync();
        await TestCluster.WaitUntilAsync(() => recorder.Sum("clusterclient.failovers") >= 1, "a failover to be counted");
        await TestCluster.WaitUntilAsync(() => recorder.Sum("clusterclient.epoch") == 2, "epoch 2 (the highest seen) to be recorded");
        await follower.ReadyAsync();
        Assert.True(await follower.Client.WhoAmIAsync() > 0);
        await TestCluster.WaitUntilAsync(() => recorder.Sum("clusterclient.followers") == 0, "the old leader's follower to be released");
    }

    [Fact]
    public async Task Subscriptions_and_deliveries_are_counted_on_the_leader()
    {
        using var recorder = new Recorder();
        await using var cluster = new TestCluster();
        var calculator = new Calculator();
        var (_, leader) = cluster.Start(() => calculator);
        await leader.ReadyAsync();
        var (_, follower) = cluster.Start();
        await follower.ReadyAsync();

        var received = new TaskCompletionSource<int>(TaskCreationOptions.RunContinuationsAsynchronously);
        follower.Client.Subscribe("metrics-topic", v => received.TrySetResult(v));
        await TestCluster.WaitUntilAsync(() => recorder.Observe("clusterclient.subscriptions") >= 1, "the leader to hold the subscription");
        await TestCluster.WaitUntilAsync(() =>
        {
            calculator.Emit("metrics-topic", 7);
            return received.Task.IsCompleted;
        }, "the value to reach the follower");
        Assert.True(recorder.Sum("clusterclient.subscription.deliveries") >= 1);
    }
}
