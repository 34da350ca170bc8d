using MessagePack;
using MessagePack.Formatters;

namespace ClusterSharing.Proxies;

/// <summary>
/// Everything the runtime needs to share one contract interface: its methods, a follower proxy factory and the
/// leader-side dispatch onto the real client. Emitted by the source generator (and built at run time by the
/// Castle.Core fallback); registered in <see cref="ClusterContractRegistry"/>.
/// </summary>
/// <typeparam name="T">The contract interface.</typeparam>
public abstract class ClusterContract<T> where T : class
{
    private uint? _fingerprint;

    /// <summary>The default channel name (the interface's full name, or <see cref="ClusterDelegateAttribute.Name"/>).</summary>
    public abstract string Name { get; }

    /// <summary>
    /// Every member: the interface's own in declaration order, then those of each base interface sorted by canonical name
    /// (ordinal), each in declaration order. Generated and dynamic contracts list them alike.
    /// </summary>
    public abstract IReadOnlyList<ClusterMethod> Methods { get; }

    /// <summary>
    /// Identifies this version of the contract: FNV-1a over the sorted method ids. A follower sends it when it registers
    /// the channel and the leader refuses a different one, so processes built from different versions of the interface
    /// are told so instead of calling the wrong members. Tools that speak the protocol directly send the same value.
    /// </summary>
    public uint Fingerprint => _fingerprint ??= ComputeFingerprint(Methods);

    private static uint ComputeFingerprint(IReadOnlyList<ClusterMethod> methods)
    {
        var ids = new uint[methods.Count];
        for (int i = 0; i < ids.Length; i++) ids[i] = methods[i].Id;
        Array.Sort(ids);
        uint hash = 2166136261;
        foreach (uint id in ids)
        {
            for (int shift = 0; shift < 32; shift += 8)
            {
                hash ^= (id >> shift) & 0xFF;
                hash *= 16777619;
            }
        }
        return hash;
    }

    /// <summary>
    /// The contract's own formatters (its records, classes and structs, and the collections of them it uses), asked first in
    /// the resolver chain, before <see cref="ClusterClientOptions.SerializerOptions"/> and the standard resolver. Null when the
    /// contract brings none.
    /// </summary>
    public virtual IFormatterResolver? Resolver => null;

    /// <summary>Creates the proxy handed to user code; every member goes through <paramref name="invoker"/>.</summary>
    public abstract T CreateProxy(IClusterInvoker<T> invoker);

    /// <summary>
    /// Leader side of <see cref="ClusterMethodKind.Invoke"/>, <see cref="ClusterMethodKind.Oneway"/>,
    /// <see cref="ClusterMethodKind.Publish"/> and <see cref="ClusterMethodKind.Close"/>: reads the arguments
    /// synchronously (before the first await), calls <paramref name="target"/> and, for invokes, writes the result
    /// to <paramref name="reply"/>. Exceptions of the real call propagate through the returned task.
    /// </summary>
    /// <param name="target">The real client.</param>
    /// <param name="method">The method being called; one of <see cref="Methods"/>.</param>
    /// <param name="arguments">Reader positioned at the argument array.</param>
    /// <param name="options">The channel's serializer options (resolver chain and security).</param>
    /// <param name="reply">Where an invoke's result goes; ignored for the other kinds.</param>
    /// <param name="cancellationToken">Passed as the method's <see cref="CancellationToken"/> parameter, if it has one.</param>
    public abstract ValueTask DispatchAsync(T target, ClusterMethod method, ref MessagePackReader arguments, MessagePackSerializerOptions options, IReplyWriter reply, CancellationToken cancellationToken);

    /// <summary>
    /// Leader side of <see cref="ClusterMethodKind.Subscribe"/> (listener or async-stream form) and of
    /// <see cref="ClusterMethodKind.Event"/> (no registration: <paramref name="registration"/> is at an empty array).
    /// Subscribes <paramref name="target"/> once; each value goes to <paramref name="sink"/>.
    /// </summary>
    /// <returns>
    /// A token to pass to <see cref="Unsubscribe"/> (the listener delegate, or a handle that stops the stream); for an
    /// awaitable member (<see cref="ClusterMethod.Awaitable"/>) a <see cref="PendingSubscription"/> around that token.
    /// </returns>
    public abstract object Subscribe(T target, ClusterMethod method, ref MessagePackReader registration, MessagePackSerializerOptions options, ISubscriptionSink sink);

    /// <summary>
    /// Undoes <see cref="Subscribe"/>: calls the paired unsubscribe member with the same registration and listener,
    /// removes the event handler, or stops the stream. <paramref name="unsubscribeMethod"/> is null when the contract
    /// has no unsubscribe member for this subscription (then only streams and events can be stopped).
    /// </summary>
    /// <returns>False when nothing could be undone on the real client.</returns>
    public abstract bool Unsubscribe(T target, ClusterMethod subscribeMethod, ClusterMethod? unsubscribeMethod, ref MessagePackReader registration, MessagePackSerializerOptions options, object token);
}

/// <summary>
/// What <see cref="ClusterContract{T}.Subscribe"/> returns for an awaitable subscribe member (<see cref="ClusterMethod.Awaitable"/>):
/// the token that undoes the subscription, and the task of the real subscribe call. The leader counts the subscription as
/// held by its real client when <see cref="Attached"/> completes, and as failed when it faults.
/// </summary>
/// <param name="token">The token to pass to <see cref="ClusterContract{T}.Unsubscribe"/>.</param>
/// <param name="attached">The real subscribe member's task.</param>
public sealed class PendingSubscription(object token, Task attached)
{
    /// <summary>The token to pass to <see cref="ClusterContract{T}.Unsubscribe"/>.</summary>
    public object Token { get; } = token ?? throw new ArgumentNullException(nameof(token));

    /// <summary>The real subscribe member's task: completes once the real client holds the subscription.</summary>
    public Task Attached { get; } = attached ?? throw new ArgumentNullException(nameof(attached));
}

/// <summary>Receives an invoke's result on the leader and encodes it for the caller.</summary>
public interface IReplyWriter
{
    /// <summary>Writes the result value with <paramref name="formatter"/> and the channel's <paramref name="options"/>.</summary>
    void WriteResult<TResult>(TResult value, IMessagePackFormatter<TResult> formatter, MessagePackSerializerOptions options);

    /// <summary>Writes the completion of a method with no result.</summary>
    void WriteVoid();
}

/// <summary>Receives values of one real subscription (or event) on the leader.</summary>
public interface ISubscriptionSink
{
    /// <summary>Called by the real client's listener (any thread); the value is encoded at once with the channel's <paramref name="options"/>.</summary>
    void OnValue<TValue>(TValue value, IMessagePackFormatter<TValue> formatter, MessagePackSerializerOptions options);

    /// <summary>An async-stream subscription ended (with <paramref name="error"/> if it faulted).</summary>
    void OnCompleted(Exception? error);
}

/// <summary>
/// What a proxy calls. Implemented by the runtime; one per (process, contract). When this process leads,
/// <see cref="LocalTarget"/> is the real client and proxies call it directly for invokes and oneways.
/// </summary>
/// <typeparam name="T">The contract interface.</typeparam>
public interface IClusterInvoker<T> where T : class
{
    /// <summary>The real client when this process is the leader; otherwise null.</summary>
    T? LocalTarget { get; }

    /// <summary>Request/response with a result.</summary>
    ValueTask<TResult> InvokeAsync<TArgs, TResult>(ClusterMethod method, in TArgs arguments,
        IMessagePackFormatter<TArgs> argumentsFormatter, IMessagePackFormatter<TResult> resultFormatter, CancellationToken cancellationToken);

    /// <summary>Request/response without a result.</summary>
    ValueTask InvokeAsync<TArgs>(ClusterMethod method, in TArgs arguments,
        IMessagePackFormatter<TArgs> argumentsFormatter, CancellationToken cancellationToken);

    /// <summary>Fire-and-forget.</summary>
    void InvokeOneway<TArgs>(ClusterMethod method, in TArgs arguments, IMessagePackFormatter<TArgs> argumentsFormatter);

    /// <summary>A publication: sent to the leader's real client and re-published to a new leader after failover.</summary>
    void Publish<TArgs>(ClusterMethod method, in TArgs arguments, IMessagePackFormatter<TArgs> argumentsFormatter);

    /// <summary>Listener-form subscription.</summary>
    void Subscribe<TReg, TValue>(ClusterMethod method, TReg registration, IMessagePackFormatter<TReg> registrationFormatter,
        Action<TValue> listener, IMessagePackFormatter<TValue> valueFormatter);

    /// <summary>Removes <paramref name="listener"/> (or every listener when null) of the subscription paired with <paramref name="method"/>.</summary>
    void Unsubscribe<TReg, TValue>(ClusterMethod method, TReg registration, IMessagePackFormatter<TReg> registrationFormatter,
        Action<TValue>? listener);

    /// <summary>Async-stream subscription; ends when <paramref name="cancellationToken"/> fires.</summary>
    IAsyncEnumerable<TValue> SubscribeStream<TReg, TValue>(ClusterMethod method, TReg registration, IMessagePackFormatter<TReg> registrationFormatter,
        IMessagePackFormatter<TValue> valueFormatter, CancellationToken cancellationToken);

    /// <summary>
    /// Awaitable listener-form subscription: completes once the leader's real client holds the subscription (at once when
    /// this process already has it); fails when it cannot be had (the real subscribe threw, a leader limit refused it, the
    /// method's timeout passed, <paramref name="cancellationToken"/> fired, or the handle closed), and then the listener is
    /// not subscribed.
    /// </summary>
    ValueTask SubscribeAsync<TReg, TValue>(ClusterMethod method, TReg registration, IMessagePackFormatter<TReg> registrationFormatter,
        Action<TValue> listener, IMessagePackFormatter<TValue> valueFormatter, CancellationToken cancellationToken);

    /// <summary>
    /// Awaitable async-stream subscription: the stream is returned once the leader's real client holds the subscription
    /// (failures as <see cref="SubscribeAsync"/>); it ends when <paramref name="cancellationToken"/> fires or its consumer stops.
    /// </summary>
    ValueTask<IAsyncEnumerable<TValue>> SubscribeStreamAsync<TReg, TValue>(ClusterMethod method, TReg registration, IMessagePackFormatter<TReg> registrationFormatter,
        IMessagePackFormatter<TValue> valueFormatter, CancellationToken cancellationToken);

    /// <summary>Adds a handler of an <c>event EventHandler&lt;TValue&gt;</c> member; raised with <paramref name="sender"/> (the proxy).</summary>
    void AddEventHandler<TValue>(ClusterMethod method, object sender, EventHandler<TValue> handler, IMessagePackFormatter<TValue> valueFormatter);

    /// <summary>Removes a handler added by <see cref="AddEventHandler"/>.</summary>
    void RemoveEventHandler<TValue>(ClusterMethod method, EventHandler<TValue> handler);

    /// <summary>A <see cref="ClusterMethodKind.Close"/> member: closes this process's handle.</summary>
    ValueTask CloseAsync(ClusterMethod method);
}
