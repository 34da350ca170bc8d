using System.Collections.Concurrent;
using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using Etcdserverpb;
using Google.Protobuf;
using Grpc.Core;
using Microsoft.Extensions.Logging;

namespace ClusterSharing.Coordination.Etcd;

/// <summary>
/// One cluster's election on etcd. Campaign: grant a lease, then create the leader key bound to it only if it does not
/// exist (a transaction comparing its create revision with 0); the winner's epoch is the key's create revision, which
/// etcd never hands out twice, so epochs grow across terms. Followers read the key's value (endpoint and certificate
/// fingerprint) and, when its holder stops answering, watch the key until its lease expires.
/// </summary>
internal sealed class EtcdElection : ILeaderElection
{
    private static readonly TimeSpan RetryDelay = TimeSpan.FromMilliseconds(250);
    private static readonly TimeSpan FollowerWait = TimeSpan.FromSeconds(1);

    private readonly EtcdElectionSettings _settings;
    private readonly ILogger _logger;
    private readonly EtcdConnection _connection;
    private readonly ByteString _key;
    private readonly ConcurrentQueue<long> _abandonedLeases = new();
    private readonly object _gate = new();
    private Socket? _listener;
    private EtcdLeadershipTerm? _term;
    private Task<GrantedLease>? _spareLease;
    private long _unreachableEpoch;
    private bool _disposed;

    public EtcdElection(EtcdElectionSettings settings, ILogger logger)
    {
        _settings = settings;
        _logger = logger;
        _connection = new EtcdConnection(settings);
        _key = ByteString.CopyFromUtf8(settings.LeaderKey);
        Description = $"etcd {settings.EndpointList} key {settings.LeaderKey}";
        // Every node is a candidate: its TLS server context is ready before it ever leads, not built during a failover.
        if (settings.Certificate is { } certificate)
            ThreadPool.UnsafeQueueUserWorkItem(static c => Transport.TlsTransport.ContextOf(c), certificate, preferLocal: false);
    }

    /// <summary>The engine for validated options with <see cref="ClusterClientOptions.Etcd"/> set, serving TLS with the options' certificate (or a new self-signed one).</summary>
    public static EtcdElection FromOptions(ClusterClientOptions options, ILogger logger) =>
        new(EtcdElectionSettings.FromOptions(options, Transport.TlsCertificate.FromOptions(options)), logger);

    /// <inheritdoc/>
    public string Description { get; }

    /// <inheritdoc/>
    public void LeaderUnreachable(LeaderAddress followed) => Interlocked.Exchange(ref _unreachableEpoch, followed.Epoch);

    /// <inheritdoc/>
    public async Task<ElectionStep> NextAsync(bool mayLead, CancellationToken cancellationToken)
    {
        ObjectDisposedException.ThrowIf(Volatile.Read(ref _disposed), this);
        EtcdConnection.Channel? channel = null;
        try
        {
            (channel, var options) = await _connection.UnaryAsync(cancellationToken).ConfigureAwait(false);
            await RevokeAbandonedLeasesAsync(channel, options).ConfigureAwait(false);
            var range = await channel.KV.RangeAsync(new RangeRequest { Key = _key }, options).ResponseAsync.ConfigureAwait(false);
            long revision = range.Header.Revision;
            if (range.Kvs.Count == 0)
            {
                if (mayLead) return await CampaignAsync(cancellationToken).ConfigureAwait(false);
                _ = await WaitForChangeAsync(revision, FollowerWait, cancellationToken).ConfigureAwait(false);
                return new WaitStep($"no leader is elected on {Description} yet (this node may not lead)", TimeSpan.Zero);
            }

            var holder = range.Kvs[0];
            if (holder.CreateRevision == Interlocked.Read(ref _unreachableEpoch))
            {
                // A killed or hung leader keeps its key until the lease expires: wait for that instead of reconnecting to it.
                var record = LeaderRecord.Parse(holder.Value, _settings.LeaderKey);
                // While waiting, a candidate gets a lease ready, so a campaign after a resign costs one request, not two.
                if (mayLead && _spareLease is null)
                {
                    _spareLease = GrantLeaseAsync(cancellationToken);
                    _ = _spareLease.ContinueWith(static t => _ = t.Exception, CancellationToken.None,
                        TaskContinuationOptions.OnlyOnFaulted | TaskContinuationOptions.ExecuteSynchronously, TaskScheduler.Default);
                }
                var change = await WaitForChangeAsync(revision, _settings.LeaseTtl + TimeSpan.FromSeconds(1), cancellationToken).ConfigureAwait(false);
                if (change.DeletedAt > 0 && mayLead)
                {
                    // Resigned or expired: the key is gone, so campaign now rather than read it again first.
                    EtcdLog.LeaderKeyDeleted(_logger, Description, change.DeletedAt);
                    return await CampaignAsync(cancellationToken).ConfigureAwait(false);
                }
                // Unchanged after a whole TTL: the holder renews, so it is alive; try it again rather than wait forever.
                if (!change.Changed) Interlocked.CompareExchange(ref _unreachableEpoch, 0, holder.CreateRevision);
                return new WaitStep($"the leader of epoch {holder.CreateRevision} at {record.Endpoint} does not answer; " +
                                    $"waiting for its etcd lease (TTL {_settings.LeaseTtl.TotalSeconds:0} s) to expire", TimeSpan.Zero);
            }
            return Follow(holder);
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
            throw;
        }
        catch (FormatException e)
        {
            return new WaitStep(e.Message, RetryDelay);
        }
        catch (SocketException e)
        {
            return new WaitStep($"cannot listen on {_settings.Listen} to lead ({e.Message}); choose a free port or address", RetryDelay);
        }
        catch (Exception e) when (e is RpcException or IOException or HttpRequestException or OperationCanceledException)
        {
            if (channel is not null) _connection.Failed(channel, e);
            EtcdLog.RequestFailed(_logger, channel?.Endpoint.ToString() ?? _settings.EndpointList, Describe(e), e);
            return new WaitStep($"etcd is unreachable at {_settings.EndpointList} ({Describe(e)})", RetryDelay);
        }
    }

    /// <summary>Resigns a term still held, revokes leases left behind, closes the channel.</summary>
    public async ValueTask DisposeAsync()
    {
        EtcdLeadershipTerm? term;
        Socket? listener;
        lock (_gate)
        {
            if (_disposed) return;
            _disposed = true;
            term = _term;
            listener = _listener;
            _listener = null;
        }
        if (term is not null) await term.DisposeAsync().ConfigureAwait(false);
        listener?.Dispose();
        if (Interlocked.Exchange(ref _spareLease, null) is { IsCompletedSuccessfully: true } spare) _abandonedLeases.Enqueue(spare.Result.Id);
        if (!_abandonedLeases.IsEmpty)
        {
            try
            {
                using var timeout = new CancellationTokenSource(_settings.RequestTimeout);
                var (channel, options) = await _connection.UnaryAsync(timeout.Token).ConfigureAwait(false);
                await RevokeAbandonedLeasesAsync(channel, options).ConfigureAwait(false);
            }
            catch (Exception e) when (e is RpcException or IOException or HttpRequestException or OperationCanceledException)
            {
                // They expire with their TTL.
            }
        }
        _connection.Dispose();
    }

    /// <inheritdoc/>
    public override string ToString() => Description;

    private async Task<ElectionStep> CampaignAsync(CancellationToken cancellationToken)
    {
        var listener = EnsureListener();
        var bound = (IPEndPoint)listener.LocalEndPoint!;
        string host = _settings.AdvertiseHost ?? bound.Address.ToString();
        var record = new LeaderRecord(LeaderRecord.FormatEndpoint(host, bound.Port), _settings.CertificateFingerprint,
            Environment.MachineName, Environment.ProcessId);

        var lease = await TakeLeaseAsync(cancellationToken).ConfigureAwait(false);
        EtcdLog.Campaigning(_logger, Description, lease.Id, (long)Stopwatch.GetElapsedTime(lease.SentAt).TotalMilliseconds);
        var (channel, options) = await _connection.UnaryAsync(cancellationToken).ConfigureAwait(false);

        var txn = new TxnRequest();
        txn.Compare.Add(new Compare
        {
            Key = _key, Target = Compare.Types.CompareTarget.Create,
            Result = Compare.Types.CompareResult.Equal, CreateRevision = 0,
        });
        txn.Success.Add(new RequestOp { RequestPut = new PutRequest { Key = _key, Value = record.ToByteString(), Lease = lease.Id } });
        txn.Failure.Add(new RequestOp { RequestRange = new RangeRequest { Key = _key } });
        TxnResponse result;
        try
        {
            result = await channel.KV.TxnAsync(txn, options).ResponseAsync.ConfigureAwait(false);
        }
        catch
        {
            _abandonedLeases.Enqueue(lease.Id); // the put may have happened; the next step revokes it (and the key with it)
            throw;
        }

        if (!result.Succeeded)
        {
            _abandonedLeases.Enqueue(lease.Id);
            var holders = result.Responses[0].ResponseRange.Kvs;
            if (holders.Count == 0) return new WaitStep("the leader key changed while campaigning", TimeSpan.Zero);
            EtcdLog.CampaignLost(_logger, Description, holders[0].CreateRevision);
            return Follow(holders[0]);
        }

        long epoch = result.Header.Revision; // the put's revision: the key's create revision
        var term = new EtcdLeadershipTerm(_connection, _settings, Description, lease.Id, epoch, listener,
            record.ToEndPoint(_settings.LeaderKey), lease.SentAt, lease.Ttl, _abandonedLeases.Enqueue, _logger);
        lock (_gate)
        {
            _listener = null; // the term owns it now
            _term = term;
        }
        term.Start();
        EtcdLog.Elected(_logger, Description, epoch, record.Endpoint, lease.Id);
        return new LeadStep(term);
    }

    /// <summary>A lease etcd granted, and when it was requested (the term's deadline counts from then).</summary>
    private readonly record struct GrantedLease(long Id, long Ttl, long SentAt);

    private async Task<GrantedLease> GrantLeaseAsync(CancellationToken cancellationToken)
    {
        var (channel, options) = await _connection.UnaryAsync(cancellationToken).ConfigureAwait(false);
        long sentAt = Stopwatch.GetTimestamp();
        var lease = await channel.Lease.LeaseGrantAsync(
            new LeaseGrantRequest { TTL = (long)Math.Ceiling(_settings.LeaseTtl.TotalSeconds) }, options).ResponseAsync.ConfigureAwait(false);
        if (!string.IsNullOrEmpty(lease.Error)) throw new IOException($"etcd refused a lease: {lease.Error}");
        return new GrantedLease(lease.ID, lease.TTL, sentAt);
    }

    /// <summary>
    /// The lease to campaign with: the spare one granted while waiting when it is still fresh (younger than a renewal
    /// period, so the term starts with most of its TTL), else a new one; a stale spare is revoked later.
    /// </summary>
    private async Task<GrantedLease> TakeLeaseAsync(CancellationToken cancellationToken)
    {
        if (Interlocked.Exchange(ref _spareLease, null) is { } spare)
        {
            try
            {
                var lease = await spare.ConfigureAwait(false);
                if (Stopwatch.GetElapsedTime(lease.SentAt) < _settings.RenewEvery) return lease;
                _abandonedLeases.Enqueue(lease.Id);
            }
            catch (Exception e) when (e is RpcException or IOException or HttpRequestException or OperationCanceledException
                                      && !cancellationToken.IsCancellationRequested)
            {
                // That grant failed; ask again.
            }
        }
        return await GrantLeaseAsync(cancellationToken).ConfigureAwait(false);
    }

    private ElectionStep Follow(Mvccpb.KeyValue holder)
    {
        var record = LeaderRecord.Parse(holder.Value, _settings.LeaderKey);
        EtcdLog.Following(_logger, holder.CreateRevision, Description, record.Endpoint);
        var address = new LeaderAddress(record.ToEndPoint(_settings.LeaderKey), holder.CreateRevision, record.CertificateFingerprint)
        {
            EngineState = record,
        };
        return new FollowStep(address);
    }

    private Socket EnsureListener()
    {
        lock (_gate)
        {
            ObjectDisposedException.ThrowIf(_disposed, this);
            return _listener ??= LeaderListener.Open(_settings.Listen);
        }
    }

    /// <summary>Revokes the leases of lost terms and lost campaigns, so a key they still hold disappears now, not after the TTL.</summary>
    private async Task RevokeAbandonedLeasesAsync(EtcdConnection.Channel channel, CallOptions options)
    {
        while (_abandonedLeases.TryPeek(out long lease))
        {
            try
            {
                await channel.Lease.LeaseRevokeAsync(new LeaseRevokeRequest { ID = lease }, options).ResponseAsync.ConfigureAwait(false);
            }
            catch (RpcException e) when (e.StatusCode == StatusCode.NotFound)
            {
                // expired already
            }
            _abandonedLeases.TryDequeue(out _);
        }
    }

    /// <summary>What a watch of the leader key saw: nothing within its limit, a change, or the key's deletion (at that revision).</summary>
    private readonly record struct KeyChange(bool Changed, long DeletedAt);

    /// <summary>Watches the leader key from after <paramref name="revision"/> until it changes or <paramref name="limit"/> passed.</summary>
    private async Task<KeyChange> WaitForChangeAsync(long revision, TimeSpan limit, CancellationToken cancellationToken)
    {
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        timeout.CancelAfter(limit);
        EtcdConnection.Channel? channel = null;
        try
        {
            (channel, var options) = await _connection.StreamAsync(timeout.Token).ConfigureAwait(false);
            using var call = channel.Watch.Watch(options);
            await call.RequestStream.WriteAsync(new WatchRequest
            {
                CreateRequest = new WatchCreateRequest { Key = _key, StartRevision = revision + 1 },
            }, timeout.Token).ConfigureAwait(false);
            while (await call.ResponseStream.MoveNext(timeout.Token).ConfigureAwait(false))
            {
                var response = call.ResponseStream.Current;
                if (response.Events.Count > 0)
                {
                    var last = response.Events[^1];
                    return new KeyChange(true, last.Type == Mvccpb.Event.Types.EventType.Delete ? last.Kv.ModRevision : 0);
                }
                if (response.CompactRevision > 0) return new KeyChange(true, 0);
                if (response.Canceled) throw new IOException($"etcd cancelled the watch ({response.CancelReason}).");
            }
            throw new IOException("etcd closed the watch stream.");
        }
        catch (Exception) when (timeout.IsCancellationRequested && !cancellationToken.IsCancellationRequested)
        {
            return default;
        }
    }

    private static string Describe(Exception e) => e switch
    {
        RpcException r => $"{r.StatusCode}: {r.Status.Detail}",
        OperationCanceledException => "no answer in time",
        _ => e.Message,
    };
}
