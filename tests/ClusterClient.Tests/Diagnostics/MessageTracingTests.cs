using System.Buffers;
using System.Collections.Concurrent;
using System.Diagnostics;
using ClusterSharing.Protocol;
using MessagePack;

namespace ClusterSharing.Tests.Diagnostics;

/// <summary>Publications, oneways and subscription deliveries: producer and consumer spans joined by links across the hop.</summary>
[Collection(DiagnosticsCollection.Name)]
public sealed class MessageTracingTests
{
    private static readonly ActivitySource TestSource = new("ClusterClient.Tests.MessageTracing");

    private static ActivityListener Listen(ConcurrentQueue<Activity> stopped)
    {
        var listener = new ActivityListener
        {
            ShouldListenTo = s => s.Name is ClusterClientTelemetry.ActivitySourceName or "ClusterClient.Tests.MessageTracing",
            Sample = (ref ActivityCreationOptions<ActivityContext> _) => ActivitySamplingResult.AllDataAndRecorded,
            ActivityStopped = stopped.Enqueue,
        };
        ActivitySource.AddActivityListener(listener);
        return listener;
    }

    private static bool LinksTo(Activity consumer, Activity producer) =>
        consumer.Links.Any(l => l.Context.TraceId == producer.TraceId && l.Context.SpanId == producer.SpanId);

    [Fact]
    public async Task A_followers_publication_is_a_producer_span_and_the_leaders_hand_off_to_the_real_client_links_to_it()
    {
        var stopped = new ConcurrentQueue<Activity>();
        using var listener = Listen(stopped);
        await using var cluster = new TestCluster();
        var real = new Calculator();
        var (_, leader) = cluster.Start(() => real);
        await leader.ReadyAsync();
        var (_, follower) = cluster.Start();
        await follower.ReadyAsync();

        Activity? root;
        using (root = TestSource.StartActivity("announce"))
        {
            follower.Client.Publish("traced-topic");
            Assert.Same(root, Activity.Current);
        }
        await TestCluster.WaitUntilAsync(() => real.Published.Contains("traced-topic"), "the publication to reach the real client");

        Activity? producer = null, consumer = null;
        await TestCluster.WaitUntilAsync(() =>
        {
            producer = stopped.FirstOrDefault(a => a.Kind == ActivityKind.Producer && a.TraceId == root!.TraceId);
            consumer = producer is null ? null : stopped.FirstOrDefault(a => a.Kind == ActivityKind.Consumer && LinksTo(a, producer));
            return consumer is not null;
        }, "the producer span and a consumer span linked to it");
        Assert.Equal("ClusterClient/Publish", producer!.DisplayName);
        Assert.Equal(root!.SpanId, producer.ParentSpanId);
        Assert.Equal("publish", producer.GetTagItem("clusterclient.operation"));
        Assert.Equal("follower", producer.GetTagItem("clusterclient.role"));
        Assert.Equal("ClusterClient/Publish", consumer!.DisplayName);
        Assert.Equal("leader", consumer.GetTagItem("clusterclient.role"));
        // Linked, not parented: a replayed or long-queued publication does not stretch the sender's trace.
        Assert.NotEqual(producer.TraceId, consumer.TraceId);
    }

    [Fact]
    public async Task A_followers_oneway_is_linked_from_the_leaders_span_for_it()
    {
        var stopped = new ConcurrentQueue<Activity>();
        using var listener = Listen(stopped);
        await using var cluster = new TestCluster();
        var real = new Calculator();
        var (_, leader) = cluster.Start(() => real);
        await leader.ReadyAsync();
        var (_, follower) = cluster.Start();
        await follower.ReadyAsync();

        follower.Client.Record(42);
        await TestCluster.WaitUntilAsync(() => real.Recorded.Contains(42), "the oneway to reach the real client");
        Activity? producer = null, consumer = null;
        await TestCluster.WaitUntilAsync(() =>
        {
            producer = stopped.FirstOrDefault(a => a.Kind == ActivityKind.Producer && a.DisplayName == "ClusterClient/Record");
            consumer = producer is null ? null : stopped.FirstOrDefault(a => a.Kind == ActivityKind.Consumer && LinksTo(a, producer));
            return consumer is not null;
        }, "the oneway's producer and linked consumer spans");
        Assert.Equal("oneway", consumer!.GetTagItem("clusterclient.operation"));
    }

    [Fact]
    public async Task A_subscription_value_has_a_fan_out_span_on_the_leader_and_a_delivery_span_on_the_follower_linked_to_it()
    {
        var stopped = new ConcurrentQueue<Activity>();
        using var listener = Listen(stopped);
        await using var cluster = new TestCluster();
        var real = new Calculator();
        var (leaderNode, leader) = cluster.Start(() => real);
        await leader.ReadyAsync();
        var (_, follower) = cluster.Start();
        await follower.ReadyAsync();
        var hub = ((ClusterSharing.Leader.ISubscriptionHost)leaderNode.FindChannel(leader.Name)!.LeaderSide!).Hub;

        var values = new ConcurrentQueue<int>();
        follower.Client.Subscribe("t", values.Enqueue);
        await TestCluster.WaitUntilAsync(() => hub.SubscriberCount(CalculatorContract.SubscribeTopic.Id) == 1, "the follower's subscription at the leader");

        Activity? emit;
        using (emit = TestSource.StartActivity("emit"))
        {
            real.Emit("t", 7);
        }
        await TestCluster.WaitUntilAsync(() => values.Contains(7), "the value at the follower");

        Activity? fanOut = null, delivery = null;
        await TestCluster.WaitUntilAsync(() =>
        {
            fanOut = stopped.FirstOrDefault(a => a.Kind == ActivityKind.Producer && a.TraceId == emit!.TraceId);
            delivery = fanOut is null ? null : stopped.FirstOrDefault(a => a.Kind == ActivityKind.Consumer && LinksTo(a, fanOut));
            return delivery is not null;
        }, "the fan-out span and the follower's delivery span linked to it");
        Assert.Equal("ClusterClient/Subscribe", fanOut!.DisplayName);
        Assert.Equal(emit!.SpanId, fanOut.ParentSpanId);
        Assert.Equal("deliver", fanOut.GetTagItem("clusterclient.operation"));
        Assert.Equal(1, fanOut.GetTagItem("clusterclient.subscribers"));
        Assert.Equal("ClusterClient/Subscribe", delivery!.DisplayName);
        Assert.Equal("follower", delivery.GetTagItem("clusterclient.role"));
    }

    [Fact]
    public void Subscribe_result_header_carries_the_trace_context_only_when_there_is_one_and_old_readers_skip_it()
    {
        const string parent = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01";
        var traced = new SubscribeResultHeader(3, 1, 0xABCD, 9, SubscriptionEventKind.Value, parent, "k=v");
        var bytes = Write(traced);
        Assert.Equal(7, new MessagePackReader(bytes).ReadArrayHeader());
        var reader = new MessagePackReader(bytes);
        Assert.Equal(traced, SubscribeResultHeader.Read(ref reader));

        var plain = new SubscribeResultHeader(3, 1, 0xABCD, 9, SubscriptionEventKind.Value);
        Assert.Equal(5, new MessagePackReader(Write(plain)).ReadArrayHeader());

        // A malformed context (wrong length, wrong type) counts as none; the rest of the header stands.
        var buffer = new ArrayBufferWriter<byte>();
        var writer = new MessagePackWriter(buffer);
        writer.WriteArrayHeader(7);
        writer.Write(3L);
        writer.Write(1);
        writer.Write(0xABCDu);
        writer.Write(9L);
        writer.Write((byte)SubscriptionEventKind.Value);
        writer.Write("00-short");
        writer.Write(12);
        writer.Flush();
        var malformed = new MessagePackReader(buffer.WrittenMemory);
        Assert.Equal(plain, SubscribeResultHeader.Read(ref malformed));
    }

    private static ReadOnlyMemory<byte> Write(SubscribeResultHeader header)
    {
        var buffer = new ArrayBufferWriter<byte>();
        var writer = new MessagePackWriter(buffer);
        header.Write(ref writer);
        writer.Flush();
        return buffer.WrittenMemory;
    }
}
