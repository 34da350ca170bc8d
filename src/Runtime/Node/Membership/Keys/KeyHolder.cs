using System.Buffers;
using System.Diagnostics;
using System.Threading.Channels;
using ClusterSharing.Protocol;
using Microsoft.Extensions.Logging;

namespace ClusterSharing.Node.Membership.Keys;

/// <summary>Sends one key packet to the leader on the current route; false when the route is closed.</summary>
internal delegate bool KeyRoute(PacketType type, in KeysHeader header, ReadOnlySpan<byte> body);

/// <summary>
/// One process's side of leadership per key: the keys it holds, the owner view the leader sends, its lease (renewed
/// through the leader) and the keys it owns now. It owns a key only while the current leader names it the owner and its
/// lease runs; it stops at once when the route to the leader ends. Giving a key up (the leader names another owner)
/// fires the key's token, waits for its work (at most the release grace) and only then tells the leader.
/// </summary>
/// <remarks>
/// Lock order: <c>_sendGate</c>, then the leader's coordinator (this process leads), then <c>_gate</c>. Nothing is sent
/// while <c>_gate</c> is held; events run on one worker, in order.
/// </remarks>
internal sealed class KeyHolder : IAsyncDisposable
{
    private readonly object _gate = new();
    private readonly object _sendGate = new();
    private readonly string _self;
    private readonly KeyTimings _timings;
    private readonly ILogger _logger;
    private readonly HashSet<string> _held = new(StringComparer.Ordinal);
    private readonly Dictionary<string, KeyOwnerEntry> _view = new(StringComparer.Ordinal);
    private readonly Dictionary<string, long> _grants = new(StringComparer.Ordinal);
    private readonly Dictionary<string, KeyLease> _owned = new(StringComparer.Ordinal);
    private readonly Dictionary<(string Key, long Epoch), KeyLease> _ending = new();
    private readonly Dictionary<string, List<TaskCompletionSource>> _waiters = new(StringComparer.Ordinal);
    private readonly Dictionary<string, Task> _chains = new(StringComparer.Ordinal);
    private readonly Queue<(long Sequence, long SentAt)> _renewals = new();
    private readonly HashSet<string> _toAdd = new(StringComparer.Ordinal);
    private readonly HashSet<string> _toRemove = new(StringComparer.Ordinal);
    private readonly Channel<Action> _events = Channel.CreateUnbounded<Action>(new UnboundedChannelOptions { SingleReader = true });
    private readonly Task _eventWorker;
    private readonly Timer _timer;
    private readonly Func<long> _leaseUntilReader;
    private KeyRoute? _route;
    private long _leaseUntil;
    private long _renewSequence;
    private long _lastRenewSent;
    private long _ownersVersion;
    private bool _flushScheduled;
    private bool _disposed;

    public KeyHolder(string self, KeyTimings timings, ILogger logger)
    {
        _self = self;
        _timings = timings;
        _logger = logger;
        _leaseUntilReader = () => Interlocked.Read(ref _leaseUntil);
        _eventWorker = Task.Run(RunEventsAsync);
        _timer = new Timer(static state => ((KeyHolder)state!).OnTick(), this, timings.Tick, timings.Tick);
    }

    public event Action<KeyLease>? Acquired;

    public event Action<string, long, KeyReleaseReason>? Released;

    /// <summary>The owner view: key to owning member id, for keys that have an owner now.</summary>
    public IReadOnlyDictionary<string, string> Owners
    {
        get
        {
            lock (_gate)
            {
                var owners = new Dictionary<string, string>(_view.Count, StringComparer.Ordinal);
                foreach (var (key, entry) in _view)
                {
                    if (entry.Owner is not null) owners[key] = entry.Owner;
                }
                return owners;
            }
        }
    }

    /// <summary>The owner view's version from the leader (tests and benchmarks compare members with it).</summary>
    public long OwnersVersion => Interlocked.Read(ref _ownersVersion);

    public IReadOnlyCollection<string> Held
    {
        get { lock (_gate) return [.. _held]; }
    }

    public bool IsLeaderFor(string key) => Lease(key) is { IsValid: true };

    /// <summary>The current ownership of <paramref name="key"/>, or null when this process does not own it.</summary>
    public KeyLease? Lease(string key)
    {
        lock (_gate) return _owned.TryGetValue(key, out var lease) && lease.IsValid ? lease : null;
    }

    // ---- what the user does ----

    public void Add(string key)
    {
        KeyLimits.CheckKey(key, nameof(key));
        lock (_gate)
        {
            ObjectDisposedException.ThrowIf(_disposed, this);
            if (_held.Contains(key)) return;
            if (_held.Count >= KeyLimits.MaxKeysPerMember)
                throw new InvalidOperationException($"This process already holds {KeyLimits.MaxKeysPerMember} keys; remove some first.");
            _held.Add(key);
            if (!_toRemove.Remove(key)) _toAdd.Add(key);
            ScheduleFlushLocked();
        }
    }

    public void Remove(string key)
    {
        KeyLimits.CheckKey(key, nameof(key));
        var effects = new Effects();
        lock (_gate)
        {
            if (_disposed || !_held.Remove(key)) return;
            if (!_toAdd.Remove(key)) _toRemove.Add(key);
            ScheduleFlushLocked();
            ReevaluateLocked(key, KeyReleaseReason.Removed, effects);
        }
        Apply(effects);
    }

    /// <summary>
    /// Runs <paramref name="work"/> when this process owns <paramref name="key"/>; otherwise waits up to
    /// <paramref name="wait"/> for it to become the owner and checks once more. Calls for one key run one after another
    /// in the order they were made.
    /// </summary>
    public Task<bool> DoIfLeaderAsync(string key, Func<CancellationToken, Task> work, TimeSpan? wait, CancellationToken cancellationToken)
    {
        KeyLimits.CheckKey(key, nameof(key));
        ArgumentNullException.ThrowIfNull(work);
        Task<bool> run;
        lock (_chains)
        {
            var previous = _chains.GetValueOrDefault(key) ?? Task.CompletedTask;
            run = RunAfterAsync(previous, key, work, wait ?? _timings.Wait, cancellationToken);
            Task tail = run.ContinueWith(static _ => { }, CancellationToken.None, TaskContinuationOptions.ExecuteSynchronously, TaskScheduler.Default);
            _chains[key] = tail;
            tail.ContinueWith(t =>
            {
                lock (_chains)
                {
                    if (_chains.TryGetValue(key, out var current) && current == t) _chains.Remove(key);
                }
            }, CancellationToken.None, TaskContinuationOptions.ExecuteSynchronously, TaskScheduler.Default);
        }
        return run;
    }

    private async Task<bool> RunAfterAsync(Task previous, string key, Func<CancellationToken, Task> work, TimeSpan wait, CancellationToken cancellationToken)
    {
        await previous.ConfigureAwait(false);
        var lease = Lease(key);
        if (lease is null && wait > TimeSpan.Zero)
        {
            var acquired = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            lock (_gate)
            {
                lease = _owned.TryGetValue(key, out var now) && now.IsValid ? now : null;
                if (lease is null)
                {
                    if (!_waiters.TryGetValue(key, out var list)) _waiters[key] = list = [];
                    list.Add(acquired);
                }
            }
            if (lease is null)
            {
                try
                {
                    await acquired.Task.WaitAsync(wait, cancellationToken).ConfigureAwait(false);
                }
                catch (TimeoutException)
                {
                    // Checked once more below.
                }
                finally
                {
                    lock (_gate)
                    {
                        if (_waiters.TryGetValue(key, out var list) && list.Remove(acquired) && list.Count == 0) _waiters.Remove(key);
                    }
                }
                lease = Lease(key);
            }
        }
        if (lease is null || !lease.TryEnter()) return false;
        try
        {
            using var linked = CancellationTokenSource.CreateLinkedTokenSource(lease.Token, cancellationToken);
            await work(linked.Token).ConfigureAwait(false);
            return true;
        }
        finally
        {
            lease.Exit();
        }
    }

    // ---- the route to the leader ----

    /// <summary>A new route to a leader (a connection, or this process's own coordinator): announce every held key and renew.</summary>
    public void Attach(KeyRoute route)
    {
        lock (_sendGate)
        {
            string[] held;
            lock (_gate)
            {
                if (_disposed) return;
                _route = route;
                _grants.Clear();
                _renewals.Clear();
                Interlocked.Exchange(ref _leaseUntil, 0);
                _toAdd.Clear();
                _toRemove.Clear();
                held = [.. _held];
            }
            RenewLocked(route);
            route(PacketType.KeyHold, new KeysHeader(0, 0, 0), KeyCodec.EncodeHold(held, []));
        }
    }

    /// <summary>The route ended: nothing is owned from now on (the leader moves the keys once this lease lapsed).</summary>
    public void Detach(KeyRoute? route = null)
    {
        var effects = new Effects();
        lock (_gate)
        {
            if (route is not null && _route != route) return;
            _route = null;
            _grants.Clear();
            _renewals.Clear();
            Interlocked.Exchange(ref _leaseUntil, 0);
            foreach (var key in _owned.Keys.ToArray()) ReevaluateLocked(key, KeyReleaseReason.LeaderLost, effects);
        }
        Apply(effects);
    }

    private void RenewLocked(KeyRoute route)
    {
        long sequence;
        long now = Stopwatch.GetTimestamp();
        lock (_gate)
        {
            if (_route != route) return;
            sequence = ++_renewSequence;
            _renewals.Enqueue((sequence, now));
            while (_renewals.Count > 64) _renewals.Dequeue();
            _lastRenewSent = now;
        }
        route(PacketType.KeyRenew, new KeysHeader(0, 0, sequence), default);
    }

    private void ScheduleFlushLocked()
    {
        if (_flushScheduled || _route is null) return;
        _flushScheduled = true;
        _ = Task.Run(Flush);
    }

    private void Flush()
    {
        lock (_sendGate)
        {
            KeyRoute? route;
            string[] added, removed;
            lock (_gate)
            {
                _flushScheduled = false;
                route = _route;
                if (route is null || (_toAdd.Count == 0 && _toRemove.Count == 0)) return;
                added = [.. _toAdd];
                removed = [.. _toRemove];
                _toAdd.Clear();
                _toRemove.Clear();
            }
            route(PacketType.KeyHold, new KeysHeader(0, 1, 0), KeyCodec.EncodeHold(added, removed));
        }
    }

    private void OnTick()
    {
        KeyRoute? route;
        bool renew;
        var effects = new Effects();
        lock (_gate)
        {
            if (_disposed) return;
            route = _route;
            long now = Stopwatch.GetTimestamp();
            renew = route is not null && now - _lastRenewSent >= _timings.RenewEvery;
            if (_owned.Count > 0 && now >= Interlocked.Read(ref _leaseUntil))
            {
                foreach (var key in _owned.Keys.ToArray()) ReevaluateLocked(key, KeyReleaseReason.LeaseExpired, effects);
            }
        }
        Apply(effects);
        if (renew && route is not null)
        {
            lock (_sendGate) RenewLocked(route);
        }
    }

    // ---- what the leader sends ----

    public void OnFrame(PacketType type, in KeysHeader header, ReadOnlySequence<byte> body, Serialization.DecodingLimits limits)
    {
        switch (type)
        {
            case PacketType.KeyRenewAck:
                OnRenewAck(header.Sequence);
                break;
            case PacketType.KeyOwners:
                OnOwners(header.Kind == 0, header.Sequence, KeyCodec.DecodeOwners(body, limits));
                break;
            default:
                throw new ProtocolException(ProtocolErrorReason.UnexpectedPacket, $"{type} is not a key packet the leader sends.");
        }
    }

    private void OnRenewAck(long sequence)
    {
        var effects = new Effects();
        lock (_gate)
        {
            if (_route is null) return;
            long sentAt = 0;
            while (_renewals.TryPeek(out var renewal) && renewal.Sequence <= sequence)
            {
                _renewals.Dequeue();
                if (renewal.Sequence == sequence) sentAt = renewal.SentAt;
            }
            if (sentAt == 0) return;
            // The lease runs from when the renewal was sent (before the leader saw it), never from when the answer came.
            long until = sentAt + _timings.Lease;
            if (until <= Interlocked.Read(ref _leaseUntil)) return;
            Interlocked.Exchange(ref _leaseUntil, until);
            foreach (var key in _grants.Keys) ReevaluateLocked(key, KeyReleaseReason.Moved, effects);
        }
        Apply(effects);
    }

    private void OnOwners(bool snapshot, long version, List<KeyOwnerEntry> entries)
    {
        var effects = new Effects();
        lock (_gate)
        {
            if (_route is null) return;
            Interlocked.Exchange(ref _ownersVersion, version);
            if (snapshot) _view.Clear();
            foreach (var entry in entries)
            {
                if (entry.Epoch == 0) _view.Remove(entry.Key);
                else _view[entry.Key] = entry;
                bool mine = entry.Owner == _self && entry.Epoch != 0;
                if (_grants.TryGetValue(entry.Key, out long granted) && (!mine || granted != entry.Epoch))
                {
                    // The leader withdrew this grant: it waits for our release (after the work under it stopped).
                    _grants.Remove(entry.Key);
                    effects.Releases.Add((entry.Key, granted));
                }
                if (mine) _grants[entry.Key] = entry.Epoch;
                ReevaluateLocked(entry.Key, KeyReleaseReason.Moved, effects);
            }
            foreach (var (key, epoch) in effects.Releases)
            {
                if (!_ending.TryGetValue((key, epoch), out var lease)) continue;
                if (lease.IsBusy) effects.Draining.Add(lease);
                else effects.Idle.Add(lease);
            }
        }
        Apply(effects);
    }

    /// <summary>Starts or ends the ownership of <paramref name="key"/> to match the grants, the holds and the lease.</summary>
    private void ReevaluateLocked(string key, KeyReleaseReason reason, Effects effects)
    {
        long now = Stopwatch.GetTimestamp();
        bool should = !_disposed && _route is not null && _held.Contains(key) && _grants.TryGetValue(key, out long epoch) && now < Interlocked.Read(ref _leaseUntil);
        _grants.TryGetValue(key, out epoch);
        if (_owned.TryGetValue(key, out var lease) && (!should || lease.Epoch != epoch))
        {
            _owned.Remove(key);
            _ending[(key, lease.Epoch)] = lease;
            effects.Ended.Add((lease, reason));
        }
        if (should && !_owned.ContainsKey(key))
        {
            var acquired = new KeyLease(key, epoch, _leaseUntilReader);
            _owned.Add(key, acquired);
            effects.Started.Add(acquired);
            if (_waiters.Remove(key, out var waiters)) effects.Waiters.AddRange(waiters);
        }
    }

    /// <summary>Outside the lock: fire tokens, queue events, send releases once the work under them stopped.</summary>
    private void Apply(Effects effects)
    {
        foreach (var (lease, reason) in effects.Ended)
        {
            lease.End();
            KeysLog.Released(_logger, lease.Key, lease.Epoch, reason);
            _events.Writer.TryWrite(() => Released?.Invoke(lease.Key, lease.Epoch, reason));
            _ = ForgetWhenDrainedAsync(lease);
        }
        foreach (var lease in effects.Started)
        {
            KeysLog.Acquired(_logger, lease.Key, lease.Epoch);
            _events.Writer.TryWrite(() => Acquired?.Invoke(lease));
        }
        foreach (var waiter in effects.Waiters) waiter.TrySetResult();
        if (effects.Releases.Count == 0) return;
        KeyRoute? route;
        lock (_gate) route = _route;
        if (route is null) return;
        var draining = effects.Draining.ToDictionary(l => (l.Key, l.Epoch));
        var now = effects.Releases.Where(r => !draining.ContainsKey(r)).ToList();
        if (now.Count > 0) _ = ReleaseAfterCallbacksAsync(route, now, [.. effects.Idle]);
        foreach (var lease in draining.Values) _ = ReleaseAfterDrainAsync(route, lease);
    }

    /// <summary>Releases keys with no work running, once their tokens' callbacks ran (one packet for all of them).</summary>
    private async Task ReleaseAfterCallbacksAsync(KeyRoute route, List<(string Key, long Epoch)> releases, KeyLease[] leases)
    {
        await Task.Yield(); // never on the caller's thread (see ReleaseAfterDrainAsync)
        await Task.WhenAll(leases.Select(l => l.DrainAsync(_timings.Grace))).ConfigureAwait(false);
        SendReleases(route, releases);
    }

    private async Task ReleaseAfterDrainAsync(KeyRoute route, KeyLease lease)
    {
        // Never send on the caller's thread: Apply may run under the leader's coordinator lock (this process leads),
        // and sending takes _sendGate, which a renewal may hold while it waits for that lock.
        await Task.Yield();
        if (!await lease.DrainAsync(_timings.Grace).ConfigureAwait(false)) KeysLog.GraceExceeded(_logger, lease.Key, lease.Epoch, _timings.Grace.TotalMilliseconds);
        SendReleases(route, [(lease.Key, lease.Epoch)]);
    }

    private async Task ForgetWhenDrainedAsync(KeyLease lease)
    {
        await lease.DrainAsync(_timings.Grace).ConfigureAwait(false);
        lock (_gate)
        {
            if (_ending.TryGetValue((lease.Key, lease.Epoch), out var known) && known == lease) _ending.Remove((lease.Key, lease.Epoch));
        }
    }

    private void SendReleases(KeyRoute route, List<(string Key, long Epoch)> releases)
    {
        lock (_sendGate)
        {
            lock (_gate)
            {
                if (_route != route) return;
            }
            route(PacketType.KeyRelease, new KeysHeader(0, 0, 0), KeyCodec.EncodeReleases(releases));
        }
    }

    private async Task RunEventsAsync()
    {
        var reader = _events.Reader;
        while (await reader.WaitToReadAsync().ConfigureAwait(false))
        {
            while (reader.TryRead(out var raise))
            {
                try
                {
                    raise();
                }
                catch (Exception ex)
                {
                    KeysLog.HandlerFailed(_logger, ex);
                }
            }
        }
    }

    /// <summary>
    /// Gives every key up: the leader hears that this process holds nothing and releases what it owned (after the work
    /// under it stopped, at most the grace), so the keys move at once instead of after the lease.
    /// </summary>
    public async ValueTask DisposeAsync()
    {
        var effects = new Effects();
        KeyRoute? route;
        List<(string, long)> released = [];
        lock (_gate)
        {
            if (_disposed) return;
            _disposed = true;
            route = _route;
            foreach (var key in _owned.Keys.ToArray()) ReevaluateLocked(key, KeyReleaseReason.Closed, effects);
            foreach (var (key, epoch) in _grants) released.Add((key, epoch));
            _held.Clear();
        }
        _timer.Dispose();
        Apply(effects);
        if (route is not null)
        {
            await Task.WhenAll(effects.Ended.Select(e => e.Lease.DrainAsync(_timings.Grace))).ConfigureAwait(false);
            lock (_sendGate)
            {
                route(PacketType.KeyHold, new KeysHeader(0, 0, 0), KeyCodec.EncodeHold([], []));
                if (released.Count > 0) route(PacketType.KeyRelease, new KeysHeader(0, 0, 0), KeyCodec.EncodeReleases(released));
            }
        }
        lock (_gate) _route = null;
        _events.Writer.TryComplete();
        try
        {
            await _eventWorker.WaitAsync(TimeSpan.FromSeconds(5)).ConfigureAwait(false);
        }
        catch (TimeoutException)
        {
            // A handler that does not return; the worker ends when it does.
        }
    }

    private sealed class Effects
    {
        public List<(KeyLease Lease, KeyReleaseReason Reason)> Ended { get; } = [];

        public List<KeyLease> Started { get; } = [];

        public List<TaskCompletionSource> Waiters { get; } = [];

        public List<(string Key, long Epoch)> Releases { get; } = [];

        public List<KeyLease> Draining { get; } = [];

        public List<KeyLease> Idle { get; } = [];
    }
}
