using StackExchange.Redis;

namespace ClusterSharing.Coordination.Redis;

/// <summary>
/// The StackExchange.Redis multiplexer of one election, connected on first use, and the pub/sub notifications of its
/// cluster name. Commands fail fast while Redis is unreachable (no backlog) and time out after
/// <see cref="RedisElectionSettings.RequestTimeout"/>, so nothing waits on a silent Redis for longer.
/// </summary>
internal sealed class RedisConnection : IAsyncDisposable
{
    private readonly RedisElectionSettings _settings;
    private readonly SemaphoreSlim _connectLock = new(1, 1);
    private readonly RedisChannel _channel;
    private TaskCompletionSource _changed = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private ConnectionMultiplexer? _multiplexer;
    private bool _subscribed;
    private bool _disposed;

    /// <param name="settings">The engine's settings.</param>
    /// <param name="channel">The pub/sub channel to wake on; the election's (<see cref="RedisElectionSettings.Channel"/>) when null.</param>
    public RedisConnection(RedisElectionSettings settings, string? channel = null)
    {
        _settings = settings;
        _channel = RedisChannel.Literal(channel ?? settings.Channel);
    }

    /// <summary>Completes at the next notification on the channel (or reconnection); capture it before a read, then wait on it.</summary>
    public Task Changed => Volatile.Read(ref _changed).Task;

    /// <summary>The database, connecting (and subscribing) first when needed.</summary>
    public async ValueTask<IDatabase> DatabaseAsync(CancellationToken cancellationToken)
    {
        var multiplexer = Volatile.Read(ref _multiplexer) ?? await ConnectAsync(cancellationToken).ConfigureAwait(false);
        if (!Volatile.Read(ref _subscribed))
        {
            // Resubscribed by the multiplexer after a reconnection; retried here until the first subscription worked.
            await multiplexer.GetSubscriber().SubscribeAsync(_channel, (_, _) => Notify()).WaitAsync(cancellationToken).ConfigureAwait(false);
            Volatile.Write(ref _subscribed, true);
        }
        return multiplexer.GetDatabase(_settings.Database);
    }

    /// <summary>Runs one script on the cluster's keys.</summary>
    public async Task<RedisResult[]> EvaluateAsync(string script, RedisKey[] keys, RedisValue[] values, CancellationToken cancellationToken)
    {
        var database = await DatabaseAsync(cancellationToken).ConfigureAwait(false);
        var result = await database.ScriptEvaluateAsync(script, keys, values).WaitAsync(cancellationToken).ConfigureAwait(false);
        return result.Resp2Type == ResultType.Array ? (RedisResult[])result! : [result];
    }

    /// <summary>Waits for <paramref name="changed"/> (captured before the read it follows) at most <paramref name="limit"/>; true when it fired.</summary>
    public static async Task<bool> WaitAsync(Task changed, TimeSpan limit, CancellationToken cancellationToken)
    {
        if (limit <= TimeSpan.Zero) return changed.IsCompleted;
        try
        {
            await changed.WaitAsync(limit, cancellationToken).ConfigureAwait(false);
            return true;
        }
        catch (TimeoutException)
        {
            return false;
        }
    }

    public async ValueTask DisposeAsync()
    {
        ConnectionMultiplexer? multiplexer;
        await _connectLock.WaitAsync().ConfigureAwait(false);
        try
        {
            _disposed = true;
            multiplexer = _multiplexer;
            _multiplexer = null;
        }
        finally
        {
            _connectLock.Release();
        }
        if (multiplexer is not null) await multiplexer.DisposeAsync().ConfigureAwait(false);
        Notify();
    }

    private void Notify() => Interlocked.Exchange(ref _changed, new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously)).TrySetResult();

    private async Task<ConnectionMultiplexer> ConnectAsync(CancellationToken cancellationToken)
    {
        await _connectLock.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            ObjectDisposedException.ThrowIf(_disposed, this);
            if (_multiplexer is { } existing) return existing;
            var multiplexer = await ConnectionMultiplexer.ConnectAsync(Configuration(_settings)).WaitAsync(cancellationToken).ConfigureAwait(false);
            // A restarted Redis lost the keys: wake whoever waits so it reads them again.
            multiplexer.ConnectionRestored += (_, _) => Notify();
            multiplexer.ConnectionFailed += (_, _) => Notify();
            Volatile.Write(ref _multiplexer, multiplexer);
            return multiplexer;
        }
        finally
        {
            _connectLock.Release();
        }
    }

    private static ConfigurationOptions Configuration(RedisElectionSettings settings)
    {
        int timeout = (int)settings.RequestTimeout.TotalMilliseconds;
        var options = new ConfigurationOptions
        {
            AbortOnConnectFail = false, // keep reconnecting in the background; the election reports Redis as unreachable meanwhile
            BacklogPolicy = BacklogPolicy.FailFast,
            ConnectTimeout = Math.Max(timeout, 1000),
            AsyncTimeout = timeout,
            SyncTimeout = timeout,
            ConnectRetry = 1,
            KeepAlive = Math.Max(1, (int)settings.RenewEvery.TotalSeconds),
            ReconnectRetryPolicy = new LinearRetry((int)Math.Min(settings.RenewEvery.TotalMilliseconds, 500)),
            DefaultDatabase = settings.Database,
            User = settings.User,
            Password = settings.Password,
            Ssl = settings.UseTls,
            SslHost = settings.TlsHost,
            ClientName = $"cluster-client-{Environment.ProcessId}",
        };
        foreach (var endpoint in settings.Endpoints) options.EndPoints.Add(endpoint);
        if (settings.TrustedCertificateAuthority is { } authority) options.TrustIssuer(authority);
        if (settings.ClientCertificate is { } client) options.CertificateSelection += (_, _, _, _, _) => client;
        return options;
    }
}
