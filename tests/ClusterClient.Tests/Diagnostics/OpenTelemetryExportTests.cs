using System.Diagnostics;
using OpenTelemetry;
using OpenTelemetry.Trace;

namespace ClusterSharing.Tests.Diagnostics;

/// <summary>The spans as an OpenTelemetry SDK exports them (in-memory exporter), not only as an ActivityListener sees them.</summary>
[Collection(DiagnosticsCollection.Name)]
public sealed class OpenTelemetryExportTests
{
    private static readonly ActivitySource TestSource = new("ClusterClient.Tests.Export");

    [Fact]
    public async Task The_exporter_receives_one_trace_from_the_callers_span_through_the_follower_to_the_leader()
    {
        var exported = new LockedCollection(); // spans stop on the follower's and the leader's threads at once
        using (var provider = Sdk.CreateTracerProviderBuilder()
                   .AddSource(ClusterClientTelemetry.ActivitySourceName, "ClusterClient.Tests.Export")
                   .SetSampler(new AlwaysOnSampler())
                   .AddInMemoryExporter(exported)
                   .Build())
        {
            await using var cluster = new TestCluster();
            var (_, leader) = cluster.Start();
            await leader.ReadyAsync();
            var (_, follower) = cluster.Start();
            await follower.ReadyAsync();

            ActivityTraceId traceId;
            using (var root = TestSource.StartActivity("request"))
            {
                traceId = root!.TraceId;
                Assert.Equal(7, await follower.Client.AddAsync(3, 4));
            }
            // The server span ends on the leader's side a moment after the reply is sent.
            await TestCluster.WaitUntilAsync(() =>
            {
                return exported.Snapshot().Count(a => a.TraceId == traceId) >= 3;
            }, "the request, client and server spans to be exported");
            provider!.ForceFlush();

            var trace = exported.Snapshot().Where(a => a.TraceId == traceId).ToArray();
            var request = Assert.Single(trace, a => a.DisplayName == "request");
            var client = Assert.Single(trace, a => a.Kind == ActivityKind.Client);
            var server = Assert.Single(trace, a => a.Kind == ActivityKind.Server);
            Assert.Equal(request.SpanId, client.ParentSpanId);
            Assert.Equal(client.SpanId, server.ParentSpanId);
            Assert.Equal("ClusterClient/AddAsync", server.DisplayName);
            Assert.Equal("clusterclient", server.GetTagItem("rpc.system"));
        }
    }

    /// <summary>The exporter's target collection, safe for adds from several threads.</summary>
    private sealed class LockedCollection : System.Collections.ObjectModel.Collection<Activity>
    {
        public Activity[] Snapshot()
        {
            lock (Items) return [.. Items];
        }

        protected override void InsertItem(int index, Activity item)
        {
            lock (Items) base.InsertItem(index, item);
        }
    }
}
