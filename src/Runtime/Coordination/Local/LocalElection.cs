using System.Net;
using System.Net.Sockets;
using System.Security.Cryptography;
using ClusterSharing.Liveness;
using ClusterSharing.Transport;
using Microsoft.Extensions.Logging;

namespace ClusterSharing.Coordination.Local;

/// <summary>
/// One port's election on this machine. The lease (a memory-mapped file, see <see cref="LeaderLease"/>) decides who
/// leads and where it listens; the primary endpoint (the port, or the socket path) is where a leader listens when it
/// can. Without a usable lease file the node falls back to plain port competition (no hung-leader replacement).
/// </summary>
/// <remarks>
/// A holder is replaced when its lease is stale (it stopped renewing for 3 heartbeat intervals: dead or stopped), or at
/// once when a follower lost it and its endpoint refuses connections (killed). A stopped holder still owns its socket, so
/// the new holder then listens on an alternate endpoint recorded in the lease; newcomers read the lease, never guess.
/// </remarks>
internal sealed class LocalElection : ILeaderElection
{
    private static readonly TimeSpan PollDelay = TimeSpan.FromMilliseconds(10);

    /// <summary>
    /// The poll while a new holder has taken the lease but not yet published its endpoint: it only binds its listener
    /// in between (well under a millisecond), and every survivor waits on it to reconnect, so it is polled closely.
    /// </summary>
    internal static readonly TimeSpan StartingLeaderPoll = TimeSpan.FromMilliseconds(1);
    private static readonly TimeSpan ProbeEvery = TimeSpan.FromMilliseconds(100);
    private static readonly TimeSpan FirstProbeGap = TimeSpan.FromMilliseconds(5);
    private readonly ClusterClientOptions _options;
    private readonly ILogger _logger;
    private readonly LivenessMonitor _monitor;
    private Suspect? _suspect;

    /// <param name="options">Port, transport, heartbeat interval and state directory of the node.</param>
    /// <param name="monitor">The node's monitor thread, which renews the lease of a term won here.</param>
    /// <param name="logger">The node's logger.</param>
    public LocalElection(ClusterClientOptions options, LivenessMonitor monitor, ILogger logger)
    {
        _options = options;
        _logger = logger;
        _monitor = monitor;
        Endpoint = ElectionEndpoint.Create(options, logger);
        StaleAfter = 3 * options.HeartbeatInterval;
        // A state directory that is not ours (planted by another user) is an error, never a silent downgrade.
        string directory = StateDirectory.Resolve(options);
        Lease = LeaderLease.TryOpen(directory, options.Port, logger);
    }

    public ElectionEndpoint Endpoint { get; }

    public int Port => _options.Port;

    public string Description => Lease is not null
        ? $"lease file {Lease.Path} and {EndPointText.Describe(Endpoint.Primary)}"
        : $"{EndPointText.Describe(Endpoint.Primary)} (no lease file: a hung leader is not replaced)";

    /// <summary>Null when the lease file cannot be used.</summary>
    public LeaderLease? Lease { get; }

    /// <summary>Identifies this node in the lease (nodes in one process differ).</summary>
    public long Token { get; } = RandomNumberGenerator.GetInt32(1, int.MaxValue) * (long)int.MaxValue + RandomNumberGenerator.GetInt32(int.MaxValue);

    /// <summary>A lease not renewed for this long is stale: three heartbeat intervals, like a silent connection.</summary>
    public TimeSpan StaleAfter { get; }

    /// <summary>Renewal period of the holder: a quarter interval, so one late renewal never makes it stale.</summary>
    public TimeSpan RenewEvery => _options.HeartbeatInterval / 4;

    /// <summary>
    /// The follower lost the holder named by <paramref name="followed"/>'s lease snapshot (connection closed, silent, or refused). Until
    /// that holder renews again, the next steps check whether it is gone (take over at once) or hung (wait for staleness).
    /// </summary>
    public void LeaderUnreachable(LeaderAddress followed)
    {
        if (Lease is null || followed.EngineState is not LeaseState state) return;
        var now = Lease.Read();
        if (now.Epoch != state.Epoch) return; // already replaced
        // Keep the first observation of a holder we keep failing to reach: its renewals are judged against it.
        if (_suspect is { } known && known.Lease.Epoch == now.Epoch && known.Lease.RenewedMs >= now.RenewedMs) return;
        long ms = LeaderLease.NowMs();
        _suspect = new Suspect(now, ProbedAt: long.MinValue / 2, WatchStartMs: ms, LastPollMs: ms);
    }

    /// <summary>
    /// Tracks how long this node has been watching a suspect without being starved itself. A node that did not run
    /// for a while (a whole machine or container throttled, a starved thread pool) restarts its watch, so it never
    /// replaces a leader that was merely starved along with it.
    /// </summary>
    private long WatchedMs(long nowMs)
    {
        if (_suspect is not { } suspect) return 0;
        long gap = nowMs - suspect.LastPollMs;
        long maxGap = Math.Max(30, (long)(_options.HeartbeatInterval.TotalMilliseconds / 4));
        var watch = gap > maxGap ? suspect with { WatchStartMs = nowMs, LastPollMs = nowMs } : suspect with { LastPollMs = nowMs };
        _suspect = watch;
        return nowMs - watch.WatchStartMs;
    }

    /// <summary>Decides the next step: lead (bound), follow (where), or wait.</summary>
    public async Task<ElectionStep> NextAsync(bool mayLead, CancellationToken cancellationToken)
    {
        if (Lease is null)
        {
            if (mayLead && await Endpoint.TryListenPrimaryAsync(cancellationToken).ConfigureAwait(false) is { } listener)
                return Lead(listener, 0, Endpoint.Primary);
            return Follow(Endpoint.Primary, null);
        }

        var lease = Lease.Read();
        bool live = lease.IsLive(StaleAfter);
        long watched = WatchedMs(LeaderLease.NowMs());
        bool forced = false;
        if (live && lease.Kind == LeaseEndpointKind.None)
            return new WaitStep($"a new leader (epoch {lease.Epoch}) is starting", StartingLeaderPoll);
        if (live && lease.Holder != Token)
        {
            if (_suspect is not { } suspect || suspect.Lease.Epoch != lease.Epoch || lease.RenewedMs > suspect.Lease.RenewedMs)
            {
                // The holder renewed since we lost it (we were the slow one), or it is not the one we lost: follow it.
                _suspect = null;
                return Follow(Endpoint.Resolve(lease), lease);
            }
            if (!IsProcessAlive(lease.Pid))
            {
                forced = true;
            }
            else if (Environment.TickCount64 - suspect.ProbedAt >= ProbeGap(suspect.Probes).TotalMilliseconds)
            {
                // Re-probed now and then: a killed leader's listening socket may close a moment after the connection
                // we saw close. A stopped leader's backlog takes one connection per probe (closed at once by us).
                _suspect = suspect with { ProbedAt = Environment.TickCount64, Probes = suspect.Probes + 1 };
                forced = await ElectionEndpoint.IsStaleAsync(Endpoint.Resolve(lease), cancellationToken).ConfigureAwait(false);
            }
            if (!forced)
            {
                return new WaitStep($"the leader (pid {lease.Pid}, epoch {lease.Epoch}) went silent but still holds its endpoint; " +
                    $"waiting up to {StaleAfter.TotalMilliseconds:0} ms for its lease to expire", PollDelay);
            }
        }
        if (!live && !forced && lease.RenewedMs != 0 && lease.Kind != LeaseEndpointKind.None && lease.Holder != Token
            && (_suspect is not { } lost || lost.Lease.Epoch != lease.Epoch) && IsProcessAlive(lease.Pid))
        {
            // Stale, but its holder still exists and this node has no evidence it is unreachable (a newcomer, or a
            // holder starved for a moment, say while starting up): try it first. Only a failed connection makes it a
            // suspect that may be replaced.
            return Follow(Endpoint.Resolve(lease), lease);
        }
        if (!mayLead)
        {
            return live ? Follow(Endpoint.Resolve(lease), lease) : Follow(Endpoint.Primary, null);
        }
        if (!forced && lease.RenewedMs != 0 && _suspect is { } watching && watching.Lease.Epoch == lease.Epoch
            && watched < _options.HeartbeatInterval.TotalMilliseconds / 2)
        {
            // Stale by the clock, but this node has not itself watched it stay silent for half an interval while running
            // steadily: confirm first (a few polls), so a leader starved together with us is not replaced.
            return new WaitStep($"confirming that the leader (pid {lease.Pid}, epoch {lease.Epoch}) stopped renewing its lease", PollDelay);
        }
        if (!Lease.TryAcquire(lease.Word, out long word))
            return new WaitStep("another process is taking the leader lease", TimeSpan.Zero);
        _suspect = null;
        long epoch = LeaderLease.EpochOf(word);
        Socket? primary;
        try
        {
            primary = await Endpoint.TryListenPrimaryAsync(cancellationToken).ConfigureAwait(false);
        }
        catch
        {
            Lease.Restore(word, lease.Word);
            throw;
        }
        if (lease.Epoch > 0 && (live || lease.RenewedMs != 0))
            ElectionLog.LeaseTakenOver(_logger, _options.Port, lease.ToString(), epoch);
        if (primary is not null)
        {
            Lease.Publish(word, Token, LeaseEndpointKind.Primary, 0);
            return Lead(primary, word, Endpoint.Primary);
        }
        if (lease.Epoch > 0 && lease.Kind == LeaseEndpointKind.Primary && IsProcessAlive(lease.Pid))
        {
            // The deposed holder is stopped, not dead: its socket stays until it resumes and steps down.
            Socket listener;
            LeaseEndpointKind kind;
            int value;
            try
            {
                (listener, kind, value) = Endpoint.ListenAlternate(epoch);
            }
            catch
            {
                Lease.Restore(word, lease.Word);
                throw;
            }
            Lease.Publish(word, Token, kind, value);
            var state = Lease.Read();
            var endpoint = Endpoint.Resolve(state);
            ElectionLog.AlternateEndpoint(_logger, _options.Port, EndPointText.Describe(Endpoint.Primary), lease.Pid, EndPointText.Describe(endpoint));
            return Lead(listener, word, endpoint);
        }
        // Something that is not a lease holder of ours has the endpoint (another program, or a cluster of another
        // user): hand the lease back and let the follower path report what it finds there.
        Lease.Restore(word, lease.Word);
        return Follow(Endpoint.Primary, null);
    }

    /// <summary>
    /// The pause before probing a suspect again after <paramref name="probes"/> probes: 5 ms doubling to 100 ms. A killed
    /// leader's process takes a few milliseconds to close its listening socket after the connections, and a fixed
    /// 100 ms before the second probe was most of such a failover; a stopped leader still gets one probe per 100 ms.
    /// </summary>
    internal static TimeSpan ProbeGap(int probes) =>
        probes <= 0 ? TimeSpan.Zero : TimeSpan.FromTicks(Math.Min(ProbeEvery.Ticks, FirstProbeGap.Ticks << Math.Min(probes - 1, 10)));

    private LeadStep Lead(Socket listener, long word, EndPoint endpoint) =>
        new(new LocalLeadershipTerm(listener, endpoint, word == 0 ? null : Lease, word, this, _monitor, _logger));

    private static FollowStep Follow(EndPoint endpoint, LeaseState? lease) =>
        new(new LeaderAddress(endpoint, lease?.Epoch ?? 0) { EngineState = lease });

    /// <summary>False for a process that is gone, or on Linux is a zombie (it exited; its sockets are closed).</summary>
    internal static bool IsProcessAlive(int pid)
    {
        if (pid <= 0) return false;
        if (pid == Environment.ProcessId) return true;
        if (OperatingSystem.IsLinux()) return IsRunningOnLinux(pid);
        try
        {
            using var process = System.Diagnostics.Process.GetProcessById(pid);
            return !process.HasExited;
        }
        catch (Exception ex) when (ex is ArgumentException or InvalidOperationException)
        {
            return false;
        }
    }

    private static bool IsRunningOnLinux(int pid)
    {
        // /proc/<pid>/stat: "pid (comm) state ...". A killed process stays a zombie ('Z') until its parent reaps it,
        // which may be much later; once its last thread is gone it holds no socket any more, so it is as gone as a
        // process that was reaped. Its main thread turns zombie before the others finish exiting (they share the
        // open files, which close with the last one), so a zombie with other threads left is still alive here.
        try
        {
            string proc = "/proc/" + pid.ToString(System.Globalization.CultureInfo.InvariantCulture);
            string stat = File.ReadAllText(proc + "/stat");
            int close = stat.LastIndexOf(')');
            if (close < 0 || close + 2 >= stat.Length || stat[close + 2] is not ('Z' or 'X')) return true;
            return Directory.GetFileSystemEntries(proc + "/task").Length > 1;
        }
        catch (UnauthorizedAccessException)
        {
            return true; // it exists; who can tell more
        }
        catch (IOException)
        {
            return false; // no such process
        }
    }

    public ValueTask DisposeAsync()
    {
        Lease?.Dispose();
        return ValueTask.CompletedTask;
    }

    private readonly record struct Suspect(LeaseState Lease, long ProbedAt, long WatchStartMs, long LastPollMs, int Probes = 0);
}
