using System.Diagnostics;
using System.Net;
using ClusterSharing.Coordination;
using ClusterSharing.Follower;
using ClusterSharing.Liveness;
using ClusterSharing.Protocol;
using ClusterSharing.Proxies;
using Microsoft.Extensions.Logging.Abstractions;

namespace ClusterSharing.Harness;

/// <summary>
/// Many lightweight followers in one process, for the leader-memory scenario: each is the follower side's own
/// connection (<see cref="LeaderConnection"/>: the secure-default handshake with this user's secret, channel
/// registration, heartbeats both ways from one liveness monitor) and then idles. The leader cannot tell them from
/// follower processes, so its memory per follower is the same, while 256 .NET processes (about 30 MB each) would not
/// fit on the benchmark machine.
/// </summary>
internal static class Crowd
{
    public static async Task<int> RunAsync(int port, int count)
    {
        var contract = ContractResolver.Resolve<IEchoClient>(ProxyGenerationMode.PreferGenerated);
        var options = new ClusterClientOptions { Port = port };
        byte[]? secret = LeaderElections.PeerSecret(options);
        using var monitor = new LivenessMonitor("crowd");
        var connections = new List<LeaderConnection>(count);
        var endPoint = new IPEndPoint(IPAddress.Loopback, port);
        for (int i = 0; i < count; i++)
        {
            var connection = await LeaderConnection.ConnectAsync(endPoint, options, secret, knownEpoch: 0, monitor, static _ => { },
                NullLogger.Instance, CancellationToken.None).ConfigureAwait(false);
            var registration = await connection.RegisterAsync(contract.Name, contract.Fingerprint, TimeSpan.FromSeconds(30), CancellationToken.None).ConfigureAwait(false);
            if (registration.Outcome != RegistrationOutcome.Accepted)
                throw new InvalidOperationException($"crowd follower {i} was refused ({registration.Outcome}): {registration.Error}");
            connections.Add(connection);
        }

        StdoutLines.WriteLine(LineHost.Invariant($"ready {MonotonicClock.Nanoseconds(Stopwatch.GetTimestamp())} 0 {Environment.ProcessId}"));
        await LineHost.RunAsync(c => c[0] == "mem" ? Task.FromResult(Worker.Memory()) : throw new ArgumentException($"unknown command '{c[0]}'")).ConfigureAwait(false);
        foreach (var c in connections) await c.CloseAsync("harness done").ConfigureAwait(false);
        return 0;
    }
}
