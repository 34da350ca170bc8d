using System.Diagnostics.Metrics;
using ClusterSharing.Diagnostics;

namespace ClusterSharing;

/// <summary>
/// Names of the runtime's <see cref="Meter"/> and <see cref="System.Diagnostics.ActivitySource"/> (docs/observability.md
/// lists every instrument and span), and the switch to create the meter through an <see cref="IMeterFactory"/>.
/// </summary>
public static class ClusterClientTelemetry
{
    /// <summary>Name of the meter (<c>dotnet-counters monitor --counters ClusterClient</c>, <c>AddMeter("ClusterClient")</c>).</summary>
    public const string MeterName = ClusterClientMetrics.MeterName;

    /// <summary>Name of the activity source (<c>AddSource("ClusterClient")</c>).</summary>
    public const string ActivitySourceName = ClusterClientTracing.SourceName;

    /// <summary>
    /// Creates the process's instruments on a meter from <paramref name="meterFactory"/> (the hosting package calls this
    /// with DI's factory); null goes back to the static meter. Process-wide, like the nodes themselves: the last call wins.
    /// </summary>
    /// <param name="meterFactory">The factory, or null for the static meter.</param>
    public static void UseMeterFactory(IMeterFactory? meterFactory) => ClusterClientMetrics.Use(meterFactory);
}
