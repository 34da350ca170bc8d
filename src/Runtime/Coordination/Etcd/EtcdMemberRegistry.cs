using Etcdserverpb;
using Google.Protobuf;
using Grpc.Core;
using Microsoft.Extensions.Logging;

namespace ClusterSharing.Coordination.Etcd;

/// <summary>
/// The members of one cluster on etcd: each member puts the key <c>{KeyPrefix}/{ClusterName}/members/{id}</c> (its
/// presence record) bound to a lease of its own, kept alive every quarter TTL; every member reads the prefix and watches
/// it. A killed member's key goes when its lease expires (the TTL); a closing member revokes its lease, so its key goes
/// at once. The version of an entry is its key's create revision: a member whose lease expired and that registers again
/// is a new registration.
/// </summary>
internal sealed class EtcdMemberRegistry : IMemberRegistry
{
    private readonly EtcdElectionSettings _settings;
    private readonly ILogger _logger;
    private readonly EtcdConnection _connection;
    private readonly ByteString _prefix;
    private readonly ByteString _prefixEnd;
    private readonly CancellationTokenSource _stop = new();
    private readonly SemaphoreSlim _updated = new(0, 1);
    private byte[] _record = [];
    private string _id = "";
    private long _lease;
    private Task _loops = Task.CompletedTask;
    private int _disposed;

    public EtcdMemberRegistry(EtcdElectionSettings settings, ILogger logger)
    {
        _settings = settings;
        _logger = logger;
        _connection = new EtcdConnection(settings);
        _prefix = ByteString.CopyFromUtf8(settings.MembersPrefix);
        _prefixEnd = PrefixEnd(_prefix);
        Description = $"etcd {settings.EndpointList} prefix {settings.MembersPrefix}";
    }

    public static EtcdMemberRegistry FromOptions(ClusterClientOptions options, ILogger logger) =>
        new(EtcdElectionSettings.FromOptions(options, null), logger);

    /// <inheritdoc/>
    public string Description { get; }

    /// <inheritdoc/>
    public void Start(string id, ReadOnlyMemory<byte> record, Action<IReadOnlyCollection<MemberRegistration>> changed)
    {
        _id = id;
        Volatile.Write(ref _record, record.ToArray());
        _loops = Task.WhenAll(Task.Run(RegisterLoopAsync), Task.Run(() => WatchLoopAsync(changed)));
    }

    /// <inheritdoc/>
    public void Update(ReadOnlyMemory<byte> record)
    {
        Volatile.Write(ref _record, record.ToArray());
        try
        {
            if (_updated.CurrentCount == 0) _updated.Release();
        }
        catch (SemaphoreFullException)
        {
            // Already signalled.
        }
        catch (ObjectDisposedException)
        {
            // Closing.
        }
    }

    private ByteString Key => ByteString.CopyFromUtf8(_settings.MembersPrefix + _id);

    /// <summary>Grants a lease, puts the key under it, keeps the lease alive and re-puts on updates; a lost lease starts over.</summary>
    private async Task RegisterLoopAsync()
    {
        var stop = _stop.Token;
        while (!stop.IsCancellationRequested)
        {
            EtcdConnection.Channel? channel = null;
            try
            {
                (channel, var options) = await _connection.UnaryAsync(stop).ConfigureAwait(false);
                var lease = await channel.Lease.LeaseGrantAsync(new LeaseGrantRequest { TTL = (long)Math.Ceiling(_settings.LeaseTtl.TotalSeconds) }, options)
                    .ResponseAsync.ConfigureAwait(false);
                if (!string.IsNullOrEmpty(lease.Error)) throw new IOException($"etcd refused a lease: {lease.Error}");
                Interlocked.Exchange(ref _lease, lease.ID);
                await PutAsync(lease.ID, stop).ConfigureAwait(false);
                await KeepAliveAsync(lease.ID, stop).ConfigureAwait(false);
            }
            catch (Exception) when (stop.IsCancellationRequested)
            {
                return;
            }
            catch (Exception e)
            {
                if (channel is not null) _connection.Failed(channel, e);
                MemberRegistryLog.RegistrationFailed(_logger, Description, Describe(e), e);
                if (!await PauseAsync(stop).ConfigureAwait(false)) return;
            }
        }
    }

    private async Task PutAsync(long lease, CancellationToken stop)
    {
        var (channel, options) = await _connection.UnaryAsync(stop).ConfigureAwait(false);
        try
        {
            await channel.KV.PutAsync(new PutRequest { Key = Key, Value = ByteString.CopyFrom(Volatile.Read(ref _record)), Lease = lease }, options)
                .ResponseAsync.ConfigureAwait(false);
        }
        catch (Exception e) when (!stop.IsCancellationRequested)
        {
            _connection.Failed(channel, e);
            throw;
        }
    }

    /// <summary>Keeps <paramref name="lease"/> alive until it is lost (returns) or the stream fails (throws); puts the record again when it changes.</summary>
    private async Task KeepAliveAsync(long lease, CancellationToken stop)
    {
        var (channel, options) = await _connection.StreamAsync(stop).ConfigureAwait(false);
        using var call = channel.Lease.LeaseKeepAlive(options);
        var request = new LeaseKeepAliveRequest { ID = lease };
        try
        {
            while (true)
            {
                await call.RequestStream.WriteAsync(request, stop).ConfigureAwait(false);
                using (var timeout = CancellationTokenSource.CreateLinkedTokenSource(stop))
                {
                    timeout.CancelAfter(_settings.LeaseTtl);
                    if (!await call.ResponseStream.MoveNext(timeout.Token).ConfigureAwait(false)) throw new IOException("etcd closed the keep-alive stream.");
                }
                if (call.ResponseStream.Current.TTL <= 0) return; // expired (say etcd was unreachable for a TTL): register anew
                if (await _updated.WaitAsync(_settings.RenewEvery, stop).ConfigureAwait(false)) await PutAsync(lease, stop).ConfigureAwait(false);
            }
        }
        catch (Exception e) when (!stop.IsCancellationRequested)
        {
            _connection.Failed(channel, e);
            throw;
        }
    }

    /// <summary>Reads every member key, then watches the prefix from there; reports the whole set after each change.</summary>
    private async Task WatchLoopAsync(Action<IReadOnlyCollection<MemberRegistration>> changed)
    {
        var stop = _stop.Token;
        while (!stop.IsCancellationRequested)
        {
            EtcdConnection.Channel? channel = null;
            try
            {
                (channel, var options) = await _connection.UnaryAsync(stop).ConfigureAwait(false);
                var range = await channel.KV.RangeAsync(new RangeRequest { Key = _prefix, RangeEnd = _prefixEnd }, options).ResponseAsync.ConfigureAwait(false);
                var members = new Dictionary<string, MemberRegistration>(StringComparer.Ordinal);
                foreach (var kv in range.Kvs) Put(members, kv);
                changed(members.Values.ToArray());

                (channel, var streamOptions) = await _connection.StreamAsync(stop).ConfigureAwait(false);
                using var call = channel.Watch.Watch(streamOptions);
                await call.RequestStream.WriteAsync(new WatchRequest
                {
                    CreateRequest = new WatchCreateRequest { Key = _prefix, RangeEnd = _prefixEnd, StartRevision = range.Header.Revision + 1 },
                }, stop).ConfigureAwait(false);
                while (await call.ResponseStream.MoveNext(stop).ConfigureAwait(false))
                {
                    var response = call.ResponseStream.Current;
                    if (response.CompactRevision > 0) break; // history gone: read the keys again
                    if (response.Canceled) throw new IOException($"etcd cancelled the watch ({response.CancelReason}).");
                    if (response.Events.Count == 0) continue;
                    foreach (var e in response.Events)
                    {
                        if (e.Type == Mvccpb.Event.Types.EventType.Delete) members.Remove(IdOf(e.Kv.Key));
                        else Put(members, e.Kv);
                    }
                    changed(members.Values.ToArray());
                }
            }
            catch (Exception) when (stop.IsCancellationRequested)
            {
                return;
            }
            catch (Exception e)
            {
                if (channel is not null && e is RpcException or IOException or HttpRequestException) _connection.Failed(channel, e);
                MemberRegistryLog.WatchFailed(_logger, Description, Describe(e), e);
            }
            if (!await PauseAsync(stop).ConfigureAwait(false)) return;
        }
    }

    private void Put(Dictionary<string, MemberRegistration> members, Mvccpb.KeyValue kv)
    {
        string id = IdOf(kv.Key);
        if (id.Length == 0 || id.Contains('/')) return;
        members[id] = new MemberRegistration(id, kv.CreateRevision, kv.Value.Memory);
    }

    private string IdOf(ByteString key) => key.Length > _prefix.Length ? key.ToStringUtf8()[_settings.MembersPrefix.Length..] : "";

    /// <summary>The end of the range of keys that start with <paramref name="prefix"/> (the prefix with its last byte plus one).</summary>
    private static ByteString PrefixEnd(ByteString prefix)
    {
        byte[] end = prefix.ToByteArray();
        for (int i = end.Length - 1; i >= 0; i--)
        {
            if (end[i] < 0xff)
            {
                end[i]++;
                return ByteString.CopyFrom(end, 0, i + 1);
            }
        }
        return ByteString.CopyFrom(0);
    }

    private async Task<bool> PauseAsync(CancellationToken stop)
    {
        try
        {
            await Task.Delay(TimeSpan.FromTicks(Math.Min(_settings.RenewEvery.Ticks, TimeSpan.FromMilliseconds(250).Ticks)), stop).ConfigureAwait(false);
            return true;
        }
        catch (OperationCanceledException)
        {
            return false;
        }
    }

    /// <summary>Stops the loops and revokes the lease, so the key goes at once (else it goes with the TTL).</summary>
    public async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0) return;
        _stop.Cancel();
        await _loops.ConfigureAwait(false);
        long lease = Interlocked.Read(ref _lease);
        if (lease != 0)
        {
            try
            {
                using var timeout = new CancellationTokenSource(_settings.RequestTimeout);
                var (channel, options) = await _connection.UnaryAsync(timeout.Token).ConfigureAwait(false);
                await channel.Lease.LeaseRevokeAsync(new LeaseRevokeRequest { ID = lease }, options).ResponseAsync.ConfigureAwait(false);
            }
            catch (Exception e) when (e is RpcException or IOException or HttpRequestException or OperationCanceledException)
            {
                // The key goes with its lease's TTL.
            }
        }
        _connection.Dispose();
        _updated.Dispose();
        _stop.Dispose();
    }

    private static string Describe(Exception e) => e switch
    {
        RpcException r => $"{r.StatusCode}: {r.Status.Detail}",
        OperationCanceledException => "no answer in time",
        _ => e.Message,
    };
}
