using System.Diagnostics;
using System.Diagnostics.Metrics;
using System.Runtime.CompilerServices;

namespace ClusterSharing.Diagnostics;

/// <summary>
/// The runtime's instruments (names in docs/observability.md), one set per process. Call sites make one call each;
/// an instrument nobody listens to costs a flag check.
/// </summary>
internal sealed class ClusterClientMetrics
{
    /// <summary>The meter's name (public as <c>ClusterClientTelemetry.MeterName</c>).</summary>
    public const string MeterName = "ClusterClient";

    private static readonly ConditionalWeakTable<object, Func<int>> SubscriptionSources = new();
    private static readonly ClusterClientMetrics Static = new(null);
    private static ClusterClientMetrics s_current = Static;
    private static IMeterFactory? s_factory;

    private readonly Counter<long> _calls;
    private readonly Histogram<double> _duration;
    private readonly UpDownCounter<long> _active;
    private readonly Counter<long> _failures;
    private readonly Counter<long> _failovers;
    private readonly Gauge<long> _epoch;
    private readonly UpDownCounter<long> _followers;
    private readonly Counter<long> _deliveries;
    private readonly Counter<long> _overflows;
    private readonly Counter<long> _bytes;

    private ClusterClientMetrics(IMeterFactory? factory)
    {
        var meter = factory?.Create(new MeterOptions(MeterName)) ?? new Meter(MeterName);
        _calls = meter.CreateCounter<long>("clusterclient.calls", "{call}", "Invokes started: by this process's proxy (role follower or local) or served for a follower (role leader).");
        _duration = meter.CreateHistogram<double>("clusterclient.call.duration", "s", "Duration of invokes: round trip on a follower, the real call on the leader.",
            advice: new InstrumentAdvice<double> { HistogramBucketBoundaries = [0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30] });
        _active = meter.CreateUpDownCounter<long>("clusterclient.call.active", "{call}", "Invokes in flight.");
        _failures = meter.CreateCounter<long>("clusterclient.call.failures", "{call}", "Invokes that failed, by error.type.");
        _failovers = meter.CreateCounter<long>("clusterclient.failovers", "{failover}", "Times this process lost its leader (connection closed, silent, or deposed itself).");
        _epoch = meter.CreateGauge<long>("clusterclient.epoch", "{epoch}", "The leadership epoch this process knows.");
        _followers = meter.CreateUpDownCounter<long>("clusterclient.followers", "{follower}", "Followers connected and admitted to this leader.");
        meter.CreateObservableUpDownCounter("clusterclient.subscriptions", ObserveSubscriptions, "{subscription}",
            "Distinct subscriptions (member and registration key) the leader holds on its real clients.");
        _deliveries = meter.CreateCounter<long>("clusterclient.subscription.deliveries", "{value}", "Subscription values fanned out by the leader, one per subscriber reached.");
        _overflows = meter.CreateCounter<long>("clusterclient.subscription.overflows", "{overflow}", "Times this process's listeners fell SubscriptionBufferSize values behind and were resynchronised.");
        _bytes = meter.CreateCounter<long>("clusterclient.network.io", "By", "Frame bytes sent and received (network.io.direction = transmit | receive).");
    }

    public static ClusterClientMetrics Current => Volatile.Read(ref s_current);

    public static void Use(IMeterFactory? factory)
    {
        lock (SubscriptionSources)
        {
            if (ReferenceEquals(s_factory, factory)) return;
            s_factory = factory;
            Volatile.Write(ref s_current, factory is null ? Static : new ClusterClientMetrics(factory));
        }
    }

    /// <summary>True when anything listens to the call instruments (so a call site may skip reading the clock).</summary>
    public bool CallsEnabled => _calls.Enabled || _duration.Enabled || _active.Enabled || _failures.Enabled;

    public bool DurationEnabled => _duration.Enabled;

    public void CallStarted(string role, string method)
    {
        var tags = new TagList { { "clusterclient.role", role }, { "clusterclient.method", method } };
        _calls.Add(1, tags);
        _active.Add(1, tags);
    }

    public void CallEnded(string role, string method, long started, Exception? error)
    {
        var tags = new TagList { { "clusterclient.role", role }, { "clusterclient.method", method } };
        _active.Add(-1, tags);
        if (error is not null)
        {
            tags.Add("error.type", error.GetType().FullName);
            _failures.Add(1, tags);
        }
        if (started != 0) _duration.Record(Stopwatch.GetElapsedTime(started).TotalSeconds, tags);
    }

    public static void Failover(int port) => Current._failovers.Add(1, new KeyValuePair<string, object?>("clusterclient.port", port));

    public static void Epoch(int port, long epoch) => Current._epoch.Record(epoch, new KeyValuePair<string, object?>("clusterclient.port", port));

    public static void FollowerAdmitted() => Current._followers.Add(1);

    public static void FollowerReleased() => Current._followers.Add(-1);

    public static void Delivered() => Current._deliveries.Add(1);

    public static void Overflowed(string channel) => Current._overflows.Add(1, new KeyValuePair<string, object?>("clusterclient.channel", channel));

    public static void BytesSent(long bytes) => Current._bytes.Add(bytes, new KeyValuePair<string, object?>("network.io.direction", "transmit"));

    public static void BytesReceived(long bytes) => Current._bytes.Add(bytes, new KeyValuePair<string, object?>("network.io.direction", "receive"));

    /// <summary>Counts <paramref name="count"/>'s subscriptions in <c>clusterclient.subscriptions</c> while <paramref name="owner"/> lives.</summary>
    public static void TrackSubscriptions(object owner, Func<int> count) => SubscriptionSources.AddOrUpdate(owner, count);

    private static long ObserveSubscriptions()
    {
        long total = 0;
        foreach (var source in SubscriptionSources) total += source.Value();
        return total;
    }
}
