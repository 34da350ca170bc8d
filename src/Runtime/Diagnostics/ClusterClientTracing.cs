using System.Diagnostics;

namespace ClusterSharing.Diagnostics;

/// <summary>
/// Telemetry of one invoke: its span and the metrics' start time. Started where the call starts and ended exactly once
/// where it completes (<see cref="End"/>); a call nobody observes holds nothing.
/// </summary>
internal struct CallTelemetry
{
    private string? _role;
    private string? _method;
    private long _started;
    private Activity? _activity;
    private Activity? _previous;

    /// <summary>The call's span (null when no listener samples it).</summary>
    public readonly Activity? Activity => _activity;

    /// <summary>The W3C traceparent to send with the call, or null.</summary>
    public readonly string? TraceParent => _activity is { IdFormat: ActivityIdFormat.W3C } a ? a.Id : null;

    /// <summary>The W3C tracestate to send with the call, or null.</summary>
    public readonly string? TraceState => _activity is { IdFormat: ActivityIdFormat.W3C } a ? a.TraceStateString : null;

    /// <summary>
    /// A follower's call to the leader: a client span, child of the caller's current activity. <see cref="Activity.Current"/>
    /// is left as it was, since the call site is synchronous code inside the caller's async flow.
    /// </summary>
    public static CallTelemetry StartClient(string method) => Start(ClusterClientTracing.FollowerRole, method, ActivityKind.Client, default);

    /// <summary>
    /// The leader's dispatch of a follower's call: a server span whose parent is the follower's span
    /// (from the call's header object). It becomes <see cref="Activity.Current"/>; the caller restores the previous one
    /// with <see cref="ClusterClientTracing.Restore"/> after handing the call to the real client.
    /// </summary>
    public static CallTelemetry StartServer(string method, string? traceParent, string? traceState)
    {
        ActivityContext parent = default;
        if (traceParent is { Length: 55 }) ActivityContext.TryParse(traceParent, traceState is { Length: <= 512 } ? traceState : null, isRemote: true, out parent);
        return Start(ClusterClientTracing.LeaderRole, method, ActivityKind.Server, parent, keepCurrent: true);
    }

    /// <summary>The leader's own call to its real client (no hop): an internal span.</summary>
    public static CallTelemetry StartLocal(string method) => Start(ClusterClientTracing.LocalRole, method, ActivityKind.Internal, default, keepCurrent: true);

    private static CallTelemetry Start(string role, string method, ActivityKind kind, ActivityContext parent, bool keepCurrent = false)
    {
        var telemetry = default(CallTelemetry);
        var metrics = ClusterClientMetrics.Current;
        if (metrics.CallsEnabled)
        {
            telemetry._role = role;
            telemetry._method = method;
            telemetry._started = metrics.DurationEnabled ? Stopwatch.GetTimestamp() : 0;
            metrics.CallStarted(role, method);
        }
        if (ClusterClientTracing.Source.HasListeners())
        {
            var previous = telemetry._previous = Activity.Current;
            telemetry._activity = ClusterClientTracing.Source.StartActivity(ClusterClientTracing.SpanName(method), kind, parent);
            if (telemetry._activity is { } activity)
            {
                activity.SetTag("rpc.system", "clusterclient");
                activity.SetTag("rpc.method", method);
                activity.SetTag("clusterclient.role", role);
                if (!keepCurrent) Activity.Current = previous;
            }
        }
        return telemetry;
    }

    /// <summary>Puts back the activity that was current before this span started, if this span is current.</summary>
    public readonly void RestorePrevious()
    {
        if (_activity is { } activity && Activity.Current == activity) Activity.Current = _previous;
    }

    /// <summary>Ends the call (once): stops its span and records its duration and outcome.</summary>
    public void End(Exception? error)
    {
        if (_role is { } role)
        {
            _role = null;
            ClusterClientMetrics.Current.CallEnded(role, _method!, _started, error);
        }
        if (_activity is { } activity)
        {
            _activity = null;
            if (error is not null)
            {
                activity.SetStatus(ActivityStatusCode.Error, error.Message);
                activity.SetTag("error.type", error.GetType().FullName);
            }
            activity.Stop();
        }
    }
}

/// <summary>The runtime's activity source (docs/observability.md).</summary>
internal static class ClusterClientTracing
{
    public const string FollowerRole = "follower";
    public const string LeaderRole = "leader";
    public const string LocalRole = "local";

    /// <summary>The source's name (public as <c>ClusterClientTelemetry.ActivitySourceName</c>).</summary>
    public const string SourceName = "ClusterClient";

    public static readonly ActivitySource Source = new(SourceName);

    /// <summary>"ClusterClient/{method}", like "{rpc.service}/{rpc.method}" in the OpenTelemetry RPC conventions.</summary>
    public static string SpanName(string method) => "ClusterClient/" + method;

    /// <summary>Puts back the activity that was current before a server span started on this thread.</summary>
    public static void Restore(in CallTelemetry telemetry) => telemetry.RestorePrevious();
}
