using System.Diagnostics;
using System.IO.MemoryMappedFiles;
using Microsoft.Extensions.Logging;

namespace ClusterSharing.Coordination.Local;

/// <summary>Where the lease holder listens.</summary>
internal enum LeaseEndpointKind
{
    /// <summary>Not published yet.</summary>
    None = 0,

    /// <summary>The port (or socket path) every process derives from the options.</summary>
    Primary = 1,

    /// <summary>Another TCP port on the bind address (the primary was held by a deposed, hung leader).</summary>
    TcpPort = 2,

    /// <summary>The primary socket path with the epoch appended (the primary was held by a deposed, hung leader).</summary>
    UnixPath = 3,
}

/// <summary>A consistent snapshot of the lease.</summary>
/// <param name="Word">The compare-and-swap word: epoch (high 24 bits) and last renewal in ms (low 40 bits).</param>
/// <param name="Holder">Random token of the holding node (unique per node, so nodes in one process differ).</param>
/// <param name="Pid">Process id of the holder.</param>
/// <param name="Kind">Where the holder listens; <see cref="LeaseEndpointKind.None"/> while it is still binding.</param>
/// <param name="Value">The TCP port of <see cref="LeaseEndpointKind.TcpPort"/>.</param>
internal readonly record struct LeaseState(long Word, long Holder, int Pid, LeaseEndpointKind Kind, int Value)
{
    public long Epoch => LeaderLease.EpochOf(Word);

    public long RenewedMs => LeaderLease.MillisecondsOf(Word);

    public bool IsEmpty => Word == 0;

    /// <summary>True when the holder renewed within <paramref name="staleAfter"/>.</summary>
    public bool IsLive(TimeSpan staleAfter) => RenewedMs != 0 && LeaderLease.NowMs() - RenewedMs <= (long)staleAfter.TotalMilliseconds;

    public override string ToString() => $"epoch {Epoch}, pid {Pid}, renewed {LeaderLease.NowMs() - RenewedMs} ms ago";
}

/// <summary>
/// The leader lease of one port: a 64-byte memory-mapped file shared by every process of the cluster. The holder
/// renews it from its monitor thread; a candidate takes it over by compare-and-swap once it is stale (or its holder is
/// provably gone), which moves the epoch on. A stopped (SIGSTOP) leader cannot renew, so it is replaced even though it
/// still holds its listening socket; when it resumes, its next renewal fails and it steps down.
/// </summary>
/// <remarks>
/// Layout (native endian): 0 magic, 8 word (CAS), 16 holder token, 24 pid, 28 endpoint kind, 32 endpoint value,
/// 40 published epoch. Only the holder of epoch e writes fields 16-32, after winning the CAS and before publishing e at
/// 40; readers accept a snapshot only when the published epoch equals the word's epoch before and after reading them.
/// </remarks>
internal sealed unsafe class LeaderLease : IDisposable
{
    private const long Magic = 0x3153_4145_4C43_4343; // "CCCLEAS1"
    private const int Size = 64;
    private const int EpochShift = 40;
    private const long MillisecondMask = (1L << EpochShift) - 1;

    private readonly MemoryMappedFile _file;
    private readonly MemoryMappedViewAccessor _view;
    private readonly byte* _base;
    private int _disposed;

    private LeaderLease(string path, MemoryMappedFile file, MemoryMappedViewAccessor view)
    {
        Path = path;
        _file = file;
        _view = view;
        byte* pointer = null;
        view.SafeMemoryMappedViewHandle.AcquirePointer(ref pointer);
        _base = pointer + view.PointerOffset;
    }

    public string Path { get; }

    /// <summary>Milliseconds of the system-wide monotonic clock (the same in every process; stops with no process).</summary>
    public static long NowMs() => (long)(Stopwatch.GetTimestamp() * (1000.0 / Stopwatch.Frequency)) & MillisecondMask;

    public static long EpochOf(long word) => (long)((ulong)word >> EpochShift);

    public static long MillisecondsOf(long word) => word & MillisecondMask;

    private static long Pack(long epoch, long ms) => (epoch << EpochShift) | (ms & MillisecondMask);

    /// <summary>Opens (creating if needed) the lease file of <paramref name="port"/> in <paramref name="directory"/>.</summary>
    /// <returns>Null, with a logged warning, when the file cannot be used (the node then elects by the port alone).</returns>
    public static LeaderLease? TryOpen(string directory, int port, ILogger logger)
    {
        string path = System.IO.Path.Combine(directory, $"cc-{port}.lease");
        try
        {
            var options = new FileStreamOptions
            {
                Mode = FileMode.OpenOrCreate,
                Access = FileAccess.ReadWrite,
                Share = FileShare.ReadWrite | FileShare.Delete,
            };
            if (!OperatingSystem.IsWindows()) options.UnixCreateMode = UnixFileMode.UserRead | UnixFileMode.UserWrite;
            var stream = new FileStream(path, options);
            // Concurrent creators all extend to the same size with zeros; nobody ever shrinks the file.
            if (stream.Length < Size) stream.SetLength(Size);
            var file = MemoryMappedFile.CreateFromFile(stream, null, Size, MemoryMappedFileAccess.ReadWrite, HandleInheritability.None, leaveOpen: false);
            var view = file.CreateViewAccessor(0, Size, MemoryMappedFileAccess.ReadWrite);
            var lease = new LeaderLease(path, file, view);
            long magic = Interlocked.CompareExchange(ref lease.Field(0), Magic, 0);
            if (magic != 0 && magic != Magic)
            {
                lease.Dispose();
                ElectionLog.LeaseUnusable(logger, path, "the file does not hold a ClusterClient lease", null);
                return null;
            }
            return lease;
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException or NotSupportedException)
        {
            ElectionLog.LeaseUnusable(logger, path, ex.Message, ex);
            return null;
        }
    }

    private ref long Field(int offset) => ref *(long*)(_base + offset);

    private ref int IntField(int offset) => ref *(int*)(_base + offset);

    /// <summary>The lease word alone (epoch and last renewal): one read of shared memory, no system call.</summary>
    public long ReadWord() => Volatile.Read(ref Field(8));

    /// <summary>A consistent snapshot; <see cref="LeaseState.Kind"/> is None while the holder of the current epoch has not published.</summary>
    public LeaseState Read()
    {
        for (int attempt = 0; ; attempt++)
        {
            long published1 = Volatile.Read(ref Field(40));
            long holder = Volatile.Read(ref Field(16));
            int pid = Volatile.Read(ref IntField(24));
            int kind = Volatile.Read(ref IntField(28));
            int value = Volatile.Read(ref IntField(32));
            long word = Interlocked.Read(ref Field(8));
            long published2 = Volatile.Read(ref Field(40));
            if (published1 == published2 && published1 == EpochOf(word) && word != 0)
                return new LeaseState(word, holder, pid, (LeaseEndpointKind)kind, value);
            if (published1 == published2 || attempt >= 100)
                return new LeaseState(word, 0, 0, LeaseEndpointKind.None, 0);
            Thread.SpinWait(16); // a publish in progress: a few field writes away
        }
    }

    /// <summary>Takes the lease over from <paramref name="observed"/>; fails if anyone changed it meanwhile.</summary>
    public bool TryAcquire(long observed, out long word)
    {
        long epoch = EpochOf(observed) + 1;
        word = Pack(epoch, Math.Max(1, NowMs()));
        return Interlocked.CompareExchange(ref Field(8), word, observed) == observed;
    }

    /// <summary>The holder of <paramref name="word"/>'s epoch announces where it listens.</summary>
    public void Publish(long word, long holder, LeaseEndpointKind kind, int value)
    {
        Volatile.Write(ref Field(16), holder);
        Volatile.Write(ref IntField(24), Environment.ProcessId);
        Volatile.Write(ref IntField(28), (int)kind);
        Volatile.Write(ref IntField(32), value);
        Interlocked.Exchange(ref Field(40), EpochOf(word));
    }

    /// <summary>Renews the lease held as <paramref name="word"/>; false (word unchanged) when another process took it over.</summary>
    public bool TryRenew(ref long word)
    {
        long renewed = Pack(EpochOf(word), Math.Max(1, NowMs()));
        long seen = Interlocked.CompareExchange(ref Field(8), renewed, word);
        if (seen != word) return false;
        word = renewed;
        return true;
    }

    /// <summary>Gives the lease up (clean shutdown or step-down), keeping the epoch so the next holder continues from it.</summary>
    public void Release(long word) => Interlocked.CompareExchange(ref Field(8), Pack(EpochOf(word), 0), word);

    /// <summary>Undoes a takeover that could not bind: puts back what was there, unless someone moved on meanwhile.</summary>
    public void Restore(long acquired, long previous) => Interlocked.CompareExchange(ref Field(8), previous, acquired);

    public void Dispose()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0) return;
        _view.SafeMemoryMappedViewHandle.ReleasePointer();
        _view.Dispose();
        _file.Dispose();
    }
}
