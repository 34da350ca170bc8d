using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using Etcdserverpb;
using Google.Protobuf;
using Microsoft.Extensions.Logging;

namespace ClusterSharing.Coordination.Etcd;

/// <summary>
/// One term won on etcd: the leader key <see cref="EtcdElectionSettings.LeaderKey"/> created under our lease at revision
/// <see cref="ServerLeadershipTerm.Epoch"/>. The lease is kept alive over a keep-alive stream; the key is watched so a deletion or a new
/// holder ends the term at once.
/// </summary>
/// <remarks>
/// Safety: every renewal acknowledged by etcd moves the term's deadline to (time the request was sent) + (TTL etcd
/// granted) - <see cref="EtcdElectionSettings.SafetyMargin"/>. The request left before etcd restarted the lease's clock,
/// so the deadline always falls before the lease can expire on the server; when renewals stop succeeding, the term is
/// lost at that deadline and <see cref="ServerLeadershipTerm.IsCurrent"/> turns false even before the timer fires.
/// </remarks>
internal sealed class EtcdLeadershipTerm : ServerLeadershipTerm
{
    private readonly EtcdConnection _connection;
    private readonly EtcdElectionSettings _settings;
    private readonly ILogger _logger;
    private readonly string _election;
    private readonly Action<long> _abandonLease;
    private readonly ByteString _key;
    private int _disposed;
    private Task _loops = Task.CompletedTask;

    public EtcdLeadershipTerm(EtcdConnection connection, EtcdElectionSettings settings, string election, long leaseId,
        long epoch, Socket listener, EndPoint endpoint, long grantSentAt, long grantedTtlSeconds, Action<long> abandonLease, ILogger logger)
        : base(epoch, listener, endpoint, new TermDeadline(grantSentAt, TimeSpan.FromSeconds(grantedTtlSeconds), settings.SafetyMargin), settings.Certificate)
    {
        _connection = connection;
        _settings = settings;
        _election = election;
        _abandonLease = abandonLease;
        _logger = logger;
        _key = ByteString.CopyFromUtf8(settings.LeaderKey);
        LeaseId = leaseId;
    }

    /// <summary>The etcd lease the leader key is bound to.</summary>
    public long LeaseId { get; }

    /// <summary>Starts keeping the lease alive and watching the key.</summary>
    public void Start() =>
        _loops = Task.WhenAll(Task.Run(KeepAliveLoopAsync), Task.Run(WatchLoopAsync), Task.Run(DeadlineLoopAsync));

    /// <inheritdoc/>
    public override async ValueTask ResignAsync(CancellationToken cancellationToken = default)
    {
        bool wasActive = TryMarkResigned();
        if (!wasActive && IsResigned) return; // resigned already
        Stop.Cancel();
        if (wasActive)
        {
            try
            {
                EtcdLog.Resigning(_logger, Epoch, _election, LeaseId);
                var (channel, options) = await _connection.UnaryAsync(cancellationToken).ConfigureAwait(false);
                try
                {
                    // One request: revoking the lease deletes the key bound to it in the same revision, and cannot touch a
                    // successor's key (bound to the successor's lease).
                    await channel.Lease.LeaseRevokeAsync(new LeaseRevokeRequest { ID = LeaseId }, options).ResponseAsync.ConfigureAwait(false);
                    EtcdLog.Resigned(_logger, Epoch, _election);
                }
                catch (Exception e) when (e is not OperationCanceledException || !cancellationToken.IsCancellationRequested)
                {
                    _connection.Failed(channel, e);
                    throw;
                }
            }
            catch (Exception e)
            {
                // Best effort: the lease is no longer renewed, so the key disappears within the TTL anyway.
                _abandonLease(LeaseId);
                EtcdLog.ResignFailed(_logger, Epoch, _election, e.Message, e);
            }
        }
        await _loops.ConfigureAwait(false);
    }

    /// <summary>Resigns (when still leading), stops the loops and closes the listener. Idempotent: the node and the election may both dispose a term.</summary>
    public override async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0) return;
        using (var timeout = new CancellationTokenSource(_settings.RequestTimeout * 2))
        {
            await ResignAsync(timeout.Token).ConfigureAwait(false);
        }
        Stop.Cancel();
        await _loops.ConfigureAwait(false);
        Listener.Dispose();
        Stop.Dispose();
    }

    /// <inheritdoc/>
    public override string ToString() => $"etcd term epoch {Epoch} on {_settings.LeaderKey} at {Endpoint}";

    protected override void OnLost(string reason)
    {
        _abandonLease(LeaseId);
        EtcdLog.TermLost(_logger, Epoch, _election, reason);
    }

    protected override string DeadlineReason() =>
        $"the etcd lease {LeaseId:x} could not be renewed at {_settings.EndpointList} for {Deadline.SinceLastRenewal.TotalSeconds:0.0} s; " +
        $"stepped down {_settings.SafetyMargin.TotalMilliseconds:0} ms before it could expire on the server (TTL {_settings.LeaseTtl.TotalSeconds:0} s)";

    private async Task KeepAliveLoopAsync()
    {
        var stop = Stop.Token;
        var request = new LeaseKeepAliveRequest { ID = LeaseId };
        while (!stop.IsCancellationRequested)
        {
            EtcdConnection.Channel? channel = null;
            try
            {
                (channel, var options) = await _connection.StreamAsync(stop).ConfigureAwait(false);
                using var call = channel.Lease.LeaseKeepAlive(options);
                while (true)
                {
                    long sentAt = Stopwatch.GetTimestamp();
                    await call.RequestStream.WriteAsync(request, stop).ConfigureAwait(false);
                    using (var timeout = CancellationTokenSource.CreateLinkedTokenSource(stop))
                    {
                        // A late answer still renews from the time its request left (safe), so a slow etcd is waited for
                        // rather than reconnected to; the deadline loop alone decides when the term is over.
                        timeout.CancelAfter(_settings.LeaseTtl);
                        if (!await call.ResponseStream.MoveNext(timeout.Token).ConfigureAwait(false))
                            throw new IOException("etcd closed the keep-alive stream.");
                    }
                    var response = call.ResponseStream.Current;
                    if (response.TTL <= 0)
                    {
                        Lose($"etcd reports the lease {LeaseId:x} expired or was revoked");
                        return;
                    }
                    Deadline.Renewed(sentAt, TimeSpan.FromSeconds(response.TTL));
                    await Task.Delay(_settings.RenewEvery, stop).ConfigureAwait(false);
                }
            }
            catch (Exception) when (stop.IsCancellationRequested)
            {
                return;
            }
            catch (Exception e)
            {
                if (channel is not null) _connection.Failed(channel, e);
                EtcdLog.KeepAliveFailed(_logger, Epoch, channel?.Endpoint.ToString() ?? _settings.EndpointList, e.Message, e);
                if (!await PauseAsync(stop).ConfigureAwait(false)) return;
            }
        }
    }

    private async Task WatchLoopAsync()
    {
        var stop = Stop.Token;
        long next = Epoch + 1;
        while (!stop.IsCancellationRequested)
        {
            EtcdConnection.Channel? channel = null;
            try
            {
                (channel, var options) = await _connection.StreamAsync(stop).ConfigureAwait(false);
                using var call = channel.Watch.Watch(options);
                await call.RequestStream.WriteAsync(new WatchRequest
                {
                    CreateRequest = new WatchCreateRequest { Key = _key, StartRevision = next },
                }, stop).ConfigureAwait(false);
                while (await call.ResponseStream.MoveNext(stop).ConfigureAwait(false))
                {
                    var response = call.ResponseStream.Current;
                    if (response.CompactRevision > 0)
                    {
                        // The history we asked for is gone: judge by the key as it is now.
                        next = response.CompactRevision;
                        var (readChannel, readOptions) = await _connection.UnaryAsync(stop).ConfigureAwait(false);
                        var range = await readChannel.KV.RangeAsync(new RangeRequest { Key = _key }, readOptions).ResponseAsync.ConfigureAwait(false);
                        if (range.Kvs.Count == 0) Lose($"the leader key {_settings.LeaderKey} is gone");
                        else if (range.Kvs[0].CreateRevision != Epoch) Lose($"deposed: the leader key now belongs to epoch {range.Kvs[0].CreateRevision}", range.Kvs[0].CreateRevision);
                        break;
                    }
                    if (response.Canceled) throw new IOException($"etcd cancelled the watch ({response.CancelReason}).");
                    foreach (var e in response.Events)
                    {
                        if (e.Type == Mvccpb.Event.Types.EventType.Delete)
                        {
                            Lose($"the leader key {_settings.LeaderKey} was deleted (lease revoked or key removed by someone else)");
                            return;
                        }
                        if (e.Kv.CreateRevision != Epoch)
                        {
                            Lose($"deposed: the leader key now belongs to epoch {e.Kv.CreateRevision}", e.Kv.CreateRevision);
                            return;
                        }
                        next = e.Kv.ModRevision + 1;
                    }
                }
            }
            catch (Exception) when (stop.IsCancellationRequested)
            {
                return;
            }
            catch (Exception e)
            {
                if (channel is not null) _connection.Failed(channel, e);
                EtcdLog.KeepAliveFailed(_logger, Epoch, channel?.Endpoint.ToString() ?? _settings.EndpointList, e.Message, e);
            }
            if (!await PauseAsync(stop).ConfigureAwait(false)) return;
        }
    }

    /// <summary>Waits a little before reconnecting a stream; false when the term stopped meanwhile.</summary>
    private async Task<bool> PauseAsync(CancellationToken stop)
    {
        try
        {
            await Task.Delay(TimeSpan.FromTicks(Math.Min(_settings.RenewEvery.Ticks, TimeSpan.FromMilliseconds(200).Ticks)), stop).ConfigureAwait(false);
            return true;
        }
        catch (OperationCanceledException)
        {
            return false;
        }
    }
}
