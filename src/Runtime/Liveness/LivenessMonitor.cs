namespace ClusterSharing.Liveness;

/// <summary>Something checked on every monitor tick: heartbeats, dead peers, call deadlines.</summary>
internal interface IMonitored
{
    /// <summary>Called on the monitor thread; must be quick and must not throw.</summary>
    void OnTick(long timestamp);
}

/// <summary>
/// A dedicated thread (not the thread pool) that drives heartbeats, dead-peer detection and call deadlines, so
/// CPU-bound user work that saturates the pool cannot delay them into false deaths.
/// </summary>
internal sealed class LivenessMonitor : IDisposable
{
    private static readonly TimeSpan Tick = TimeSpan.FromMilliseconds(10);
    private readonly object _gate = new();
    private readonly ManualResetEventSlim _stop = new();
    private IMonitored[] _items = [];
    private Thread? _thread;

    public LivenessMonitor(string name) => Name = name;

    public string Name { get; }

    public void Add(IMonitored item)
    {
        lock (_gate)
        {
            _items = [.. _items, item];
            if (_thread is null && !_stop.IsSet)
            {
                _thread = new Thread(Run) { IsBackground = true, Name = Name, Priority = ThreadPriority.AboveNormal };
                _thread.Start();
            }
        }
    }

    public void Remove(IMonitored item)
    {
        lock (_gate) _items = Array.FindAll(_items, i => !ReferenceEquals(i, item));
    }

    private void Run()
    {
        while (!_stop.Wait(Tick))
        {
            long now = System.Diagnostics.Stopwatch.GetTimestamp();
            foreach (var item in Volatile.Read(ref _items))
            {
                try
                {
                    item.OnTick(now);
                }
                catch
                {
                    // OnTick must not throw; a buggy item must not stop heartbeats for the others.
                }
            }
        }
    }

    public void Dispose()
    {
        Thread? thread;
        lock (_gate)
        {
            _stop.Set();
            thread = _thread;
        }
        if (thread is not null && thread != Thread.CurrentThread) thread.Join(TimeSpan.FromSeconds(5));
    }
}
