using ClusterSharing.Proxies;
using MessagePack.Formatters;

namespace ClusterSharing.Generators.Tests.Generator;

/// <summary>An invoker of a leader process: <see cref="LocalTarget"/> is the real client and any remote path is a test failure.</summary>
internal sealed class LocalTargetInvoker<T>(T target) : IClusterInvoker<T> where T : class
{
    public T? LocalTarget => target;

    private static Exception Remote(ClusterMethod method) =>
        new InvalidOperationException($"{method} went through the invoker although the real client is local.");

    public ValueTask<TResult> InvokeAsync<TArgs, TResult>(ClusterMethod method, in TArgs arguments, IMessagePackFormatter<TArgs> argumentsFormatter,
        IMessagePackFormatter<TResult> resultFormatter, CancellationToken cancellationToken) => throw Remote(method);

    public ValueTask InvokeAsync<TArgs>(ClusterMethod method, in TArgs arguments, IMessagePackFormatter<TArgs> argumentsFormatter, CancellationToken cancellationToken) =>
        throw Remote(method);

    public void InvokeOneway<TArgs>(ClusterMethod method, in TArgs arguments, IMessagePackFormatter<TArgs> argumentsFormatter) => throw Remote(method);

    public void Publish<TArgs>(ClusterMethod method, in TArgs arguments, IMessagePackFormatter<TArgs> argumentsFormatter) => throw Remote(method);

    public void Subscribe<TReg, TValue>(ClusterMethod method, TReg registration, IMessagePackFormatter<TReg> registrationFormatter,
        Action<TValue> listener, IMessagePackFormatter<TValue> valueFormatter) => throw Remote(method);

    public void Unsubscribe<TReg, TValue>(ClusterMethod method, TReg registration, IMessagePackFormatter<TReg> registrationFormatter, Action<TValue>? listener) =>
        throw Remote(method);

    public ValueTask SubscribeAsync<TReg, TValue>(ClusterMethod method, TReg registration, IMessagePackFormatter<TReg> registrationFormatter,
        Action<TValue> listener, IMessagePackFormatter<TValue> valueFormatter, CancellationToken cancellationToken) => throw Remote(method);

    public ValueTask<IAsyncEnumerable<TValue>> SubscribeStreamAsync<TReg, TValue>(ClusterMethod method, TReg registration,
        IMessagePackFormatter<TReg> registrationFormatter, IMessagePackFormatter<TValue> valueFormatter, CancellationToken cancellationToken) => throw Remote(method);

    public IAsyncEnumerable<TValue> SubscribeStream<TReg, TValue>(ClusterMethod method, TReg registration, IMessagePackFormatter<TReg> registrationFormatter,
        IMessagePackFormatter<TValue> valueFormatter, CancellationToken cancellationToken) => throw Remote(method);

    public void AddEventHandler<TValue>(ClusterMethod method, object sender, EventHandler<TValue> handler, IMessagePackFormatter<TValue> valueFormatter) =>
        throw Remote(method);

    public void RemoveEventHandler<TValue>(ClusterMethod method, EventHandler<TValue> handler) => throw Remote(method);

    public ValueTask CloseAsync(ClusterMethod method) => throw Remote(method);
}
