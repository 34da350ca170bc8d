using System.Diagnostics;
using System.Diagnostics.Metrics;

namespace ClusterSharing.Harness;

/// <summary>
/// With <c>HARNESS_TELEMETRY=1</c>, a worker listens to every ClusterClient instrument (MeterListener, summing) and
/// samples every ClusterClient span (ActivityListener, AllDataAndRecorded), so a run measures the cost of observability
/// against a run without the variable (docs/benchmarks.md, "Observability overhead").
/// </summary>
internal sealed class TelemetryListeners : IDisposable
{
    private readonly MeterListener _meters = new();
    private readonly ActivityListener _spans;
    private long _measurements;
    private long _spansStopped;

    private TelemetryListeners()
    {
        _meters.InstrumentPublished = (instrument, listener) =>
        {
            if (instrument.Meter.Name == ClusterClientTelemetry.MeterName) listener.EnableMeasurementEvents(instrument);
        };
        _meters.SetMeasurementEventCallback<long>((_, _, _, _) => Interlocked.Increment(ref _measurements));
        _meters.SetMeasurementEventCallback<double>((_, _, _, _) => Interlocked.Increment(ref _measurements));
        _meters.Start();
        _spans = new ActivityListener
        {
            ShouldListenTo = source => source.Name == ClusterClientTelemetry.ActivitySourceName,
            Sample = (ref ActivityCreationOptions<ActivityContext> _) => ActivitySamplingResult.AllDataAndRecorded,
            ActivityStopped = _ => Interlocked.Increment(ref _spansStopped),
        };
        ActivitySource.AddActivityListener(_spans);
    }

    public static TelemetryListeners? AttachIfRequested() =>
        Environment.GetEnvironmentVariable("HARNESS_TELEMETRY") == "1" ? new TelemetryListeners() : null;

    public void Dispose()
    {
        Console.Error.WriteLine($"telemetry: {Interlocked.Read(ref _measurements)} measurements, {Interlocked.Read(ref _spansStopped)} spans");
        _meters.Dispose();
        _spans.Dispose();
    }
}
