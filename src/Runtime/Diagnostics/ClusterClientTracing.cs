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

    /// <summary>The <c>clusterclient.operation</c> of a follower's publication and of the leader's span handing it to the real client.</summary>
    public const string PublishOperation = "publish";

    /// <summary>The <c>clusterclient.operation</c> of a follower's oneway call and of the leader's span for it.</summary>
    public const string OnewayOperation = "oneway";

    /// <summary>The <c>clusterclient.operation</c> of the leader's fan-out of a subscription value and of a follower's receipt of it.</summary>
    public const string DeliverOperation = "deliver";

    /// <summary>
    /// A message leaving this process (a follower's publication or oneway, the leader's fan-out of a value): a producer
    /// span, child of <see cref="Activity.Current"/>, which it becomes until stopped (stopping puts the parent back).
    /// Null when nobody listens.
    /// </summary>
    public static Activity? StartProducer(string method, string role, string operation)
    {
        if (!Source.HasListeners()) return null;
        var activity = Source.StartActivity(SpanName(method), ActivityKind.Producer);
        Tag(activity, method, role, operation);
        return activity;
    }

    /// <summary>
    /// A message arriving from another process: a consumer span that links to the sender's producer span (when the
    /// packet carried its context) instead of being its child, since one message can fan out, be replayed, or be
    /// handled long after it was sent. Its parent is <see cref="Activity.Current"/>, which it becomes. Null when nobody listens.
    /// </summary>
    public static Activity? StartLinkedConsumer(string method, string role, string operation, string? traceParent, string? traceState)
    {
        if (!Source.HasListeners()) return null;
        ActivityLink[]? links = null;
        if (traceParent is { Length: 55 } && ActivityContext.TryParse(traceParent, traceState is { Length: <= 512 } ? traceState : null, isRemote: true, out var sender))
            links = [new ActivityLink(sender)];
        var activity = Source.StartActivity(SpanName(method), ActivityKind.Consumer, parentContext: default, tags: null, links: links);
        Tag(activity, method, role, operation);
        return activity;
    }

    /// <summary>The W3C context to put in a packet for <paramref name="activity"/> (nulls: none).</summary>
    public static (string? TraceParent, string? TraceState) ContextOf(Activity? activity) =>
        activity is { IdFormat: ActivityIdFormat.W3C } a ? (a.Id, a.TraceStateString) : (null, null);

    /// <summary>The context of the leader's fan-out span while it is current on this thread (what subscribers send with a value).</summary>
    public static (string? TraceParent, string? TraceState) CurrentDelivery() =>
        Source.HasListeners() && Activity.Current is { Kind: ActivityKind.Producer } current && current.Source == Source ? ContextOf(current) : (null, null);

    /// <summary>Ends a producer or consumer span, marking it failed when <paramref name="error"/> is set.</summary>
    public static void Stop(Activity? activity, Exception? error = null)
    {
        if (activity is null) return;
        if (error is not null)
        {
            activity.SetStatus(ActivityStatusCode.Error, error.Message);
            activity.SetTag("error.type", error.GetType().FullName);
        }
        activity.Stop();
    }

    private static void Tag(Activity? activity, string method, string role, string operation)
    {
        if (activity is null) return;
        activity.SetTag("rpc.system", "clusterclient");
        activity.SetTag("rpc.method", method);
        activity.SetTag("clusterclient.role", role);
        activity.SetTag("clusterclient.operation", operation);
    }
}
