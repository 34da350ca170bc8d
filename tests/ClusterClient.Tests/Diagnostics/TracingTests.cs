using System.Buffers;
using System.Collections.Concurrent;
using System.Diagnostics;
using ClusterSharing.Protocol;
using ClusterSharing.Serialization;

namespace ClusterSharing.Tests.Diagnostics;

[Collection(DiagnosticsCollection.Name)]
public sealed class TracingTests
{
    private static readonly ActivitySource TestSource = new("ClusterClient.Tests.Tracing");

    [Fact]
    public async Task One_trace_spans_the_follower_call_and_the_leaders_dispatch()
    {
        var stopped = new ConcurrentQueue<Activity>();
        using var listener = new ActivityListener
        {
            ShouldListenTo = s => s.Name is ClusterClientTelemetry.ActivitySourceName or "ClusterClient.Tests.Tracing",
            Sample = (ref ActivityCreationOptions<ActivityContext> _) => ActivitySamplingResult.AllDataAndRecorded,
            ActivityStopped = stopped.Enqueue,
        };
        ActivitySource.AddActivityListener(listener);

        await using var cluster = new TestCluster();
        var (_, leader) = cluster.Start();
        await leader.ReadyAsync();
        var (_, follower) = cluster.Start();
        await follower.ReadyAsync();

        Activity? root;
        Activity? currentAfterCall;
        using (root = TestSource.StartActivity("request"))
        {
            root!.TraceStateString = "vendor=1";
            Assert.Equal(5, await follower.Client.AddAsync(2, 3));
            currentAfterCall = Activity.Current;
        }
        // The caller's current activity is untouched by the call.
        Assert.Same(root, currentAfterCall);

        Activity? client = null, server = null;
        await TestCluster.WaitUntilAsync(() =>
        {
            client = stopped.FirstOrDefault(a => a.Kind == ActivityKind.Client && a.TraceId == root.TraceId);
            server = stopped.FirstOrDefault(a => a.Kind == ActivityKind.Server && a.TraceId == root.TraceId);
            return client is not null && server is not null;
        }, "the client and server spans to stop");

        Assert.Equal("ClusterClient/AddAsync", client!.DisplayName);
        Assert.Equal(root.SpanId, client.ParentSpanId);
        Assert.Equal(client.SpanId, server!.ParentSpanId);
        Assert.True(server.HasRemoteParent);
        Assert.Equal("vendor=1", server.TraceStateString);
        Assert.Equal("follower", client.GetTagItem("clusterclient.role"));
        Assert.Equal("leader", server.GetTagItem("clusterclient.role"));
        Assert.Equal(ActivityStatusCode.Unset, server.Status);
    }

    [Fact]
    public async Task A_failed_call_marks_both_spans_as_errors()
    {
        var stopped = new ConcurrentQueue<Activity>();
        using var listener = new ActivityListener
        {
            ShouldListenTo = s => s.Name == ClusterClientTelemetry.ActivitySourceName,
            Sample = (ref ActivityCreationOptions<ActivityContext> _) => ActivitySamplingResult.AllDataAndRecorded,
            ActivityStopped = stopped.Enqueue,
        };
        ActivitySource.AddActivityListener(listener);

        await using var cluster = new TestCluster();
        var (_, leader) = cluster.Start();
        await leader.ReadyAsync();
        var (_, follower) = cluster.Start();
        await follower.ReadyAsync();

        await Assert.ThrowsAsync<ClusterRemoteException>(() => follower.Client.FailAsync("traced failure"));
        Activity? client = null, server = null;
        await TestCluster.WaitUntilAsync(() =>
        {
            client = stopped.FirstOrDefault(a => a.Kind == ActivityKind.Client && a.DisplayName == "ClusterClient/FailAsync");
            server = client is null ? null : stopped.FirstOrDefault(a => a.Kind == ActivityKind.Server && a.ParentSpanId == client.SpanId);
            return server is not null;
        }, "both spans of the failed call");
        Assert.Equal(ActivityStatusCode.Error, client!.Status);
        Assert.Equal(ActivityStatusCode.Error, server!.Status);
        Assert.Equal(typeof(InvalidOperationException).FullName, server.GetTagItem("error.type"));
    }

    [Fact]
    public void Call_header_carries_the_trace_context_only_when_there_is_one()
    {
        const string parent = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01";
        var traced = RoundTrip(new CallHeader(4, 2, 0xABCD, parent, "a=b"), out int tracedFields);
        Assert.Equal(5, tracedFields);
        Assert.Equal(parent, traced.TraceParent);
        Assert.Equal("a=b", traced.TraceState);

        var plain = RoundTrip(new CallHeader(4, 2, 0xABCD), out int plainFields);
        Assert.Equal(3, plainFields);
        Assert.Null(plain.TraceParent);
        Assert.Equal(new CallHeader(4, 2, 0xABCD), plain);
    }

    [Fact]
    public void Trace_fields_that_are_not_a_w3c_context_count_as_absent()
    {
        // [epoch 5, channel 2, method 3, "short", 7]: a traceparent of the wrong length and a tracestate that is no string.
        var buffer = new ArrayBufferWriter<byte>();
        var writer = new MessagePackWriter(buffer);
        writer.WriteArrayHeader(5);
        writer.Write(5L);
        writer.Write(2);
        writer.Write(3u);
        writer.Write("short");
        writer.Write(7);
        writer.Flush();
        var reader = new MessagePackReader(buffer.WrittenMemory);
        Assert.Equal(new CallHeader(5, 2, 3), CallHeader.Read(ref reader));
    }

    private static CallHeader RoundTrip(CallHeader header, out int fields)
    {
        var buffer = new ArrayBufferWriter<byte>();
        var writer = new MessagePackWriter(buffer);
        header.Write(ref writer);
        writer.Flush();
        var count = new MessagePackReader(buffer.WrittenMemory);
        fields = count.ReadArrayHeader();
        var reader = new MessagePackReader(buffer.WrittenMemory);
        return CallHeader.Read(ref reader);
    }
}
