using System.Buffers;
using ClusterSharing.Proxies;
using ClusterSharing.Serialization;
using MessagePack;
using MessagePack.Formatters;
using Microsoft.Extensions.Logging;

namespace ClusterSharing.Leader;

/// <summary>What the leader's server needs of one hosted channel, whatever its contract type.</summary>
internal interface ILeaderChannel
{
    string Name { get; }

    /// <summary>Hash of every method id of the contract; a follower with another contract version is refused.</summary>
    uint Fingerprint { get; }

    ReadinessSignal Readiness { get; }

    bool TryGetMethod(uint id, out ClusterMethod method);

    /// <summary>Dispatches onto the real client; only valid while <see cref="Readiness"/> is ready.</summary>
    ValueTask DispatchAsync(ClusterMethod method, ref MessagePackReader arguments, IReplyWriter reply, CancellationToken cancellationToken);
}

/// <summary>
/// The real client of one channel in the leading process: built from the factory (retried with backoff while it
/// throws), dispatched onto for local and remote calls, disposed when the channel closes.
/// </summary>
internal sealed class LeaderChannel<T> : ILeaderChannel, ISubscriptionHost, IAsyncDisposable where T : class
{
    private static readonly TimeSpan FirstRetryDelay = TimeSpan.FromMilliseconds(50);
    private static readonly TimeSpan MaxRetryDelay = TimeSpan.FromSeconds(2);

    private readonly ClusterContract<T> _contract;
    private readonly MessagePackSerializerOptions _serializerOptions;
    private readonly Func<CancellationToken, ValueTask<T>> _factory;
    private readonly ILogger _logger;
    private readonly Dictionary<uint, ClusterMethod> _methods;
    private readonly CancellationTokenSource _disposed = new();
    private Task _creation = Task.CompletedTask;
    private T? _target;

    public LeaderChannel(string name, ClusterContract<T> contract, MessagePackSerializerOptions serializerOptions, Func<CancellationToken, ValueTask<T>> factory, ILogger logger,
        ReadinessSignal readiness)
    {
        Name = name;
        Readiness = readiness;
        _contract = contract;
        _serializerOptions = serializerOptions;
        _factory = factory;
        _logger = logger;
        _methods = MethodTable(contract);
        Fingerprint = contract.Fingerprint;
        Hub = new SubscriptionHub(name, id => _methods.GetValueOrDefault(id), SubscribeReal, UnsubscribeReal, CanUndo, logger);
    }

    public SubscriptionHub Hub { get; }

    private object? SubscribeReal(ClusterMethod method, byte[] registration, ISubscriptionSink sink)
    {
        var target = Target ?? throw new ClusterClientException($"The client of channel '{Name}' is not ready on the leader.");
        var reader = WireSerializer.CreateReader(new ReadOnlySequence<byte>(registration), DecodingLimits.UntrustedData);
        return _contract.Subscribe(target, method, ref reader, _serializerOptions, sink);
    }

    private bool UnsubscribeReal(ClusterMethod method, byte[] registration, object token)
    {
        var target = Target;
        if (target is null) return false;
        var reader = WireSerializer.CreateReader(new ReadOnlySequence<byte>(registration), DecodingLimits.UntrustedData);
        return _contract.Unsubscribe(target, method, PairedUnsubscribe(method), ref reader, _serializerOptions, token);
    }

    /// <summary>
    /// Events (<c>-=</c>) and streams (cancel) can always be undone; a listener-form subscription (its token is the
    /// listener delegate) only through a paired unsubscribe member.
    /// </summary>
    private bool CanUndo(ClusterMethod method, object token) =>
        method.Kind == ClusterMethodKind.Event || token is not Delegate || PairedUnsubscribe(method) is not null;

    private ClusterMethod? PairedUnsubscribe(ClusterMethod subscribe)
    {
        foreach (var candidate in _contract.Methods)
        {
            if (candidate.Kind == ClusterMethodKind.Unsubscribe && candidate.PairedId == subscribe.Id) return candidate;
        }
        return null;
    }

    public string Name { get; }

    public uint Fingerprint { get; }

    public ReadinessSignal Readiness { get; }

    /// <summary>The real client once the factory succeeded; null before and after disposal.</summary>
    public T? Target => Volatile.Read(ref _target);

    public ClusterContract<T> Contract => _contract;

    public static Dictionary<uint, ClusterMethod> MethodTable(ClusterContract<T> contract)
    {
        var table = new Dictionary<uint, ClusterMethod>(contract.Methods.Count);
        foreach (var method in contract.Methods)
        {
            if (!table.TryAdd(method.Id, method))
                throw new ClusterClientException($"Contract {typeof(T).FullName} has two members with the method id 0x{method.Id:x8} ('{table[method.Id].Name}' and '{method.Name}'); rename one of them.");
        }
        return table;
    }

    /// <summary>Starts building the real client in the background.</summary>
    public void Start() => _creation = Task.Run(CreateLoopAsync);

    public bool TryGetMethod(uint id, out ClusterMethod method) => _methods.TryGetValue(id, out method!);

    public ValueTask DispatchAsync(ClusterMethod method, ref MessagePackReader arguments, IReplyWriter reply, CancellationToken cancellationToken)
    {
        var target = Target ?? throw new ClusterClientException($"The client of channel '{Name}' is not ready on the leader.");
        try
        {
            // The arguments are read before the real call starts; the real call's own exceptions travel in the task.
            return _contract.DispatchAsync(target, method, ref arguments, _serializerOptions, reply, cancellationToken);
        }
        catch (Exception e) when (e is not MessagePackSerializationException and not ClusterClientException and not OperationCanceledException)
        {
            throw new MessagePackSerializationException($"The arguments of '{method.Name}' could not be read: {e.Message}", e);
        }
    }

    /// <summary>
    /// Dispatches a call made in this process through the invoker (the proxy calls the real client directly when it can;
    /// this path serves calls made before the client was ready). Arguments take one serialization round trip.
    /// </summary>
    public async ValueTask<TResult> InvokeLocalAsync<TArgs, TResult>(ClusterMethod method, TArgs arguments, IMessagePackFormatter<TArgs> argumentsFormatter,
        IMessagePackFormatter<TResult>? resultFormatter, CancellationToken cancellationToken)
    {
        var encoded = WireSerializer.ToBytes(arguments, argumentsFormatter, _serializerOptions);
        var reply = new BufferedReply();
        var reader = WireSerializer.CreateReader(new ReadOnlySequence<byte>(encoded), DecodingLimits.UntrustedData);
        var call = DispatchAsync(method, ref reader, reply, cancellationToken);
        await call.ConfigureAwait(false);
        if (resultFormatter is null) return default!;
        return WireSerializer.Decode(reply.Written, resultFormatter, _serializerOptions);
    }

    private async Task CreateLoopAsync()
    {
        var delay = FirstRetryDelay;
        var token = _disposed.Token;
        while (!token.IsCancellationRequested)
        {
            try
            {
                var client = await _factory(token).ConfigureAwait(false) ?? throw new InvalidOperationException("The client factory returned null.");
                if (token.IsCancellationRequested)
                {
                    await DisposeClientAsync(client).ConfigureAwait(false);
                    return;
                }
                Volatile.Write(ref _target, client);
                Hub.Activate();
                Readiness.SetReady();
                LeaderLog.ClientCreated(_logger, Name);
                return;
            }
            catch (OperationCanceledException) when (token.IsCancellationRequested)
            {
                return;
            }
            catch (Exception ex)
            {
                var error = LeaderChannelFailure.Factory(Name, ex);
                LeaderLog.FactoryFailed(_logger, Name, delay.TotalMilliseconds, ex);
                Readiness.SetFailed(error);
            }
            try
            {
                await Task.Delay(delay, token).ConfigureAwait(false);
            }
            catch (OperationCanceledException)
            {
                return;
            }
            delay = TimeSpan.FromTicks(Math.Min(delay.Ticks * 2, MaxRetryDelay.Ticks));
        }
    }

    public async ValueTask DisposeAsync()
    {
        if (_disposed.IsCancellationRequested) return;
        _disposed.Cancel();
        try
        {
            // A factory that hangs must not hang disposal; its client, if it ever returns, is disposed by the loop.
            await _creation.WaitAsync(TimeSpan.FromSeconds(10)).ConfigureAwait(false);
        }
        catch (Exception ex)
        {
            LeaderLog.ClientDisposeFailed(_logger, Name, ex);
        }
        Readiness.SetNotReady();
        Hub.Deactivate();
        var client = Interlocked.Exchange(ref _target, null);
        if (client is not null) await DisposeClientAsync(client).ConfigureAwait(false);
        _disposed.Dispose();
    }

    private async ValueTask DisposeClientAsync(T client)
    {
        try
        {
            if (client is IAsyncDisposable asyncDisposable) await asyncDisposable.DisposeAsync().ConfigureAwait(false);
            else if (client is IDisposable disposable) disposable.Dispose();
        }
        catch (Exception ex)
        {
            LeaderLog.ClientDisposeFailed(_logger, Name, ex);
        }
    }

    /// <summary>Collects an invoke's result bytes for the in-process path.</summary>
    private sealed class BufferedReply : IReplyWriter
    {
        private readonly ArrayBufferWriter<byte> _buffer = new(64);

        public ReadOnlyMemory<byte> Written => _buffer.WrittenMemory;

        public void WriteResult<TResult>(TResult value, IMessagePackFormatter<TResult> formatter, MessagePackSerializerOptions options)
        {
            var writer = new MessagePackWriter(_buffer);
            formatter.Serialize(ref writer, value, options);
            writer.Flush();
        }

        public void WriteVoid()
        {
            var writer = new MessagePackWriter(_buffer);
            writer.WriteNil();
            writer.Flush();
        }
    }
}

/// <summary>How a failing client factory is reported, identically in the leader and in every follower.</summary>
internal static class LeaderChannelFailure
{
    private const string CodeMarker = " (code ";

    /// <summary>
    /// The factory's failure as it travels to followers in the registration answer: <c>type: message</c>, or
    /// <c>type (code C): message</c> when <c>Exception.Data["Code"]</c> is set. A type name has no spaces or ": ", so
    /// <see cref="Factory(string, string?)"/> splits it back unambiguously.
    /// </summary>
    public static string Describe(Exception ex)
    {
        string type = ex.GetType().FullName ?? ex.GetType().Name;
        string? code = ex.Data["Code"]?.ToString();
        return code is null ? $"{type}: {ex.Message}" : $"{type}{CodeMarker}{code}): {ex.Message}";
    }

    /// <summary>The exception the leader's own waiters see: the factory's exception inside.</summary>
    public static ClusterFactoryException Factory(string channel, Exception error) =>
        new(channel, error.GetType().FullName ?? error.GetType().Name, error.Message, error.Data["Code"]?.ToString(), error);

    /// <summary>The exception a follower builds from <paramref name="failure"/> (written by <see cref="Describe"/>).</summary>
    public static ClusterFactoryException Factory(string channel, string? failure)
    {
        failure ??= "";
        int split = failure.IndexOf(": ", StringComparison.Ordinal);
        if (split <= 0) return new ClusterFactoryException(channel, "(unknown type)", failure, null);
        string head = failure[..split];
        string message = failure[(split + 2)..];
        int marker = head.IndexOf(CodeMarker, StringComparison.Ordinal);
        if (marker > 0 && head.EndsWith(')'))
            return new ClusterFactoryException(channel, head[..marker], message, head[(marker + CodeMarker.Length)..^1]);
        return head.Contains(' ', StringComparison.Ordinal)
            ? new ClusterFactoryException(channel, "(unknown type)", failure, null)
            : new ClusterFactoryException(channel, head, message, null);
    }
}
