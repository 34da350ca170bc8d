using Microsoft.Extensions.Logging;
using StackExchange.Redis;

namespace ClusterSharing.Coordination.Redis;

/// <summary>
/// The members of one cluster on Redis: each member keeps a field of the hash <see cref="RedisElectionSettings.MembersKey"/>
/// (its presence record with an expiry on Redis's clock) alive, refreshed every quarter TTL and valid for three
/// quarters of it; every member reads the hash on each notification of <see cref="RedisElectionSettings.MembersChannel"/>
/// and every quarter TTL. A read removes expired fields and notifies, so a killed member is gone everywhere within
/// about one TTL of its last refresh; a closing member removes its field at once. One hash (one hash slot, like the
/// election's keys) gives the whole set in one atomic read, without SCAN.
/// </summary>
internal sealed class RedisMemberRegistry : IMemberRegistry
{
    private readonly RedisElectionSettings _settings;
    private readonly ILogger _logger;
    private readonly RedisConnection _connection;
    private readonly RedisKey[] _keys;
    private readonly CancellationTokenSource _stop = new();
    private TaskCompletionSource _updated = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private byte[] _record = [];
    private string _id = "";
    private bool _registered;
    private int _dirty;
    private Task _loop = Task.CompletedTask;
    private int _disposed;

    public RedisMemberRegistry(RedisElectionSettings settings, ILogger logger)
    {
        _settings = settings;
        _logger = logger;
        _connection = new RedisConnection(settings, settings.MembersChannel);
        _keys = [settings.MembersKey];
        Description = $"Redis {settings.EndpointList} key {settings.MembersKey}";
    }

    public static RedisMemberRegistry FromOptions(ClusterClientOptions options, ILogger logger) =>
        new(RedisElectionSettings.FromOptions(options, null), logger);

    /// <inheritdoc/>
    public string Description { get; }

    /// <summary>How long a member's field stays valid after a refresh: three quarters of the TTL (two refreshes may fail).</summary>
    private long LifetimeMs => (long)(_settings.LeaseTtl - _settings.RenewEvery).TotalMilliseconds;

    /// <inheritdoc/>
    public void Start(string id, ReadOnlyMemory<byte> record, Action<IReadOnlyCollection<MemberRegistration>> changed)
    {
        _id = id;
        Volatile.Write(ref _record, record.ToArray());
        _loop = Task.Run(() => RunAsync(changed));
    }

    /// <inheritdoc/>
    public void Update(ReadOnlyMemory<byte> record)
    {
        Volatile.Write(ref _record, record.ToArray());
        Interlocked.Exchange(ref _dirty, 1);
        Interlocked.Exchange(ref _updated, new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously)).TrySetResult();
    }

    private async Task RunAsync(Action<IReadOnlyCollection<MemberRegistration>> changed)
    {
        var stop = _stop.Token;
        Dictionary<string, MemberRegistration>? reported = null;
        long nextRegistration = 0;
        while (!stop.IsCancellationRequested)
        {
            try
            {
                var notified = _connection.Changed; // before the read: a change after it wakes the wait below
                var updated = Volatile.Read(ref _updated).Task;
                if (Interlocked.Exchange(ref _dirty, 0) == 1 || Environment.TickCount64 >= nextRegistration)
                {
                    await _connection.EvaluateAsync(RedisScripts.MemberRegister, _keys,
                        [_id, LifetimeMs, Volatile.Read(ref _record), _settings.MembersChannel], stop).ConfigureAwait(false);
                    _registered = true;
                    nextRegistration = Environment.TickCount64 + (long)_settings.RenewEvery.TotalMilliseconds;
                }
                var list = await _connection.EvaluateAsync(RedisScripts.MemberList, _keys, [_settings.MembersChannel], stop).ConfigureAwait(false);
                var members = new Dictionary<string, MemberRegistration>(StringComparer.Ordinal);
                for (int i = 0; i + 2 < list.Length; i += 3)
                {
                    string id = (string?)list[i] ?? "";
                    if (id.Length == 0 || !long.TryParse((string?)list[i + 1], out long version)) continue;
                    members[id] = new MemberRegistration(id, version, (byte[]?)list[i + 2] ?? []);
                }
                if (reported is null || !Same(reported, members))
                {
                    reported = members;
                    changed(members.Values.ToArray());
                }
                long wait = Math.Max(1, nextRegistration - Environment.TickCount64);
                await Task.WhenAny(notified, updated, Task.Delay(TimeSpan.FromMilliseconds(wait), stop)).ConfigureAwait(false);
            }
            catch (Exception) when (stop.IsCancellationRequested)
            {
                return;
            }
            catch (Exception e)
            {
                MemberRegistryLog.RegistrationFailed(_logger, Description, e.Message, e);
                try
                {
                    await Task.Delay(TimeSpan.FromTicks(Math.Min(_settings.RenewEvery.Ticks, TimeSpan.FromMilliseconds(250).Ticks)), stop).ConfigureAwait(false);
                }
                catch (OperationCanceledException)
                {
                    return;
                }
            }
        }
    }

    private static bool Same(Dictionary<string, MemberRegistration> a, Dictionary<string, MemberRegistration> b)
    {
        if (a.Count != b.Count) return false;
        foreach (var (id, entry) in a)
        {
            if (!b.TryGetValue(id, out var other) || other.Version != entry.Version || !other.Record.Span.SequenceEqual(entry.Record.Span)) return false;
        }
        return true;
    }

    /// <summary>Stops the loop and removes this member's field, so it goes at once (else it expires).</summary>
    public async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0) return;
        _stop.Cancel();
        await _loop.ConfigureAwait(false);
        if (_registered)
        {
            try
            {
                using var timeout = new CancellationTokenSource(_settings.RequestTimeout);
                await _connection.EvaluateAsync(RedisScripts.MemberLeave, _keys, [_id, _settings.MembersChannel], timeout.Token).ConfigureAwait(false);
            }
            catch (Exception e) when (e is RedisException or TimeoutException or OperationCanceledException)
            {
                // The field expires.
            }
        }
        await _connection.DisposeAsync().ConfigureAwait(false);
        _stop.Dispose();
    }
}
