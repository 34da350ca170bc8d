using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using System.Text.Json;
using ClusterSharing.Coordination.Etcd;
using Google.Protobuf;
using Microsoft.Extensions.Logging;
using StackExchange.Redis;

namespace ClusterSharing.Coordination.Redis;

/// <summary>
/// One cluster's election on Redis, Bully-style. Every eligible member registers as a candidate (a hash field that stays
/// live for one TTL, refreshed every quarter of it) with its weight and the highest epoch it has seen. When nobody
/// leads, the best live candidate (highest weight, then earliest joined) campaigns: a script sets the leader key with
/// NX and a time to live, its value the leader record with an epoch from a fencing counter (INCR, first raised to the
/// highest epoch any live candidate saw). Followers read the record and wait for changes on a pub/sub channel, re-reading
/// within bounded delays (the key's remaining time to live when its holder does not answer).
/// </summary>
internal sealed class RedisElection : ILeaderElection
{
    private static readonly TimeSpan RetryDelay = TimeSpan.FromMilliseconds(250);
    private static readonly TimeSpan FollowerWait = TimeSpan.FromSeconds(1);

    private readonly RedisElectionSettings _settings;
    private readonly ILogger _logger;
    private readonly RedisConnection _connection;
    private readonly RedisKey[] _readKeys, _campaignKeys, _candidatesKey, _resignKeys;
    private readonly CancellationTokenSource _stop = new();
    private readonly object _gate = new();
    private Socket? _listener;
    private RedisLeadershipTerm? _term;
    private Task? _registration;
    private long _unreachableEpoch;
    private long _unreachableSince;
    private long _seenEpoch;
    private string? _deferredTo;
    private long _deferredSince;
    private bool _disposed;

    public RedisElection(RedisElectionSettings settings, ILogger logger)
    {
        _settings = settings;
        _logger = logger;
        _connection = new RedisConnection(settings);
        _readKeys = [settings.LeaderKey, settings.CandidatesKey, settings.SettleKey];
        _campaignKeys = [settings.LeaderKey, settings.EpochKey, settings.CandidatesKey, settings.SettleKey];
        _candidatesKey = [settings.CandidatesKey];
        _resignKeys = [settings.LeaderKey, settings.CandidatesKey];
        CandidateId = $"{Environment.MachineName}/{Environment.ProcessId}/{Guid.NewGuid():N}"[..^24];
        Description = $"Redis {settings.EndpointList} key {settings.LeaderKey}";
    }

    /// <summary>The engine for validated options with <see cref="ClusterClientOptions.Redis"/> set, serving TLS with the options' certificate (or a new self-signed one).</summary>
    public static RedisElection FromOptions(ClusterClientOptions options, ILogger logger) =>
        new(RedisElectionSettings.FromOptions(options, Transport.TlsCertificate.FromOptions(options)), logger);

    /// <inheritdoc/>
    public string Description { get; }

    /// <summary>This member's field in the candidates hash.</summary>
    public string CandidateId { get; }

    /// <summary>The highest epoch this member has seen (its own terms and the records it read); it seeds the counter after Redis lost it.</summary>
    public long SeenEpoch => Interlocked.Read(ref _seenEpoch);

    /// <inheritdoc/>
    public void LeaderUnreachable(LeaderAddress followed)
    {
        Interlocked.Exchange(ref _unreachableSince, Stopwatch.GetTimestamp());
        Interlocked.Exchange(ref _unreachableEpoch, followed.Epoch);
    }

    /// <inheritdoc/>
    public async Task<ElectionStep> NextAsync(bool mayLead, CancellationToken cancellationToken)
    {
        ObjectDisposedException.ThrowIf(Volatile.Read(ref _disposed), this);
        mayLead &= _settings.Eligible;
        try
        {
            var changed = _connection.Changed; // before the read: a change after it wakes the wait below
            string? cannotListen = null;
            if (mayLead)
            {
                // Only a candidate that can serve registers (one whose port is taken would win handovers it cannot take);
                // it still follows meanwhile.
                try
                {
                    EnsureListener();
                    await EnsureRegisteredAsync(cancellationToken).ConfigureAwait(false);
                }
                catch (SocketException e)
                {
                    mayLead = false;
                    cannotListen = $"cannot listen on {_settings.Listen} to lead ({e.Message}); choose a free port or address";
                }
            }
            var read = await _connection.EvaluateAsync(RedisScripts.Read, _readKeys, [], cancellationToken).ConfigureAwait(false);
            string value = (string?)read[0] ?? "";
            long ttlLeft = (long)read[1];
            string best = (string?)read[2] ?? "";
            long bestWeight = (long)read[3], bestLive = (long)read[4], settle = (long)read[5];

            if (value.Length > 0)
            {
                var (record, epoch, candidate) = Parse(value);
                Observe(epoch);
                if (candidate == CandidateId && !HoldsActiveTerm())
                {
                    // A campaign whose answer was lost (timeout) may have set the key: release it rather than follow ourselves.
                    await _connection.EvaluateAsync(RedisScripts.Resign, _resignKeys, [value, _settings.Channel, CandidateId], cancellationToken).ConfigureAwait(false);
                    return new WaitStep($"released the leader key {_settings.LeaderKey} this process set in a campaign whose answer was lost", TimeSpan.Zero);
                }
                if (epoch == Interlocked.Read(ref _unreachableEpoch))
                {
                    // A killed or hung leader keeps its key until it expires: wait for that (or a change) instead of reconnecting to it.
                    var limit = TimeSpan.FromMilliseconds(Math.Clamp(ttlLeft + 20, 20, (long)_settings.LeaseTtl.TotalMilliseconds + 1000));
                    bool changedInTime = await RedisConnection.WaitAsync(changed, limit, cancellationToken).ConfigureAwait(false);
                    // Still there a whole TTL after it stopped answering: the holder renews, so it is alive; try it again.
                    if (!changedInTime && Stopwatch.GetElapsedTime(Interlocked.Read(ref _unreachableSince)) > _settings.LeaseTtl + TimeSpan.FromSeconds(1))
                        Interlocked.CompareExchange(ref _unreachableEpoch, 0, epoch);
                    return new WaitStep($"the leader of epoch {epoch} at {record.Endpoint} does not answer; " +
                                        $"waiting for its Redis key (TTL {_settings.LeaseTtl.TotalSeconds:0.#} s) to expire", TimeSpan.Zero);
                }
                _deferredTo = null;
                return Follow(record, epoch);
            }

            if (!mayLead)
            {
                await RedisConnection.WaitAsync(changed, FollowerWait, cancellationToken).ConfigureAwait(false);
                return new WaitStep(cannotListen ?? $"no leader is elected on {Description} yet (this node may not lead" +
                                    (_settings.Eligible ? ")" : ": Eligible is false)"), TimeSpan.Zero);
            }
            if (best.Length > 0 && best != CandidateId && !DeferredTooLong(best))
            {
                // Bully: a live candidate ahead of us (higher weight, or the same weight and joined earlier) campaigns first.
                // If it does not lead within one TTL (it died, or it is busy elsewhere), we campaign anyway.
                await RedisConnection.WaitAsync(changed, TimeSpan.FromMilliseconds(Math.Clamp(bestLive + 20, 20, (long)_settings.LeaseTtl.TotalMilliseconds)), cancellationToken).ConfigureAwait(false);
                return new WaitStep($"candidate {best} (weight {bestWeight}) comes first on {Description}; waiting for it to lead", TimeSpan.Zero);
            }
            if (settle > 0) return await SettleAsync(changed, settle, cancellationToken).ConfigureAwait(false);
            return await CampaignAsync(changed, cancellationToken).ConfigureAwait(false);
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
        catch (Exception e) when (e is RedisException or TimeoutException or IOException or OperationCanceledException)
        {
            RedisLog.RequestFailed(_logger, _settings.EndpointList, Describe(e), e);
            return new WaitStep($"Redis is unreachable at {_settings.EndpointList} ({Describe(e)})", RetryDelay);
        }
    }

    /// <summary>Resigns a term still held, leaves the candidates, closes the connection.</summary>
    public async ValueTask DisposeAsync()
    {
        RedisLeadershipTerm? term;
        Socket? listener;
        Task? registration;
        lock (_gate)
        {
            if (_disposed) return;
            _disposed = true;
            term = _term;
            listener = _listener;
            _listener = null;
            registration = _registration;
        }
        if (term is not null) await term.DisposeAsync().ConfigureAwait(false);
        listener?.Dispose();
        _stop.Cancel();
        if (registration is not null) await registration.ConfigureAwait(false);
        if (registration is not null)
        {
            try
            {
                using var timeout = new CancellationTokenSource(_settings.RequestTimeout);
                var database = await _connection.DatabaseAsync(timeout.Token).ConfigureAwait(false);
                await database.HashDeleteAsync(_settings.CandidatesKey, CandidateId).WaitAsync(timeout.Token).ConfigureAwait(false);
            }
            catch (Exception e) when (e is RedisException or TimeoutException or OperationCanceledException)
            {
                // The registration expires with its TTL.
            }
        }
        await _connection.DisposeAsync().ConfigureAwait(false);
        _stop.Dispose();
    }

    /// <inheritdoc/>
    public override string ToString() => Description;

    /// <summary>Parses the leader key's value: the JSON leader record with its epoch and the candidate that campaigned.</summary>
    /// <exception cref="FormatException">The value is not a leader record (another program wrote the key?).</exception>
    internal (LeaderRecord Record, long Epoch, string Candidate) Parse(string value)
    {
        var record = LeaderRecord.Parse(ByteString.CopyFromUtf8(value), _settings.LeaderKey);
        try
        {
            using var document = JsonDocument.Parse(value);
            var root = document.RootElement;
            if (root.TryGetProperty("epoch", out var e) && e.TryGetInt64(out long epoch) && epoch > 0)
                return (record, epoch, root.TryGetProperty("candidate", out var c) ? c.GetString() ?? "" : "");
        }
        catch (JsonException)
        {
            // reported below
        }
        throw new FormatException($"The Redis key {_settings.LeaderKey} holds a leader record without an epoch; is another program using this key prefix?");
    }

    private async Task<ElectionStep> SettleAsync(Task changed, long settleMs, CancellationToken cancellationToken)
    {
        await RedisConnection.WaitAsync(changed, TimeSpan.FromMilliseconds(settleMs + 20), cancellationToken).ConfigureAwait(false);
        return new WaitStep($"Redis at {_settings.EndpointList} had no epoch counter (first start, or restarted without persistence): " +
                            $"the first election waits one lease TTL so a leader from before steps down and live members report the epochs they saw", TimeSpan.Zero);
    }

    private async Task<ElectionStep> CampaignAsync(Task changed, CancellationToken cancellationToken)
    {
        var listener = EnsureListener();
        var bound = (IPEndPoint)listener.LocalEndPoint!;
        string host = _settings.AdvertiseHost ?? bound.Address.ToString();
        var record = new LeaderRecord(LeaderRecord.FormatEndpoint(host, bound.Port), _settings.CertificateFingerprint,
            Environment.MachineName, Environment.ProcessId);

        long sentAt = Stopwatch.GetTimestamp();
        var result = await _connection.EvaluateAsync(RedisScripts.Campaign, _campaignKeys,
            [record.ToByteString().ToStringUtf8(), TtlMilliseconds, SeenEpoch, _settings.Channel, CandidateId], cancellationToken).ConfigureAwait(false);
        long outcome = (long)result[0];
        if (outcome == 2) return await SettleAsync(changed, (long)result[1], cancellationToken).ConfigureAwait(false);
        string value = (string?)result[1] ?? "";
        var (won, epoch, _) = Parse(value);
        Observe(epoch);
        if (outcome == 0) return Follow(won, epoch);

        var term = new RedisLeadershipTerm(_connection, _settings, Description, CandidateId, value, epoch, listener,
            won.ToEndPoint(_settings.LeaderKey), sentAt, _logger);
        lock (_gate)
        {
            _listener = null; // the term owns it now
            _term = term;
        }
        term.Start();
        RedisLog.Elected(_logger, Description, epoch, won.Endpoint, _settings.Weight);
        return new LeadStep(term);
    }

    private ElectionStep Follow(LeaderRecord record, long epoch) =>
        new FollowStep(new LeaderAddress(record.ToEndPoint(_settings.LeaderKey), epoch, record.CertificateFingerprint) { EngineState = record });

    private long TtlMilliseconds => (long)_settings.LeaseTtl.TotalMilliseconds;

    private void Observe(long epoch)
    {
        long known;
        while ((known = Interlocked.Read(ref _seenEpoch)) < epoch)
        {
            if (Interlocked.CompareExchange(ref _seenEpoch, epoch, known) == known) return;
        }
    }

    /// <summary>True once we have deferred to <paramref name="best"/> for a whole TTL while nobody led.</summary>
    private bool DeferredTooLong(string best)
    {
        long now = Stopwatch.GetTimestamp();
        if (_deferredTo != best)
        {
            _deferredTo = best;
            _deferredSince = now;
            return false;
        }
        return Stopwatch.GetElapsedTime(_deferredSince, now) > _settings.LeaseTtl;
    }

    private bool HoldsActiveTerm()
    {
        lock (_gate) return _term is { IsActive: true };
    }

    private async Task EnsureRegisteredAsync(CancellationToken cancellationToken)
    {
        if (Volatile.Read(ref _registration) is not null) return;
        await RegisterAsync(cancellationToken).ConfigureAwait(false); // the first one must succeed before we compare ourselves
        lock (_gate)
        {
            if (_disposed || _registration is not null) return;
            _registration = Task.Run(RegistrationLoopAsync);
        }
    }

    private Task RegisterAsync(CancellationToken cancellationToken) =>
        _connection.EvaluateAsync(RedisScripts.Register, _candidatesKey,
            [CandidateId, _settings.Weight, SeenEpoch, TtlMilliseconds, _settings.Channel], cancellationToken);

    private async Task RegistrationLoopAsync()
    {
        var stop = _stop.Token;
        while (!stop.IsCancellationRequested)
        {
            try
            {
                await Task.Delay(_settings.RenewEvery, stop).ConfigureAwait(false);
                await RegisterAsync(stop).ConfigureAwait(false);
            }
            catch (Exception) when (stop.IsCancellationRequested)
            {
                return;
            }
            catch (Exception e)
            {
                RedisLog.RegistrationFailed(_logger, Description, Describe(e), e);
            }
        }
    }

    private Socket EnsureListener()
    {
        lock (_gate)
        {
            ObjectDisposedException.ThrowIf(_disposed, this);
            return _listener ??= LeaderListener.Open(_settings.Listen);
        }
    }

    private static string Describe(Exception e) => e switch
    {
        OperationCanceledException => "no answer in time",
        _ => e.Message,
    };

}
