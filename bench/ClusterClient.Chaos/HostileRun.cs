using System.Buffers;
using System.Buffers.Binary;
using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using System.Text.Json;
using ClusterSharing.Protocol;
using ClusterSharing.Proxies;
using ClusterSharing.Serialization;

namespace ClusterSharing.Chaos;

/// <summary>
/// Hostile input against a live leader while two legitimate followers keep calling: random and mutated frames from
/// rogue connections, oversized lengths, headers trickled a byte at a time, and a flood of silent connections.
/// Reports whether the followers kept being served, the leader's memory before/after, and whether every rogue
/// connection was closed with a logged reason.
/// </summary>
internal sealed class HostileRun
{
    private const int RegistrationTimeoutMs = 2000;
    private const int HeartbeatMs = 1000;
    private const int FramesPerConnection = 2000;
    private const int FramesPerBatch = 200;
    private static readonly TimeSpan CloseLimit = TimeSpan.FromSeconds(15);

    private readonly ChaosOptions _options;
    private readonly List<WorkerProcess> _workers = new();
    private readonly List<string> _anomalies = new();
    private readonly Dictionary<string, long> _framesByKind = new(StringComparer.Ordinal);
    private readonly ClusterContract<IChaosService> _contract = ContractResolver.Resolve<IChaosService>(ProxyGenerationMode.PreferGenerated);
    private long _framesSent;
    private long _connections;
    private long _closedByLeader;
    private long _notClosed;
    private long _connectFailures;
    private long _bytesReceived;

    public HostileRun(ChaosOptions options) => _options = options;

    private ClusterMethod Method(string name) => _contract.Methods.First(m => m.Name == name);

    public async Task<int> RunAsync()
    {
        var watch = Stopwatch.StartNew();
        var report = new Dictionary<string, object?>();
        try
        {
            var leader = Start(new WorkerOptions { Port = _options.Workers.Port, HeartbeatMs = HeartbeatMs, RegistrationTimeoutMs = RegistrationTimeoutMs, Loops = 0, Log = true, Open = true });
            if (!await Poll.UntilAsync(() => leader.Ready || leader.ReadyFailed, TimeSpan.FromSeconds(60)) || !leader.IsLeader)
                throw new InvalidOperationException($"The leader worker did not start as leader: {leader.Failure}\n{leader.StderrTail()}");
            var followers = new[]
            {
                Start(new WorkerOptions { Port = _options.Workers.Port, HeartbeatMs = HeartbeatMs, RegistrationTimeoutMs = RegistrationTimeoutMs, Loops = 1, PaceMs = 1, Open = true }),
                Start(new WorkerOptions { Port = _options.Workers.Port, HeartbeatMs = HeartbeatMs, RegistrationTimeoutMs = RegistrationTimeoutMs, Loops = 1, PaceMs = 1, Open = true }),
            };
            if (!await Poll.UntilAsync(() => followers.All(f => f.Ready || f.ReadyFailed), TimeSpan.FromSeconds(60)) || !followers.All(f => f.Ready))
                throw new InvalidOperationException("The legitimate followers did not get ready.");
            await Task.Delay(1000);
            var warmup = followers.Select(Snapshot).ToArray();
            var warmupWatch = Stopwatch.StartNew();
            await Task.Delay(2000);
            var memoryBefore = await GcAsync(leader);
            var callsBefore = followers.Select(Snapshot).ToArray();
            double rateBefore = callsBefore.Zip(warmup, (a, b) => a.Ok - b.Ok).Sum() / warmupWatch.Elapsed.TotalSeconds;
            var attackWatch = Stopwatch.StartNew();
            Console.Error.WriteLine($"hostile: leader pid {leader.Pid} on port {_options.Workers.Port}; working set {Mb(memoryBefore.WorkingSet)} MiB, heap {Mb(memoryBefore.Heap)} MiB");

            var phases = new Dictionary<string, object?>();
            var phase = Stopwatch.StartNew();
            await RandomAndMutatedFramesAsync(_options.Frames);
            phases["frames"] = new { frames = _framesSent, connections = _connections, seconds = Math.Round(phase.Elapsed.TotalSeconds, 1), byKind = new SortedDictionary<string, long>(_framesByKind) };
            Console.Error.WriteLine($"hostile: {_framesSent} frames over {_connections} connections in {phase.Elapsed.TotalSeconds:0.0} s");

            phase.Restart();
            long before = _closedByLeader;
            int oversized = await OversizedLengthsAsync(200);
            phases["oversized"] = new { connections = oversized, closedByLeader = _closedByLeader - before, seconds = Math.Round(phase.Elapsed.TotalSeconds, 1) };

            phase.Restart();
            before = _closedByLeader;
            var trickle = await TrickleAsync(unregistered: 10, registered: 5);
            phases["trickle"] = new { connections = 15, closedByLeader = _closedByLeader - before, maxSecondsToClose = Math.Round(trickle, 1) };

            phase.Restart();
            before = _closedByLeader;
            int flooded = await FloodAsync(_options.Flood);
            phases["flood"] = new { connections = flooded, closedByLeader = _closedByLeader - before, seconds = Math.Round(phase.Elapsed.TotalSeconds, 1) };
            Console.Error.WriteLine($"hostile: oversized, trickle and flood phases done ({watch.Elapsed.TotalSeconds:0} s)");

            // Rogue connections are counted by their close (closedByLeader). The leader logs at most one line per admitted
            // connection and a bounded number of rejection warnings (at most 20 per 10 s): a flood does not flood the log.
            long rogue = Interlocked.Read(ref _connections);
            await Task.Delay(1000);
            var memoryAfter = await GcAsync(leader);
            var callsAfter = followers.Select(Snapshot).ToArray();
            double attackSeconds = attackWatch.Elapsed.TotalSeconds;

            long okDuring = callsAfter.Zip(callsBefore, (a, b) => a.Ok - b.Ok).Sum();
            long failedDuring = callsAfter.Zip(callsBefore, (a, b) => a.Failed - b.Failed).Sum();
            int connectedLines = leader.LogCount(2003), disconnectedLines = leader.LogCount(2004), rejectedLines = leader.LogCount(2011);
            if (disconnectedLines > rogue) _anomalies.Add($"{rogue} rogue connections but {disconnectedLines} 'disconnected' log lines (2004): more than one each");
            if (connectedLines > rogue + followers.Length) _anomalies.Add($"{rogue}+{followers.Length} connections but {connectedLines} 'connected' log lines (2003): more than one each");
            int warningLimit = 21 * (1 + (int)(attackWatch.Elapsed.TotalSeconds / 10));
            if (rejectedLines > warningLimit) _anomalies.Add($"{rejectedLines} 'rejected' warnings (2011) for {rogue} rogue connections: above the rate limit ({warningLimit})");
            if (_notClosed > 0) _anomalies.Add($"{_notClosed} rogue connections were not closed by the leader within {CloseLimit.TotalSeconds} s");
            if (failedDuring > 0) _anomalies.Add($"{failedDuring} legitimate calls failed during the attack");
            if (okDuring == 0) _anomalies.Add("no legitimate call succeeded during the attack");
            if (!leader.IsLeader || leader.HasExited) _anomalies.Add("the leader did not survive");
            if (followers.Any(f => f.LastAnsweredPid != leader.Pid)) _anomalies.Add("a follower was answered by another process: the leader was replaced");

            report["leaderPid"] = leader.Pid;
            report["phases"] = phases;
            report["rogueConnections"] = rogue;
            report["connectFailures"] = _connectFailures;
            report["closedByLeader"] = _closedByLeader;
            report["notClosed"] = _notClosed;
            report["logLines"] = new { connected2003 = connectedLines, disconnected2004 = disconnectedLines, rejected2011 = rejectedLines };
            report["leaderLogLinesByEventId"] = leader.LogCounts;
            report["legitimateCallsDuringAttack"] = new
            {
                ok = okDuring, failed = failedDuring, perSecondBefore = Math.Round(rateBefore), perSecondDuring = Math.Round(okDuring / attackSeconds),
            };
            report["leaderMemory"] = new
            {
                workingSetBeforeMiB = Mb(memoryBefore.WorkingSet), workingSetAfterMiB = Mb(memoryAfter.WorkingSet),
                workingSetPeakMiB = Mb(leader.PeakWorkingSet), heapBeforeMiB = Mb(memoryBefore.Heap), heapAfterMiB = Mb(memoryAfter.Heap),
            };
            report["repliesReceivedMiB"] = Mb(Interlocked.Read(ref _bytesReceived));
        }
        catch (Exception e)
        {
            _anomalies.Add($"the hostile run failed: {e}");
        }
        await Task.WhenAll(_workers.Select(w => w.StopAsync(TimeSpan.FromSeconds(20))));
        report["elapsedSeconds"] = Math.Round(watch.Elapsed.TotalSeconds, 1);
        report["anomalies"] = _anomalies.Take(20).ToArray();
        bool pass = _anomalies.Count == 0;
        report["pass"] = pass;
        string json = JsonSerializer.Serialize(report, new JsonSerializerOptions { WriteIndented = true });
        if (_options.JsonPath is { } path) await File.WriteAllTextAsync(path, json);
        Console.WriteLine(json);
        if (!pass && _workers.Count > 0) Console.Error.WriteLine($"--- leader stderr tail ---\n{_workers[0].StderrTail()}");
        return pass ? 0 : 1;
    }

    private WorkerProcess Start(WorkerOptions options)
    {
        var worker = WorkerProcess.Start($"worker {_workers.Count + 1}", options.ToArguments());
        _workers.Add(worker);
        return worker;
    }

    private static double Mb(long bytes) => Math.Round(bytes / 1048576.0, 1);

    private static (long Ok, long Failed) Snapshot(WorkerProcess worker)
    {
        if (worker.LastStats is not { } stats) return (0, 0);
        long failed = stats.GetProperty("untyped").GetInt64() + stats.GetProperty("hung").GetInt64();
        foreach (var t in stats.GetProperty("typed").EnumerateObject()) failed += t.Value.GetInt64();
        return (stats.GetProperty("ok").GetInt64(), failed);
    }

    private static async Task<(long WorkingSet, long Heap)> GcAsync(WorkerProcess leader)
    {
        var previous = leader.LastGc;
        leader.Send("gc");
        await Poll.UntilAsync(() => !Equals(leader.LastGc, previous) && leader.LastGc is not null, TimeSpan.FromSeconds(30));
        var gc = leader.LastGc ?? throw new InvalidOperationException("The leader did not answer the gc command.");
        return (gc.GetProperty("workingSet").GetInt64(), gc.GetProperty("heap").GetInt64());
    }

    // ---------------------------------------------------------------- random and mutated frames

    private async Task RandomAndMutatedFramesAsync(int total)
    {
        long budget = total;
        var tasks = Enumerable.Range(0, 3).Select(i => Task.Run(async () =>
        {
            var random = new Random(_options.Seed * 100 + i);
            while (Interlocked.Read(ref budget) > 0)
            {
                await OneMutatingConnectionAsync(random, () => Interlocked.Decrement(ref budget) >= 0);
            }
        })).ToArray();
        await Task.WhenAll(tasks);
    }

    private async Task OneMutatingConnectionAsync(Random random, Func<bool> takeFrame)
    {
        await using var rogue = await ConnectAsync();
        if (rogue is null) return;
        var buffer = new ArrayBufferWriter<byte>(64 * 1024);
        FrameWriter.WriteFrame(buffer, PacketType.RegisterChannel, 1, new RegisterChannelHeader(0, _contract.Name, _contract.Fingerprint, 0), ReadOnlySpan<byte>.Empty, ProtocolLimits.Default);
        long requestId = 2;
        int sentOnConnection = 0;
        bool fatal = false;
        while (!fatal && sentOnConnection < FramesPerConnection)
        {
            int inBatch = 0;
            while (inBatch < FramesPerBatch && !fatal && takeFrame())
            {
                fatal = WriteRandomFrame(buffer, random, requestId++);
                inBatch++;
            }
            if (inBatch == 0) break;
            sentOnConnection += inBatch;
            Interlocked.Add(ref _framesSent, inBatch);
            if (!await rogue.SendAsync(buffer.WrittenMemory)) break;
            buffer.ResetWrittenCount();
        }
        // Whether the last frame was fatal or the budget ran out: stop sending and see the leader close.
        await rogue.CloseAndWaitAsync(this, shutdownFirst: true);
    }

    private static readonly string[] Kinds = ["invoke-mutated-args", "invoke-unknown-ids", "oneway-publish-random", "cancel-random", "heartbeat", "subscription-random", "invoke-large-random", "fatal"];

    private void Count(string kind)
    {
        lock (_framesByKind) _framesByKind[kind] = _framesByKind.GetValueOrDefault(kind) + 1;
    }

    /// <summary>Writes one frame; true when it is meant to end the connection (the frame layer must reject it).</summary>
    private bool WriteRandomFrame(ArrayBufferWriter<byte> buffer, Random random, long requestId)
    {
        var limits = ProtocolLimits.Default;
        double roll = random.NextDouble();
        Span<byte> body = stackalloc byte[64];
        if (roll < 0.55)
        {
            Count(Kinds[0]);
            var method = random.Next(2) == 0 ? Method(nameof(IChaosService.GetLeaderPidAsync)) : Method(nameof(IChaosService.GetLeaderPidIdempotentAsync));
            // A valid empty argument array, then random bytes flipped into it or appended.
            int length = random.Next(0, body.Length);
            random.NextBytes(body[..length]);
            if (length > 0 && random.Next(3) == 0) body[0] = 0x90;
            FrameWriter.WriteFrame(buffer, PacketType.Invoke, requestId, new CallHeader(1, 1, method.Id), body[..length], limits, random.Next(0, 2000));
            return false;
        }
        if (roll < 0.65)
        {
            Count(Kinds[1]);
            FrameWriter.WriteFrame(buffer, PacketType.Invoke, requestId, new CallHeader(random.NextInt64(), random.Next(-5, 5), (uint)random.Next()), [0x90], limits);
            return false;
        }
        if (roll < 0.73)
        {
            Count(Kinds[2]);
            var type = random.Next(2) == 0 ? PacketType.Oneway : PacketType.Publish;
            int length = random.Next(0, body.Length);
            random.NextBytes(body[..length]);
            var method = _contract.Methods[random.Next(_contract.Methods.Count)];
            FrameWriter.WriteFrame(buffer, type, 0, new CallHeader(1, 1, method.Id), body[..length], limits);
            return false;
        }
        if (roll < 0.78)
        {
            Count(Kinds[3]);
            FrameWriter.WriteFrame(buffer, PacketType.Cancel, random.NextInt64(0, requestId + 2), new EpochHeader(1), ReadOnlySpan<byte>.Empty, limits);
            return false;
        }
        if (roll < 0.83)
        {
            Count(Kinds[4]);
            FrameWriter.WriteFrame(buffer, PacketType.Heartbeat, 0, new HeartbeatHeader(1, random.NextInt64()), ReadOnlySpan<byte>.Empty, limits);
            return false;
        }
        if (roll < 0.90)
        {
            Count(Kinds[5]);
            var type = random.Next(3) == 0 ? PacketType.Unsubscribe : PacketType.Subscribe;
            uint methodId = random.Next(3) == 0 ? (uint)random.Next() : Method(nameof(IChaosService.Subscribe)).Id;
            int length = random.Next(0, 24);
            random.NextBytes(body[..length]);
            if (length > 2 && random.Next(2) == 0)
            {
                // A valid short string registration: a real subscription the session must clean up on close.
                body[0] = (byte)(0xa0 | (length - 1));
                for (int i = 1; i < length; i++) body[i] = (byte)('a' + random.Next(26));
            }
            FrameWriter.WriteFrame(buffer, type, 0, new SubscriptionHeader(1, 1, methodId, random.Next(1, 64)), body[..length], limits);
            return false;
        }
        if (roll < 0.99)
        {
            Count(Kinds[6]);
            var large = new byte[random.Next(64, 4096)];
            random.NextBytes(large);
            FrameWriter.WriteFrame(buffer, PacketType.Invoke, requestId, new CallHeader(1, 1, Method(nameof(IChaosService.GetLeaderPidAsync)).Id), large, limits);
            return false;
        }
        Count(Kinds[7]);
        WriteFatalFrame(buffer, random, requestId);
        return true;
    }

    /// <summary>Broken at the frame or header-object level: a random header object, a bad version/type, garbage, a length lie.</summary>
    private static void WriteFatalFrame(ArrayBufferWriter<byte> buffer, Random random, long requestId)
    {
        var span = buffer.GetSpan(128);
        int variant = random.Next(4);
        span[..FrameHeader.Size].Clear();
        span[0] = FrameHeader.CurrentVersion;
        span[2] = (byte)PacketType.Invoke;
        BinaryPrimitives.WriteInt64BigEndian(span[4..], requestId);
        switch (variant)
        {
            case 0:
            {
                // A header object of random bytes.
                int headerLength = random.Next(1, 40);
                BinaryPrimitives.WriteInt32BigEndian(span[16..], headerLength);
                random.NextBytes(span.Slice(FrameHeader.Size, headerLength));
                // Make sure it is not accidentally a valid call header: an unterminated map.
                span[FrameHeader.Size] = 0xdf;
                buffer.Advance(FrameHeader.Size + headerLength);
                return;
            }
            case 1:
                span[random.Next(2) == 0 ? 0 : 2] = (byte)random.Next(17, 256);
                BinaryPrimitives.WriteInt32BigEndian(span[16..], 1);
                span[FrameHeader.Size] = 0x90;
                buffer.Advance(FrameHeader.Size + 1);
                return;
            case 2:
            {
                int length = random.Next(FrameHeader.Size, 100);
                random.NextBytes(span[..length]);
                span[0] = (byte)random.Next(3, 256); // never a valid version
                buffer.Advance(length);
                return;
            }
            default:
                // Claims more body than will ever come: the connection then ends mid-frame.
                BinaryPrimitives.WriteInt32BigEndian(span[16..], 1);
                BinaryPrimitives.WriteInt32BigEndian(span[20..], random.Next(1000, 100_000));
                span[FrameHeader.Size] = 0x90;
                buffer.Advance(FrameHeader.Size + 1);
                return;
        }
    }

    // ---------------------------------------------------------------- oversized, trickle, flood

    private async Task<int> OversizedLengthsAsync(int count)
    {
        int done = 0;
        await Parallel.ForEachAsync(Enumerable.Range(0, count), new ParallelOptions { MaxDegreeOfParallelism = 4 }, async (i, _) =>
        {
            var random = new Random(i);
            await using var rogue = await ConnectAsync();
            if (rogue is null) return;
            var header = new byte[FrameHeader.Size];
            header[0] = FrameHeader.CurrentVersion;
            header[2] = (byte)PacketType.Invoke;
            switch (i % 4)
            {
                case 0: BinaryPrimitives.WriteInt32BigEndian(header.AsSpan(20), random.Next(ProtocolLimits.Default.MaxFrameSize, int.MaxValue)); break;
                case 1: BinaryPrimitives.WriteInt32BigEndian(header.AsSpan(16), random.Next(ProtocolLimits.Default.MaxHeaderSize + 1, int.MaxValue)); break;
                case 2: BinaryPrimitives.WriteInt32BigEndian(header.AsSpan(20), -random.Next(1, int.MaxValue)); break;
                default:
                    BinaryPrimitives.WriteInt32BigEndian(header.AsSpan(16), int.MaxValue);
                    BinaryPrimitives.WriteInt32BigEndian(header.AsSpan(20), int.MaxValue);
                    break;
            }
            await rogue.SendAsync(header);
            Interlocked.Increment(ref _framesSent);
            // Not shut down by us: the leader must close it on its own.
            await rogue.CloseAndWaitAsync(this, shutdownFirst: false);
            Interlocked.Increment(ref done);
        });
        return done;
    }

    /// <summary>Headers sent one byte at a time; returns the longest time until the leader closed one.</summary>
    private async Task<double> TrickleAsync(int unregistered, int registered)
    {
        var tasks = new List<Task<double>>();
        for (int i = 0; i < unregistered + registered; i++)
        {
            bool register = i >= unregistered;
            tasks.Add(Task.Run(async () =>
            {
                var watch = Stopwatch.StartNew();
                await using var rogue = await ConnectAsync();
                if (rogue is null) return 0.0;
                if (register)
                {
                    var buffer = new ArrayBufferWriter<byte>();
                    FrameWriter.WriteFrame(buffer, PacketType.RegisterChannel, 1, new RegisterChannelHeader(0, _contract.Name, _contract.Fingerprint, 0), ReadOnlySpan<byte>.Empty, ProtocolLimits.Default);
                    await rogue.SendAsync(buffer.WrittenMemory);
                }
                var header = new byte[FrameHeader.Size];
                header[0] = FrameHeader.CurrentVersion;
                header[2] = (byte)PacketType.Heartbeat;
                // One byte every 300 ms, repeated: never a whole frame within the registration timeout or 3 heartbeats.
                for (int b = 0; b < 200 && !rogue.PeerClosed; b++)
                {
                    if (!await rogue.SendAsync(header.AsMemory(b % header.Length, 1))) break;
                    await Task.Delay(300);
                }
                await rogue.CloseAndWaitAsync(this, shutdownFirst: false);
                return watch.Elapsed.TotalSeconds;
            }));
        }
        var times = await Task.WhenAll(tasks);
        return times.Max();
    }

    private async Task<int> FloodAsync(int count)
    {
        var rogues = new List<RogueConnection>();
        try
        {
            for (int i = 0; i < count; i++)
            {
                var rogue = await ConnectAsync();
                if (rogue is not null) rogues.Add(rogue);
            }
            // Silent: each one must be closed by the registration timeout.
            await Task.WhenAll(rogues.Select(r => r.CloseAndWaitAsync(this, shutdownFirst: false)));
        }
        finally
        {
            foreach (var rogue in rogues) await rogue.DisposeAsync();
        }
        return rogues.Count;
    }

    private async Task<RogueConnection?> ConnectAsync()
    {
        var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        try
        {
            using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(10));
            await socket.ConnectAsync(new IPEndPoint(IPAddress.Loopback, _options.Workers.Port), timeout.Token);
        }
        catch (Exception e) when (e is SocketException or OperationCanceledException)
        {
            socket.Dispose();
            Interlocked.Increment(ref _connectFailures);
            return null;
        }
        Interlocked.Increment(ref _connections);
        return new RogueConnection(socket, this);
    }

    /// <summary>A raw socket whose replies are drained and discarded; knows when the leader closed it.</summary>
    private sealed class RogueConnection : IAsyncDisposable
    {
        private readonly Socket _socket;
        private readonly Task _drain;
        private volatile bool _peerClosed;

        public RogueConnection(Socket socket, HostileRun run)
        {
            _socket = socket;
            _drain = Task.Run(async () =>
            {
                var buffer = new byte[64 * 1024];
                try
                {
                    while (true)
                    {
                        int read = await _socket.ReceiveAsync(buffer, SocketFlags.None);
                        if (read == 0) break;
                        Interlocked.Add(ref run._bytesReceived, read);
                    }
                }
                catch (Exception e) when (e is SocketException or ObjectDisposedException)
                {
                    // Reset by the leader: closed as well.
                }
                _peerClosed = true;
            });
        }

        public bool PeerClosed => _peerClosed;

        public async Task<bool> SendAsync(ReadOnlyMemory<byte> data)
        {
            try
            {
                while (!data.IsEmpty)
                {
                    int n = await _socket.SendAsync(data, SocketFlags.None);
                    data = data[n..];
                }
                return true;
            }
            catch (Exception e) when (e is SocketException or ObjectDisposedException)
            {
                return false;
            }
        }

        /// <summary>Waits (bounded) for the leader to close the connection and counts the outcome.</summary>
        public async Task CloseAndWaitAsync(HostileRun run, bool shutdownFirst)
        {
            if (shutdownFirst)
            {
                try
                {
                    _socket.Shutdown(SocketShutdown.Send);
                }
                catch (Exception e) when (e is SocketException or ObjectDisposedException)
                {
                    // Already reset.
                }
            }
            if (await Task.WhenAny(_drain, Task.Delay(CloseLimit)) == _drain) Interlocked.Increment(ref run._closedByLeader);
            else Interlocked.Increment(ref run._notClosed);
        }

        public async ValueTask DisposeAsync()
        {
            _socket.Dispose();
            await Task.WhenAny(_drain, Task.Delay(1000));
        }
    }
}
