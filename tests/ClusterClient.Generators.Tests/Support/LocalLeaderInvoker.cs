using ClusterSharing.Proxies;
using MessagePack.Formatters;

namespace ClusterSharing.Generators.Tests.Support;

/// <summary>
/// The invoker as the leader's own process sees it: <see cref="LocalTarget"/> is the real client, so proxies must call it
/// directly for invokes and oneways; every other member still goes through the (loopback) invoker.
/// </summary>
public sealed class LocalLeaderInvoker<T>(LoopbackInvoker<T> inner, T target) : IClusterInvoker<T> where T : class
{
    /// <summary>The real client.</summary>
    public T? LocalTarget => target;

    /// <summary>Members that reached the invoker instead of the local target.</summary>
    public List<string> Forwarded { get; } = [];

    public ValueTask<TResult> InvokeAsync<TArgs, TResult>(ClusterMethod method, in TArgs arguments, IMessagePackFormatter<TArgs> argumentsFormatter,
        IMessagePackFormatter<TResult> resultFormatter, CancellationToken cancellationToken)
    {
        Forwarded.Add(method.Name);
        return inner.InvokeAsync(method, arguments, argumentsFormatter, resultFormatter, cancellationToken);
    }

    public ValueTask InvokeAsync<TArgs>(ClusterMethod method, in TArgs arguments, IMessagePackFormatter<TArgs> argumentsFormatter, CancellationToken cancellationToken)
    {
        Forwarded.Add(method.Name);
        return inner.InvokeAsync(method, arguments, argumentsFormatter, cancellationToken);
    }

    public void InvokeOneway<TArgs>(ClusterMethod method, in TArgs arguments, IMessagePackFormatter<TArgs> argumentsFormatter)
    {
        Forwarded.Add(method.Name);
        inner.InvokeOneway(method, arguments, argumentsFormatter);
    }

    public void Publish<TArgs>(ClusterMethod method, in TArgs arguments, IMessagePackFormatter<TArgs> argumentsFormatter)
    {
        Forwarded.Add(method.Name);
        inner.Publish(method, arguments, argumentsFormatter);
    }

    public void Subscribe<TReg, TValue>(ClusterMethod method, TReg registration, IMessagePackFormatter<TReg> registrationFormatter,
        Action<TValue> listener, IMessagePackFormatter<TValue> valueFormatter)
    {
        Forwarded.Add(method.Name);
        inner.Subscribe(method, registration, registrationFormatter, listener, valueFormatter);
    }

    public ValueTask SubscribeAsync<TReg, TValue>(ClusterMethod method, TReg registration, IMessagePackFormatter<TReg> registrationFormatter,
        Action<TValue> listener, IMessagePackFormatter<TValue> valueFormatter, CancellationToken cancellationToken)
    {
        Forwarded.Add(method.Name);
        return inner.SubscribeAsync(method, registration, registrationFormatter, listener, valueFormatter, cancellationToken);
    }

    public ValueTask<IAsyncEnumerable<TValue>> SubscribeStreamAsync<TReg, TValue>(ClusterMethod method, TReg registration,
        IMessagePackFormatter<TReg> registrationFormatter, IMessagePackFormatter<TValue> valueFormatter, CancellationToken cancellationToken)
    {
        Forwarded.Add(method.Name);
        return inner.SubscribeStreamAsync(method, registration, registrationFormatter, valueFormatter, cancellationToken);
    }

    public void Unsubscribe<TReg, TValue>(ClusterMethod method, TReg registration, IMessagePackFormatter<TReg> registrationFormatter, Action<TValue>? listener)
    {
        Forwarded.Add(method.Name);
        inner.Unsubscribe(method, registration, registrationFormatter, listener);
    }

    public IAsyncEnumerable<TValue> SubscribeStream<TReg, TValue>(ClusterMethod method, TReg registration, IMessagePackFormatter<TReg> registrationFormatter,
        IMessagePackFormatter<TValue> valueFormatter, CancellationToken cancellationToken)
    {
        Forwarded.Add(method.Name);
        return inner.SubscribeStream(method, registration, registrationFormatter, valueFormatter, cancellationToken);
    }

    public void AddEventHandler<TValue>(ClusterMethod method, object sender, EventHandler<TValue> handler, IMessagePackFormatter<TValue> valueFormatter)
    {
        Forwarded.Add(method.Name);
        inner.AddEventHandler(method, sender, handler, valueFormatter);
    }

    public void RemoveEventHandler<TValue>(ClusterMethod method, EventHandler<TValue> handler)
    {
        Forwarded.Add(method.Name);
        inner.RemoveEventHandler(method, handler);
    }

    public ValueTask CloseAsync(ClusterMethod method)
    {
        Forwarded.Add(method.Name);
        return inner.CloseAsync(method);
    }
}
