using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using Microsoft.Extensions.Logging;
using StackExchange.Redis;

namespace ClusterSharing.Coordination.Redis;

/// <summary>
/// One term won on Redis: the leader key holds our value (record and <see cref="ServerLeadershipTerm.Epoch"/>). A script extends the key's
/// time to live only while it still holds that value, every quarter of the TTL and at every notification on the
/// cluster's channel; the same script reports a live candidate with a higher weight, to which the term hands over
/// (it ends, the node stops serving, then the disposal deletes the key, so two leaders never serve at once).
/// </summary>
/// <remarks>
/// Safety: every renewal Redis acknowledged moves the term's deadline to (time the request was sent) + TTL -
/// <see cref="RedisElectionSettings.SafetyMargin"/>. The request left before Redis restarted the key's clock, so the
/// deadline falls before the key can expire on the server; when renewals stop succeeding, the term is lost at that
/// deadline and <see cref="ServerLeadershipTerm.IsCurrent"/> turns false even before the timer fires.
/// </remarks>
internal sealed class RedisLeadershipTerm : ServerLeadershipTerm
{
    private readonly RedisConnection _connection;
    private readonly RedisElectionSettings _settings;
    private readonly ILogger _logger;
    private readonly string _election;
    private readonly string _candidateId;
    private readonly RedisKey[] _renewKeys;
    private int _released;
    private int _disposed;
    private Task _loops = Task.CompletedTask;

    public RedisLeadershipTerm(RedisConnection connection, RedisElectionSettings settings, string election, string candidateId,
        string value, long epoch, Socket listener, EndPoint endpoint, long sentAt, ILogger logger)
        : base(epoch, listener, endpoint, new TermDeadline(sentAt, settings.LeaseTtl, settings.SafetyMargin), settings.Certificate)
    {
        _connection = connection;
        _settings = settings;
        _election = election;
        _candidateId = candidateId;
        _logger = logger;
        _renewKeys = [settings.LeaderKey, settings.CandidatesKey];
        Value = value;
    }

    /// <summary>The leader key's value while this term holds it.</summary>
    public string Value { get; }

    /// <summary>Starts renewing and watching the deadline.</summary>
    public void Start() => _loops = Task.WhenAll(Task.Run(RenewLoopAsync), Task.Run(DeadlineLoopAsync));

    /// <summary>
    /// Ends the term and deletes the key if it still holds our value (also after the term was lost: a handover, or a
    /// deadline reached while the key had not expired yet, lets the successor start at once).
    /// </summary>
    public override async ValueTask ResignAsync(CancellationToken cancellationToken = default)
    {
        TryMarkResigned();
        Stop.Cancel();
        if (Interlocked.Exchange(ref _released, 1) == 0)
        {
            try
            {
                var deleted = await _connection.EvaluateAsync(RedisScripts.Resign, _renewKeys, [Value, _settings.Channel, _candidateId], cancellationToken).ConfigureAwait(false);
                if ((long)deleted[0] == 1) RedisLog.Resigned(_logger, Epoch, _election);
            }
            catch (Exception e)
            {
                // Best effort: the key is no longer renewed, so it disappears within the TTL anyway.
                RedisLog.ResignFailed(_logger, Epoch, _election, e.Message, e);
            }
        }
        await _loops.ConfigureAwait(false);
    }

    /// <summary>Resigns, stops the loops and closes the listener. Idempotent: the node and the election may both dispose a term.</summary>
    public override async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0) return;
        using (var timeout = new CancellationTokenSource(_settings.RequestTimeout * 2))
        {
            await ResignAsync(timeout.Token).ConfigureAwait(false);
        }
        Listener.Dispose();
        Stop.Dispose();
    }

    /// <inheritdoc/>
    public override string ToString() => $"Redis term epoch {Epoch} on {_settings.LeaderKey} at {Endpoint}";

    protected override void OnLost(string reason) => RedisLog.TermLost(_logger, Epoch, _election, reason);

    private async Task RenewLoopAsync()
    {
        var stop = Stop.Token;
        RedisValue[] arguments = [Value, (long)_settings.LeaseTtl.TotalMilliseconds, _candidateId, _settings.Weight, Epoch];
        while (!stop.IsCancellationRequested)
        {
            var changed = _connection.Changed;
            var pause = _settings.RenewEvery;
            try
            {
                long sentAt = Stopwatch.GetTimestamp();
                var result = await _connection.EvaluateAsync(RedisScripts.Renew, _renewKeys, arguments, stop).ConfigureAwait(false);
                if ((long)result[0] == 0)
                {
                    string holder = (string?)result[1] ?? "";
                    if (holder.Length == 0)
                    {
                        Lose($"the leader key {_settings.LeaderKey} is gone (deleted, expired, or Redis restarted without persistence)");
                    }
                    else
                    {
                        long successor = SuccessorOf(holder);
                        Lose($"deposed: the leader key now belongs to epoch {successor}", successor);
                    }
                    return;
                }
                Deadline.Renewed(sentAt, _settings.LeaseTtl);
                string better = (string?)result[1] ?? "";
                if (better.Length > 0)
                {
                    int weight = (int)(long)result[2];
                    RedisLog.HandingOver(_logger, Epoch, _election, better, weight, _settings.Weight);
                    Lose($"handed over to candidate {better}, whose weight {weight} is higher than this node's {_settings.Weight}");
                    return;
                }
            }
            catch (Exception) when (stop.IsCancellationRequested)
            {
                return;
            }
            catch (Exception e)
            {
                RedisLog.RenewFailed(_logger, Epoch, _settings.EndpointList, e.Message, e);
                pause = TimeSpan.FromTicks(Math.Min(_settings.RenewEvery.Ticks, TimeSpan.FromMilliseconds(200).Ticks));
                changed = Task.Delay(Timeout.InfiniteTimeSpan, stop); // after a failure, do not spin on notifications
            }
            try
            {
                await RedisConnection.WaitAsync(changed, pause, stop).ConfigureAwait(false);
            }
            catch (OperationCanceledException)
            {
                return;
            }
        }
    }

    private static long SuccessorOf(string holder)
    {
        try
        {
            using var document = System.Text.Json.JsonDocument.Parse(holder);
            return document.RootElement.TryGetProperty("epoch", out var e) && e.TryGetInt64(out long epoch) ? epoch : 0;
        }
        catch (System.Text.Json.JsonException)
        {
            return 0;
        }
    }

    protected override string DeadlineReason() =>
        $"the Redis leader key could not be renewed at {_settings.EndpointList} for {Deadline.SinceLastRenewal.TotalSeconds:0.0} s; " +
        $"stepped down {_settings.SafetyMargin.TotalMilliseconds:0} ms before it could expire on the server (TTL {_settings.LeaseTtl.TotalSeconds:0.#} s)";
}
