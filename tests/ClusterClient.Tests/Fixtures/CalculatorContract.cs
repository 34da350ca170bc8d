using System.Collections.Concurrent;
using ClusterSharing.Proxies;
using ClusterSharing.Serialization;
using ClusterSharing.Serialization.Formatters;

namespace ClusterSharing.Tests.Fixtures;

/// <summary>The small contract the runtime tests share (a hand-written stand-in for generated code).</summary>
public interface ICalculator
{
    Task<int> AddAsync(int a, int b, CancellationToken cancellationToken = default);

    Task<string?> EchoAsync(string? text);

    /// <summary>Waits for the token; reports its cancellation to the real client's log.</summary>
    Task WaitForCancellationAsync(int id, CancellationToken cancellationToken);

    [Idempotent]
    Task<int> WhoAmIAsync();

    /// <summary>Like <see cref="WhoAmIAsync"/> but slow and not idempotent.</summary>
    Task<int> SlowWhoAmIAsync(int milliseconds);

    [Idempotent]
    Task<int> SlowIdempotentWhoAmIAsync(int milliseconds);

    Task FailAsync(string message);

    [Oneway]
    void Record(int value);

    void Subscribe(string topic, Action<int> listener);

    void Unsubscribe(string topic, Action<int>? listener);

    void Publish(string topic);

    event EventHandler<int> Ticked;
}

/// <summary>The real client: one instance per leader.</summary>
public sealed class Calculator : ICalculator, IDisposable
{
    private static int s_nextId;
    private readonly ConcurrentDictionary<string, List<Action<int>>> _listeners = new();

    public int Id { get; } = Interlocked.Increment(ref s_nextId);

    public ConcurrentQueue<int> Recorded { get; } = new();

    public ConcurrentQueue<string> Published { get; } = new();

    public ConcurrentDictionary<int, bool> Cancelled { get; } = new();

    public ConcurrentDictionary<int, bool> Started { get; } = new();

    private int _slowCallsStarted;

    public int SlowCallsStarted => Volatile.Read(ref _slowCallsStarted);

    public bool Disposed { get; private set; }

    public event EventHandler<int>? Ticked;

    public Task<int> AddAsync(int a, int b, CancellationToken cancellationToken = default) => Task.FromResult(a + b);

    public Task<string?> EchoAsync(string? text) => Task.FromResult(text);

    public async Task WaitForCancellationAsync(int id, CancellationToken cancellationToken)
    {
        Started[id] = true;
        try
        {
            await Task.Delay(Timeout.Infinite, cancellationToken);
        }
        catch (OperationCanceledException)
        {
            Cancelled[id] = true;
            throw;
        }
    }

    public Task<int> WhoAmIAsync() => Task.FromResult(Id);

    public async Task<int> SlowWhoAmIAsync(int milliseconds)
    {
        Interlocked.Increment(ref _slowCallsStarted);
        await Task.Delay(milliseconds);
        return Id;
    }

    public Task<int> SlowIdempotentWhoAmIAsync(int milliseconds) => SlowWhoAmIAsync(milliseconds);

    public Task FailAsync(string message) => Task.FromException(new InvalidOperationException(message) { Data = { ["Code"] = "E42" } });

    public void Record(int value) => Recorded.Enqueue(value);

    public void Subscribe(string topic, Action<int> listener)
    {
        var list = _listeners.GetOrAdd(topic, _ => new List<Action<int>>());
        lock (list) list.Add(listener);
    }

    public void Unsubscribe(string topic, Action<int>? listener)
    {
        if (!_listeners.TryGetValue(topic, out var list)) return;
        lock (list)
        {
            if (listener is null) list.Clear();
            else list.Remove(listener);
        }
    }

    public int ListenerCount(string topic)
    {
        if (!_listeners.TryGetValue(topic, out var list)) return 0;
        lock (list) return list.Count;
    }

    public void Emit(string topic, int value)
    {
        if (!_listeners.TryGetValue(topic, out var list)) return;
        Action<int>[] snapshot;
        lock (list) snapshot = [.. list];
        foreach (var listener in snapshot) listener(value);
    }

    public void RaiseTicked(int value) => Ticked?.Invoke(this, value);

    public void Publish(string topic) => Published.Enqueue(topic);

    public void Dispose() => Disposed = true;
}

/// <summary>Arguments as a MessagePack array, as generated code writes them.</summary>
internal sealed class ArgsFormatter<T1>(IMessagePackFormatter<T1> f1) : IMessagePackFormatter<ValueTuple<T1>>
{
    public void Serialize(ref MessagePackWriter writer, ValueTuple<T1> value)
    {
        writer.WriteArrayHeader(1);
        f1.Serialize(ref writer, value.Item1);
    }

    public ValueTuple<T1> Deserialize(ref MessagePackReader reader)
    {
        if (reader.ReadArrayHeader() != 1) throw new MessagePackSerializationException("expected 1 argument");
        return new ValueTuple<T1>(f1.Deserialize(ref reader));
    }
}

internal sealed class ArgsFormatter<T1, T2>(IMessagePackFormatter<T1> f1, IMessagePackFormatter<T2> f2) : IMessagePackFormatter<(T1, T2)>
{
    public void Serialize(ref MessagePackWriter writer, (T1, T2) value)
    {
        writer.WriteArrayHeader(2);
        f1.Serialize(ref writer, value.Item1);
        f2.Serialize(ref writer, value.Item2);
    }

    public (T1, T2) Deserialize(ref MessagePackReader reader)
    {
        if (reader.ReadArrayHeader() != 2) throw new MessagePackSerializationException("expected 2 arguments");
        return (f1.Deserialize(ref reader), f2.Deserialize(ref reader));
    }
}

internal sealed class NoArgsFormatter : IMessagePackFormatter<ValueTuple>
{
    public static readonly NoArgsFormatter Instance = new();

    public void Serialize(ref MessagePackWriter writer, ValueTuple value) => writer.WriteArrayHeader(0);

    public ValueTuple Deserialize(ref MessagePackReader reader)
    {
        int count = reader.ReadArrayHeader();
        for (int i = 0; i < count; i++) reader.Skip();
        return default;
    }
}

/// <summary>Hand-written <see cref="ClusterContract{T}"/> for <see cref="ICalculator"/>, following docs/wire-shapes.</summary>
internal sealed class CalculatorContract : ClusterContract<ICalculator>
{
    /// <summary>Lets <c>ClusterClient.Create&lt;ICalculator&gt;</c> find this contract as if it were generated.</summary>
    [System.Runtime.CompilerServices.ModuleInitializer]
    internal static void Register() => ClusterContractRegistry.Register(Instance);

    private static ClusterMethod M(string signature, string name, ClusterMethodKind kind, int timeout = 0, bool idempotent = false, uint paired = 0) =>
        new(ClusterMethodId.Compute(signature), name, signature, kind, timeout, idempotent, true, paired);

    public static readonly ClusterMethod Add = M("System.Threading.Tasks.Task<System.Int32> AddAsync(System.Int32,System.Int32)", "AddAsync", ClusterMethodKind.Invoke);
    public static readonly ClusterMethod Echo = M("System.Threading.Tasks.Task<System.String> EchoAsync(System.String)", "EchoAsync", ClusterMethodKind.Invoke);
    public static readonly ClusterMethod WaitForCancellation = M("System.Threading.Tasks.Task WaitForCancellationAsync(System.Int32)", "WaitForCancellationAsync", ClusterMethodKind.Invoke);
    public static readonly ClusterMethod WhoAmI = M("System.Threading.Tasks.Task<System.Int32> WhoAmIAsync()", "WhoAmIAsync", ClusterMethodKind.Invoke, idempotent: true);
    public static readonly ClusterMethod SlowWhoAmI = M("System.Threading.Tasks.Task<System.Int32> SlowWhoAmIAsync(System.Int32)", "SlowWhoAmIAsync", ClusterMethodKind.Invoke);
    public static readonly ClusterMethod SlowIdempotentWhoAmI = M("System.Threading.Tasks.Task<System.Int32> SlowIdempotentWhoAmIAsync(System.Int32)", "SlowIdempotentWhoAmIAsync", ClusterMethodKind.Invoke, idempotent: true);
    public static readonly ClusterMethod Fail = M("System.Threading.Tasks.Task FailAsync(System.String)", "FailAsync", ClusterMethodKind.Invoke);
    public static readonly ClusterMethod Record = M("void Record(System.Int32)", "Record", ClusterMethodKind.Oneway);
    public static readonly ClusterMethod SubscribeTopic = M("void Subscribe(System.String,System.Action<System.Int32>)", "Subscribe", ClusterMethodKind.Subscribe);
    public static readonly ClusterMethod UnsubscribeTopic = M("void Unsubscribe(System.String,System.Action<System.Int32>)", "Unsubscribe", ClusterMethodKind.Unsubscribe, paired: SubscribeTopic.Id);
    public static readonly ClusterMethod PublishTopic = M("void Publish(System.String)", "Publish", ClusterMethodKind.Publish);
    public static readonly ClusterMethod Ticked = M("event System.EventHandler<System.Int32> Ticked", "Ticked", ClusterMethodKind.Event);

    // Declared after the methods: static fields initialize in order.
    public static readonly CalculatorContract Instance = new();

    private static readonly ArgsFormatter<int, int> IntInt = new(Int32Formatter.Instance, Int32Formatter.Instance);
    private static readonly ArgsFormatter<int> OneInt = new(Int32Formatter.Instance);
    private static readonly ArgsFormatter<string?> OneString = new(StringFormatter.Instance);

    public override string Name => typeof(ICalculator).FullName!;

    public override IReadOnlyList<ClusterMethod> Methods { get; } =
        [Add, Echo, WaitForCancellation, WhoAmI, SlowWhoAmI, SlowIdempotentWhoAmI, Fail, Record, SubscribeTopic, UnsubscribeTopic, PublishTopic, Ticked];

    public override ICalculator CreateProxy(IClusterInvoker<ICalculator> invoker) => new Proxy(invoker);

    public override ValueTask DispatchAsync(ICalculator target, ClusterMethod method, ref MessagePackReader arguments, IReplyWriter reply, CancellationToken cancellationToken)
    {
        if (method.Id == Add.Id) { var (a, b) = IntInt.Deserialize(ref arguments); return Result(target.AddAsync(a, b, cancellationToken), reply, Int32Formatter.Instance); }
        if (method.Id == Echo.Id) { var (text, _) = (OneString.Deserialize(ref arguments).Item1, 0); return Result(target.EchoAsync(text), reply, StringFormatter.Instance); }
        if (method.Id == WaitForCancellation.Id) { int id = OneInt.Deserialize(ref arguments).Item1; return Void(target.WaitForCancellationAsync(id, cancellationToken), reply); }
        if (method.Id == WhoAmI.Id) { NoArgsFormatter.Instance.Deserialize(ref arguments); return Result(target.WhoAmIAsync(), reply, Int32Formatter.Instance); }
        if (method.Id == SlowWhoAmI.Id) { int ms = OneInt.Deserialize(ref arguments).Item1; return Result(target.SlowWhoAmIAsync(ms), reply, Int32Formatter.Instance); }
        if (method.Id == SlowIdempotentWhoAmI.Id) { int ms = OneInt.Deserialize(ref arguments).Item1; return Result(target.SlowIdempotentWhoAmIAsync(ms), reply, Int32Formatter.Instance); }
        if (method.Id == Fail.Id) { string message = OneString.Deserialize(ref arguments).Item1!; return Void(target.FailAsync(message), reply); }
        if (method.Id == Record.Id) { target.Record(OneInt.Deserialize(ref arguments).Item1); return default; }
        if (method.Id == PublishTopic.Id) { target.Publish(OneString.Deserialize(ref arguments).Item1!); return default; }
        throw new InvalidOperationException($"{method} cannot be dispatched.");
    }

    private static async ValueTask Result<T>(Task<T> task, IReplyWriter reply, IMessagePackFormatter<T> formatter) => reply.WriteResult(await task, formatter);

    private static async ValueTask Void(Task task, IReplyWriter reply)
    {
        await task;
        reply.WriteVoid();
    }

    public override object Subscribe(ICalculator target, ClusterMethod method, ref MessagePackReader registration, ISubscriptionSink sink)
    {
        if (method.Id == SubscribeTopic.Id)
        {
            string topic = StringFormatter.Instance.Deserialize(ref registration)!;
            Action<int> listener = value => sink.OnValue(value, Int32Formatter.Instance);
            target.Subscribe(topic, listener);
            return listener;
        }
        if (method.Id == Ticked.Id)
        {
            EventHandler<int> handler = (_, value) => sink.OnValue(value, Int32Formatter.Instance);
            target.Ticked += handler;
            return handler;
        }
        throw new InvalidOperationException($"{method} is not a subscription.");
    }

    public override bool Unsubscribe(ICalculator target, ClusterMethod subscribeMethod, ClusterMethod? unsubscribeMethod, ref MessagePackReader registration, object token)
    {
        if (subscribeMethod.Id == SubscribeTopic.Id)
        {
            string topic = StringFormatter.Instance.Deserialize(ref registration)!;
            target.Unsubscribe(topic, (Action<int>)token);
            return true;
        }
        if (subscribeMethod.Id == Ticked.Id)
        {
            target.Ticked -= (EventHandler<int>)token;
            return true;
        }
        return false;
    }

    private sealed class Proxy(IClusterInvoker<ICalculator> invoker) : ICalculator
    {
        public Task<int> AddAsync(int a, int b, CancellationToken cancellationToken = default) =>
            invoker.LocalTarget is { } target ? target.AddAsync(a, b, cancellationToken)
                : invoker.InvokeAsync(Add, (a, b), IntInt, Int32Formatter.Instance, cancellationToken).AsTask();

        public Task<string?> EchoAsync(string? text) =>
            invoker.LocalTarget is { } target ? target.EchoAsync(text)
                : invoker.InvokeAsync(Echo, new ValueTuple<string?>(text), OneString, StringFormatter.Instance, default).AsTask();

        public Task WaitForCancellationAsync(int id, CancellationToken cancellationToken) =>
            invoker.LocalTarget is { } target ? target.WaitForCancellationAsync(id, cancellationToken)
                : invoker.InvokeAsync(WaitForCancellation, new ValueTuple<int>(id), OneInt, cancellationToken).AsTask();

        public Task<int> WhoAmIAsync() =>
            invoker.LocalTarget is { } target ? target.WhoAmIAsync()
                : invoker.InvokeAsync(WhoAmI, default(ValueTuple), NoArgsFormatter.Instance, Int32Formatter.Instance, default).AsTask();

        public Task<int> SlowWhoAmIAsync(int milliseconds) =>
            invoker.LocalTarget is { } target ? target.SlowWhoAmIAsync(milliseconds)
                : invoker.InvokeAsync(SlowWhoAmI, new ValueTuple<int>(milliseconds), OneInt, Int32Formatter.Instance, default).AsTask();

        public Task<int> SlowIdempotentWhoAmIAsync(int milliseconds) =>
            invoker.LocalTarget is { } target ? target.SlowIdempotentWhoAmIAsync(milliseconds)
                : invoker.InvokeAsync(SlowIdempotentWhoAmI, new ValueTuple<int>(milliseconds), OneInt, Int32Formatter.Instance, default).AsTask();

    public Task FailAsync(string message) =>
            invoker.LocalTarget is { } target ? target.FailAsync(message)
                : invoker.InvokeAsync(Fail, new ValueTuple<string?>(message), OneString, default).AsTask();

        public void Record(int value)
        {
            if (invoker.LocalTarget is { } target) target.Record(value);
            else invoker.InvokeOneway(CalculatorContract.Record, new ValueTuple<int>(value), OneInt);
        }

        public void Subscribe(string topic, Action<int> listener) =>
            invoker.Subscribe(SubscribeTopic, topic, StringFormatter.Instance, listener, Int32Formatter.Instance);

        public void Unsubscribe(string topic, Action<int>? listener) =>
            invoker.Unsubscribe<string?, int>(UnsubscribeTopic, topic, StringFormatter.Instance, listener);

        public void Publish(string topic) => invoker.Publish(PublishTopic, new ValueTuple<string?>(topic), OneString);

        public event EventHandler<int> Ticked
        {
            add => invoker.AddEventHandler(CalculatorContract.Ticked, this, value, Int32Formatter.Instance);
            remove => invoker.RemoveEventHandler(CalculatorContract.Ticked, value);
        }
    }
}
