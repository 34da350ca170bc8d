using System.Diagnostics;
using ClusterSharing.Protocol;
using ClusterSharing.Transport;

namespace ClusterSharing.Liveness;

/// <summary>
/// What both ends of the wire share, as in Orleans' <c>Networking/Connection</c>: the read loop, heartbeats and the
/// eviction of a peer silent for 3 heartbeat intervals (on the monitor thread), the goodbye with its drain, and one
/// close that runs once. The leader's <c>FollowerSession</c> and the follower's <c>LeaderConnection</c> add only their
/// role: which packets they accept, their handshake half, their request table.
/// </summary>
/// <remarks>
/// It lives in Liveness, below Leader and Follower and above Transport: what the two roles share beyond frames is
/// exactly keeping a peer alive and noticing when it is not, while <see cref="FrameConnection"/> stays free of roles
/// and of time.
/// </remarks>
internal abstract class PeerConnection : IMonitored
{
    private static readonly TimeSpan DrainTimeout = TimeSpan.FromSeconds(2);
    private readonly long _heartbeatTicks;
    private readonly string _peer;
    private long _lastReceived;
    private long _lastHeartbeat;
    private int _closed;

    /// <param name="connection">The frames; this object owns it from now on.</param>
    /// <param name="heartbeatInterval">How often to send a heartbeat; 3 intervals without a sign of life evict the peer.</param>
    /// <param name="peer">The peer in close reasons: "the leader" or "the follower".</param>
    protected PeerConnection(FrameConnection connection, TimeSpan heartbeatInterval, string peer)
    {
        Connection = connection;
        _peer = peer;
        _heartbeatTicks = (long)(heartbeatInterval.TotalSeconds * Stopwatch.Frequency);
        _lastReceived = _lastHeartbeat = Stopwatch.GetTimestamp();
    }

    protected FrameConnection Connection { get; }

    /// <summary>The epoch stamped on heartbeats and goodbyes.</summary>
    protected abstract long Epoch { get; }

    /// <summary>
    /// True for the follower: its callers are settled (and its channels detached) as soon as it says goodbye, so retries
    /// wait for the next leader at once; the leader lets running calls send their replies while the goodbye drains.
    /// </summary>
    protected virtual bool SettlesBeforeDrain => false;

    public bool IsClosed => Volatile.Read(ref _closed) != 0;

    /// <summary>Starts the read loop; when it ends, for whatever reason, the connection closes.</summary>
    protected void StartReading() => _ = ReadAsync();

    private async Task ReadAsync()
    {
        string reason;
        try
        {
            var info = await Connection.RunAsync(Receive, CancellationToken.None).ConfigureAwait(false);
            reason = info.ToString();
        }
        catch (Exception ex)
        {
            reason = $"{ex.GetType().Name}: {ex.Message}";
        }
        Close(reason);
        OnReadingEnded(reason);
    }

    /// <summary>The read loop ended (after <see cref="OnClosed"/>; later than it when the connection closed without an abort and kept reading).</summary>
    protected virtual void OnReadingEnded(string reason)
    {
    }

    private ValueTask Receive(Frame frame)
    {
        Volatile.Write(ref _lastReceived, Stopwatch.GetTimestamp());
        return OnFrame(frame);
    }

    /// <summary>Handles one received frame (on the read loop; the frame is valid only during the call).</summary>
    protected abstract ValueTask OnFrame(Frame frame);

    /// <summary>Stopwatch timestamp of the last frame received (or of the last <see cref="MarkAlive"/>).</summary>
    protected long LastReceived => Volatile.Read(ref _lastReceived);

    /// <summary>Counts a sign of life that did not come as a frame (a UDP pulse answer).</summary>
    protected void MarkAlive(long timestamp) => Volatile.Write(ref _lastReceived, timestamp);

    /// <summary>Answers a peer's heartbeat (or the handshake's, when <paramref name="requestId"/> is not 0).</summary>
    protected void AnswerHeartbeat(long requestId, long epoch, long sentAtTicks) =>
        Connection.Send(PacketType.HeartbeatResponse, requestId, new HeartbeatHeader(epoch, sentAtTicks));

    /// <summary>Monitor thread: the role's own checks, then the peer's silence, then our heartbeat when due.</summary>
    public void OnTick(long timestamp)
    {
        if (IsClosed) return;
        bool heartbeatDue = timestamp - _lastHeartbeat >= _heartbeatTicks;
        if (!OnTick(timestamp, heartbeatDue) || IsClosed) return;
        long silent = timestamp - Math.Max(Volatile.Read(ref _lastReceived), LastSignOutsideConnection);
        if (silent > 3 * _heartbeatTicks)
        {
            double silentMs = silent * 1000.0 / Stopwatch.Frequency;
            OnEvicting(silentMs);
            Close($"{_peer} sent nothing for {silent * 1000 / Stopwatch.Frequency} ms (3 heartbeat intervals)");
            return;
        }
        if (heartbeatDue)
        {
            _lastHeartbeat = timestamp;
            Connection.Send(PacketType.Heartbeat, 0, new HeartbeatHeader(Epoch, timestamp));
        }
    }

    /// <summary>
    /// The role's checks on each monitor tick (deadlines, pulse, registration and auth timeouts); must be quick, must
    /// not allocate or throw. False when they closed the connection.
    /// </summary>
    protected virtual bool OnTick(long timestamp, bool heartbeatDue) => true;

    /// <summary>Stopwatch timestamp of the peer's last sign of life kept outside this connection (the leader's pulse responder), or 0.</summary>
    protected virtual long LastSignOutsideConnection => 0;

    /// <summary>The peer was silent for too long and is about to be closed.</summary>
    protected virtual void OnEvicting(double silentMs)
    {
    }

    /// <summary>Closes now (once): <see cref="OnClosed"/> runs, then the socket is aborted unless <paramref name="abort"/> is false.</summary>
    protected void Close(string reason, bool abort = true)
    {
        if (Interlocked.Exchange(ref _closed, 1) != 0) return;
        OnClosed(reason);
        if (abort) Connection.Abort(reason);
    }

    /// <summary>Runs once when the connection closes: settle the requests in progress, tell the owner.</summary>
    protected abstract void OnClosed(string reason);

    /// <summary>
    /// Called once, just before the goodbye is sent: the role stops dispatching and returns the highest request id it
    /// dispatched (the goodbye's <see cref="GoodbyeHeader.LastDispatched"/>), or -1 to say nothing about its calls.
    /// </summary>
    protected virtual long StopDispatching() => -1;

    /// <summary>After the goodbye: completes when the calls this side is still running have sent their replies (bounded by the drain).</summary>
    protected virtual Task WhenCallsFinishedAsync() => Task.CompletedTask;

    /// <summary>
    /// Says goodbye, lets the running calls send their replies and drains what was queued (at most 2 s in all), then
    /// closes.
    /// </summary>
    public async ValueTask CloseAsync(string reason)
    {
        long lastDispatched = StopDispatching();
        if (!IsClosed) Connection.Send(PacketType.Goodbye, 0, new GoodbyeHeader(Epoch, reason, lastDispatched));
        if (SettlesBeforeDrain) Close(reason, abort: false);
        using var drain = new CancellationTokenSource(DrainTimeout);
        try
        {
            await WhenCallsFinishedAsync().WaitAsync(drain.Token).ConfigureAwait(false);
        }
        catch (OperationCanceledException)
        {
            // Calls that outlive the drain are abandoned: their callers learn it from the closed connection.
        }
        await Connection.CloseAsync(reason, drain.Token).ConfigureAwait(false);
        Close(reason, abort: false);
    }
}
