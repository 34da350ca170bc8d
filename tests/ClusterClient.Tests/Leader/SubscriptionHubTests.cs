using System.Collections.Concurrent;
using ClusterSharing.Leader;
using ClusterSharing.Proxies;
using ClusterSharing.Serialization;
using ClusterSharing.Tests.Fixtures;
using MessagePack;
using Microsoft.Extensions.Logging.Abstractions;

namespace ClusterSharing.Tests.Leader;

/// <summary>The leader's hub on its own: one real subscription per key, fan-out, one-of-N, last-value replay, and what the last leaver does.</summary>
public sealed class SubscriptionHubTests
{
    private static readonly ClusterMethod Broadcast = new(1, "Subscribe", "void Subscribe(System.String,System.Action<System.Int32>)", ClusterMethodKind.Subscribe);
    private static readonly ClusterMethod OneOfN = new(2, "SubscribeWork", "void SubscribeWork(System.String,System.Action<System.Int32>)", ClusterMethodKind.Subscribe, broadcast: false);
    private static readonly ClusterMethod Ticked = new(3, "Ticked", "event System.EventHandler<System.Int32> Ticked", ClusterMethodKind.Event);
    private static readonly byte[] Topic = [0xa1, (byte)'t'];

    /// <summary>A real client double: records subscriptions, lets the test emit into their sinks.</summary>
    private sealed class RealClient
    {
        public readonly List<(ClusterMethod Method, ISubscriptionSink Sink)> Subscriptions = new();
        public int Unsubscribed;

        public void Emit(ClusterMethod method, int value)
        {
            foreach (var (m, sink) in Subscriptions.ToArray())
            {
                if (m == method) sink.OnValue(value, ResolvedFormatter<int>.Instance, WireSerializer.Standard);
            }
        }
    }

    private sealed class Subscriber(object owner, long id) : ISubscriber
    {
        public readonly ConcurrentQueue<int> Values = new();
        public Exception? Completed;
        public int Attachments;

        public object? Owner => owner;

        public long SubscriptionId => id;

        public void Deliver(ReadOnlySpan<byte> value)
        {
            Values.Enqueue(WireSerializer.Decode(value.ToArray(), ResolvedFormatter<int>.Instance, WireSerializer.Standard));
        }

        public void Complete(Exception? error) => Completed = error ?? new OperationCanceledException("completed");

        public void Attached() => Interlocked.Increment(ref Attachments);
    }

    private static (SubscriptionHub Hub, RealClient Real) CreateHub(bool pairedUnsubscribe)
    {
        var real = new RealClient();
        var methods = new[] { Broadcast, OneOfN, Ticked }.ToDictionary(m => m.Id);
        var hub = new SubscriptionHub("test", id => methods.GetValueOrDefault(id),
            (method, _, sink) =>
            {
                lock (real.Subscriptions) real.Subscriptions.Add((method, sink));
                // A listener delegate as token, like the listener form of generated code.
                return new Action<int>(_ => { });
            },
            (method, _, _) =>
            {
                if (method.Kind == ClusterMethodKind.Subscribe && !pairedUnsubscribe) return false;
                lock (real.Subscriptions) real.Subscriptions.RemoveAll(s => s.Method == method);
                real.Unsubscribed++;
                return true;
            },
            (method, _) => method.Kind == ClusterMethodKind.Event || pairedUnsubscribe,
            NullLogger.Instance);
        hub.Activate();
        return (hub, real);
    }

    [Fact]
    public void Every_subscriber_gets_every_value_in_order_through_one_real_subscription()
    {
        var (hub, real) = CreateHub(pairedUnsubscribe: true);
        var subscribers = Enumerable.Range(1, 4).Select(i => new Subscriber(new object(), i)).ToArray();
        foreach (var s in subscribers) hub.Add(Broadcast.Id, Topic, s);
        Assert.Single(real.Subscriptions);
        for (int i = 0; i < 100; i++) real.Emit(Broadcast, i);
        Assert.All(subscribers, s => Assert.Equal(Enumerable.Range(0, 100), s.Values));
    }

    [Fact]
    public void A_late_subscriber_gets_the_last_value_once_then_new_values()
    {
        var (hub, real) = CreateHub(pairedUnsubscribe: true);
        hub.Add(Broadcast.Id, Topic, new Subscriber(new object(), 1));
        real.Emit(Broadcast, 1);
        real.Emit(Broadcast, 2);
        var late = new Subscriber(new object(), 2);
        hub.Add(Broadcast.Id, Topic, late);
        // The same subscription sent again (a re-subscribe racing a new call) is not replayed twice.
        hub.Add(Broadcast.Id, Topic, late);
        real.Emit(Broadcast, 3);
        Assert.Equal([2, 3], late.Values);
    }

    [Fact]
    public void Events_are_not_replayed_to_a_late_handler()
    {
        var (hub, real) = CreateHub(pairedUnsubscribe: true);
        hub.Add(Ticked.Id, [0x90], new Subscriber(new object(), 1));
        real.Emit(Ticked, 7);
        var late = new Subscriber(new object(), 2);
        hub.Add(Ticked.Id, [0x90], late);
        Assert.Empty(late.Values);
        real.Emit(Ticked, 8);
        Assert.Equal([8], late.Values);
    }

    [Fact]
    public void A_one_of_N_subscription_gives_each_value_to_one_subscriber_in_turn()
    {
        var (hub, real) = CreateHub(pairedUnsubscribe: true);
        var subscribers = Enumerable.Range(1, 3).Select(i => new Subscriber(new object(), i)).ToArray();
        foreach (var s in subscribers) hub.Add(OneOfN.Id, Topic, s);
        for (int i = 0; i < 30; i++) real.Emit(OneOfN, i);
        Assert.Equal(30, subscribers.Sum(s => s.Values.Count));
        Assert.All(subscribers, s => Assert.Equal(10, s.Values.Count));
        Assert.Equal(Enumerable.Range(0, 30), subscribers.SelectMany(s => s.Values).Order());
        // No replay for one-of-N: the value was already taken by someone.
        var late = new Subscriber(new object(), 9);
        hub.Add(OneOfN.Id, Topic, late);
        Assert.Empty(late.Values);
    }

    [Fact]
    public void The_last_leaver_unsubscribes_the_real_client_when_the_contract_has_a_paired_unsubscribe()
    {
        var (hub, real) = CreateHub(pairedUnsubscribe: true);
        var owner = new object();
        hub.Add(Broadcast.Id, Topic, new Subscriber(owner, 1));
        hub.Add(Broadcast.Id, Topic, new Subscriber(owner, 2));
        hub.Remove(Broadcast.Id, Topic, owner, 1);
        Assert.Equal(0, real.Unsubscribed);
        hub.RemoveAll(owner);
        Assert.Equal(1, real.Unsubscribed);
        Assert.Empty(real.Subscriptions);
        Assert.Equal(0, hub.Count);
    }

    [Fact]
    public void Without_a_paired_unsubscribe_the_key_stays_idle_with_its_cache_and_is_reused()
    {
        var (hub, real) = CreateHub(pairedUnsubscribe: false);
        var first = new Subscriber(new object(), 1);
        hub.Add(Broadcast.Id, Topic, first);
        real.Emit(Broadcast, 5);
        hub.Remove(Broadcast.Id, Topic, first.Owner, 1);
        Assert.Equal(1, hub.Count);
        real.Emit(Broadcast, 6); // nobody listens; the cache follows
        var again = new Subscriber(new object(), 2);
        hub.Add(Broadcast.Id, Topic, again);
        Assert.Single(real.Subscriptions); // not subscribed a second time
        Assert.Equal([6], again.Values);
    }

    [Fact]
    public void An_unknown_member_id_completes_the_subscriber_with_a_clear_error()
    {
        var (hub, _) = CreateHub(pairedUnsubscribe: true);
        var subscriber = new Subscriber(new object(), 1);
        hub.Add(0xdeadbeef, Topic, subscriber);
        var error = Assert.IsType<ClusterClientException>(subscriber.Completed);
        Assert.Contains("0xdeadbeef", error.Message);
        Assert.Equal(0, hub.Count);
    }

    private static readonly ClusterMethod Awaited = new(4, "SubscribeAwaited", "System.Threading.Tasks.Task SubscribeAwaited(System.String,System.Action<System.Int32>)",
        ClusterMethodKind.Subscribe, awaitable: true);

    /// <summary>A hub whose real subscribe is asynchronous: it holds the listener when <paramref name="attached"/> completes.</summary>
    private static SubscriptionHub CreateAwaitingHub(Task attached, List<ISubscriptionSink> sinks) =>
        CreateActive(new SubscriptionHub("test", id => id == Awaited.Id ? Awaited : null,
            (method, _, sink) =>
            {
                lock (sinks) sinks.Add(sink);
                return new PendingSubscription(new Action<int>(_ => { }), attached);
            },
            (_, _, _) => true, (_, _) => true, NullLogger.Instance));

    private static SubscriptionHub CreateActive(SubscriptionHub hub)
    {
        hub.Activate();
        return hub;
    }

    [Fact]
    public async Task An_awaitable_subscriber_is_told_attached_only_when_the_real_subscribe_task_completes()
    {
        var real = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var hub = CreateAwaitingHub(real.Task, []);
        var first = new Subscriber(new object(), 1);
        hub.Add(Awaited.Id, Topic, first);
        Assert.Equal(0, first.Attachments);

        real.SetResult();
        await TestCluster.WaitUntilAsync(() => Volatile.Read(ref first.Attachments) == 1, "the attachment");
        // Joining a key the real client already holds: attached at once, and the first one is not told again.
        var second = new Subscriber(new object(), 2);
        hub.Add(Awaited.Id, Topic, second);
        Assert.Equal(1, second.Attachments);
        Assert.Equal(1, first.Attachments);
    }

    [Fact]
    public async Task A_failed_real_subscribe_task_ends_every_awaiting_subscriber_with_its_error()
    {
        var real = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var hub = CreateAwaitingHub(real.Task, []);
        var subscriber = new Subscriber(new object(), 1);
        hub.Add(Awaited.Id, Topic, subscriber);
        real.SetException(new InvalidOperationException("no such topic"));
        await TestCluster.WaitUntilAsync(() => Volatile.Read(ref subscriber.Completed) is not null, "the failure");
        Assert.Equal("no such topic", Assert.IsType<InvalidOperationException>(subscriber.Completed).Message);
        Assert.Equal(0, subscriber.Attachments);
        Assert.Equal(0, hub.Count);
    }

    [Fact]
    public void Void_subscribe_members_are_never_told_attached()
    {
        var (hub, _) = CreateHub(pairedUnsubscribe: true);
        var subscriber = new Subscriber(new object(), 1);
        hub.Add(Broadcast.Id, Topic, subscriber);
        hub.Add(Broadcast.Id, Topic, new Subscriber(new object(), 2));
        Assert.Equal(0, subscriber.Attachments);
    }
}
