using Microsoft.Extensions.Logging;

namespace ClusterSharing.Node;

/// <summary>
/// One <c>WhenLeader</c> registration on a node: runs the work once per leadership term of this process, cancels it
/// when the term ends, and never lets two runs overlap. Every change (term won, term lost, run ended, disposal) calls
/// <see cref="Kick"/>; one reconciliation at a time compares what runs with what should run.
/// </summary>
internal sealed class LeaderWork
{
    private static readonly TimeSpan MaxRestartDelay = TimeSpan.FromSeconds(30);
    private readonly ClusterNode _node;
    private readonly Func<CancellationToken, Task> _work;
    private readonly LeaderWorkOptions _options;
    private readonly SemaphoreSlim _reconcile = new(1, 1);
    private Task? _run;
    private CancellationTokenSource? _runCancel;
    private long _runTerm;
    private long _lastStartedTerm;
    private int _failuresThisTerm;
    private bool _warnedStuck;
    private bool _restartPending;
    private int _restartGeneration;
    private int _restartDueGeneration;
    private volatile bool _disposed;

    public LeaderWork(ClusterNode node, Func<CancellationToken, Task> work, LeaderWorkOptions options)
    {
        _node = node;
        _work = work;
        _options = options;
    }

    public string Name => _options.Name ?? "leader work";

    /// <summary>Checks again whether the work should run (a term started or ended, a run ended, the registration closed).</summary>
    public void Kick() => _ = SettleAsync();

    /// <summary>
    /// Stops for good: cancels a running run and waits for it, at most the grace period (a run that ignores its token
    /// is reported, event 1031, and left to end on its own).
    /// </summary>
    public Task StopAsync()
    {
        _disposed = true;
        return SettleAsync();
    }

    /// <summary>Cancels a running run without waiting (synchronous dispose).</summary>
    public void Stop()
    {
        _disposed = true;
        Kick();
    }

    /// <summary>
    /// Starts the run this term calls for, or cancels one whose term is over and waits for it (at most the grace
    /// period). The node awaits this when a term is lost, before it stops its channels, so the work ends first.
    /// </summary>
    public async Task SettleAsync()
    {
        await _reconcile.WaitAsync().ConfigureAwait(false);
        try
        {
            long term = _disposed ? 0 : _node.LeadingTerm;
            if (_run is { } run)
            {
                if (run.IsCompleted)
                {
                    Observe(run);
                    _run = null;
                    _runCancel?.Dispose();
                    _runCancel = null;
                }
                else if (term != _runTerm)
                {
                    // The term is over (lost, resigned, node or registration closed): the run must observe it before any other starts.
                    CancelRun();
                    if (await Task.WhenAny(run, Task.Delay(_options.GracePeriod)).ConfigureAwait(false) != run)
                    {
                        if (!_warnedStuck) NodeLog.LeaderWorkIgnoresCancellation(_node.Logger, Name, _options.GracePeriod.TotalSeconds);
                        _warnedStuck = true;
                        // The run's own completion kicks again; until then nothing new starts.
                        return;
                    }
                    Observe(run);
                    _run = null;
                    _runCancel?.Dispose();
                    _runCancel = null;
                }
                else return;
            }
            if (term == 0 || term == _lastStartedTerm && !RestartDue()) return;
            if (term != _lastStartedTerm) _failuresThisTerm = 0;
            Start(term);
        }
        finally
        {
            _reconcile.Release();
        }
    }

    /// <summary>Within one term, a failed run is started again only with <see cref="LeaderWorkOptions.RestartOnFailure"/>, after its backoff.</summary>
    private bool RestartDue() => _restartPending && Volatile.Read(ref _restartDueGeneration) == _restartGeneration;

    private void Start(long term)
    {
        var cancel = new CancellationTokenSource();
        _runCancel = cancel;
        _runTerm = term;
        _lastStartedTerm = term;
        _warnedStuck = false;
        _restartPending = false;
        long epoch = _node.Epoch;
        NodeLog.LeaderWorkStarted(_node.Logger, Name, epoch);
        var token = cancel.Token;
        var run = Task.Run(() => _work(token), CancellationToken.None);
        _run = run;
        _ = run.ContinueWith(static (_, state) => ((LeaderWork)state!).Kick(), this, CancellationToken.None,
            TaskContinuationOptions.ExecuteSynchronously, TaskScheduler.Default);
    }

    private void CancelRun()
    {
        try
        {
            _runCancel?.Cancel();
        }
        catch (AggregateException)
        {
            // Callbacks the work registered threw; it is cancelled all the same.
        }
    }

    /// <summary>Logs how a run ended; a failure within a live term schedules a restart when the options ask for one.</summary>
    private void Observe(Task run)
    {
        bool cancelled = _runCancel?.IsCancellationRequested == true;
        if (run.IsFaulted && !(cancelled && run.Exception!.InnerException is OperationCanceledException))
        {
            _failuresThisTerm++;
            bool restart = _options.RestartOnFailure && !cancelled && !_disposed;
            NodeLog.LeaderWorkFailed(_node.Logger, Name, restart ? "it is restarted after a delay" : "it runs again on this process's next leadership term", run.Exception!.InnerException ?? run.Exception);
            if (restart)
            {
                var delay = RestartDelay(_failuresThisTerm);
                _restartPending = true;
                int generation = ++_restartGeneration;
                _ = Task.Delay(delay).ContinueWith(_ =>
                {
                    Volatile.Write(ref _restartDueGeneration, generation);
                    Kick();
                }, CancellationToken.None, TaskContinuationOptions.ExecuteSynchronously, TaskScheduler.Default);
            }
        }
        else NodeLog.LeaderWorkStopped(_node.Logger, Name, run.IsCanceled || run.IsFaulted ? "cancelled" : "returned");
    }

    private TimeSpan RestartDelay(int failures) =>
        TimeSpan.FromTicks(Math.Min(MaxRestartDelay.Ticks, _options.RestartDelay.Ticks << Math.Min(failures - 1, 16)));
}
