using System.Diagnostics;
using System.Net;
using ClusterSharing.Protocol;
using ClusterSharing.Proxies;
using ClusterSharing.Transport;

namespace ClusterSharing.Harness;

/// <summary>
/// Many lightweight followers in one process, for the leader-memory scenario: each is a real connection that does
/// what a follower node does on the wire (handshake, register the channel, answer and send heartbeats) and then idles.
/// The leader cannot tell them from follower processes, so its memory per follower is the same, while 256 .NET
/// processes (about 30 MB each) would not fit on the benchmark machine.
/// </summary>
internal static class Crowd
{
    public static async Task<int> RunAsync(int port, int count)
    {
        var contract = ContractResolver.Resolve<IEchoClient>(ProxyGenerationMode.PreferGenerated);
        uint fingerprint = Fingerprint(contract);
        var connections = new List<FrameConnection>(count);
        for (int i = 0; i < count; i++)
        {
            var connection = await FrameConnection.ConnectAsync(new IPEndPoint(IPAddress.Loopback, port), new FrameConnectionOptions { Name = $"crowd-{i}" }).ConfigureAwait(false);
            var registered = new TaskCompletionSource<string?>(TaskCreationOptions.RunContinuationsAsynchronously);
            long epoch = 0;
            _ = connection.RunAsync(frame =>
            {
                switch (frame.Type)
                {
                    case PacketType.Heartbeat:
                        connection.Send(PacketType.HeartbeatResponse, frame.RequestId, new HeartbeatHeader(Volatile.Read(ref epoch), frame.ReadHeader<HeartbeatHeader>().SentAtTicks));
                        break;
                    case PacketType.HeartbeatResponse when frame.RequestId == 1:
                        Volatile.Write(ref epoch, frame.ReadHeader<HeartbeatHeader>().Epoch);
                        connection.Send(PacketType.RegisterChannel, 2, new RegisterChannelHeader(epoch, contract.Name, fingerprint, Environment.ProcessId));
                        break;
                    case PacketType.RegisterChannelResult:
                        var result = frame.ReadHeader<RegisterChannelResultHeader>();
                        registered.TrySetResult(result.Ok ? null : result.Error ?? "refused");
                        break;
                }
                return default;
            });
            connection.Send(PacketType.Heartbeat, 1, new HeartbeatHeader(0, Stopwatch.GetTimestamp()));
            var error = await registered.Task.WaitAsync(TimeSpan.FromSeconds(30)).ConfigureAwait(false);
            if (error is not null) throw new InvalidOperationException($"crowd follower {i} was refused: {error}");
            connections.Add(connection);
        }

        using var stop = new CancellationTokenSource();
        var heartbeats = Task.Run(async () =>
        {
            using var timer = new PeriodicTimer(TimeSpan.FromMilliseconds(500));
            while (await timer.WaitForNextTickAsync(stop.Token).ConfigureAwait(false))
            {
                foreach (var c in connections) c.Send(PacketType.Heartbeat, 0, new HeartbeatHeader(0, Stopwatch.GetTimestamp()));
            }
        });
        StdoutLines.WriteLine(LineHost.Invariant($"ready {MonotonicClock.Nanoseconds(Stopwatch.GetTimestamp())} 0 {Environment.ProcessId}"));
        await LineHost.RunAsync(c => c[0] == "mem" ? Task.FromResult(Worker.Memory()) : throw new ArgumentException($"unknown command '{c[0]}'")).ConfigureAwait(false);
        stop.Cancel();
        try
        {
            await heartbeats.ConfigureAwait(false);
        }
        catch (OperationCanceledException)
        {
        }
        foreach (var c in connections) c.Abort("harness done");
        return 0;
    }

    /// <summary>What the leader checks at registration: FNV-1a over the sorted method ids (as the runtime computes it).</summary>
    private static uint Fingerprint<T>(ClusterContract<T> contract) where T : class
    {
        var ids = contract.Methods.Select(m => m.Id).Order().ToArray();
        uint hash = 2166136261;
        foreach (uint id in ids)
        {
            for (int shift = 0; shift < 32; shift += 8)
            {
                hash ^= (id >> shift) & 0xFF;
                hash *= 16777619;
            }
        }
        return hash;
    }
}
