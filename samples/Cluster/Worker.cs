using System.Diagnostics;
using System.Net;

namespace ClusterSharing.Samples.Cluster;

/// <summary>
/// One "machine": a worker bound to its own loopback address, in the cluster scope on etcd or Redis. It prints one line per
/// event ("ready", "leader-changed", answers) and runs "invoke" for each line the parent writes; stdin closing ends it.
/// </summary>
internal static class Worker
{
    /// <summary>The environment variable carrying the cluster secret, so it never shows on a command line.</summary>
    public const string SecretVariable = "CLUSTER_SAMPLE_SECRET";

    public static async Task<int> RunAsync(string address, int port, string engine, string engineAddress)
    {
        string secret = Environment.GetEnvironmentVariable(SecretVariable)
            ?? throw new InvalidOperationException($"Set {SecretVariable} to the cluster's shared secret.");
        await using var cluster = ClusterClient.Create<IQuoteService>(() => new QuoteService(address), o =>
        {
            if (engine == "redis")
            {
                o.UseRedis(engineAddress, r =>
                {
                    r.ClusterName = "sample";
                    r.LeaseTtl = TimeSpan.FromSeconds(3);
                });
            }
            else
            {
                o.UseEtcd(engineAddress, e =>
                {
                    e.ClusterName = "sample";
                    e.LeaseTtl = TimeSpan.FromSeconds(3);
                });
            }
            o.UseSecret(secret);
            o.BindAddress = IPAddress.Parse(address); // where this machine listens if it leads (and what it advertises)
            o.Port = port;
            o.MaxWaitTime = TimeSpan.FromSeconds(30);
            o.ResponseTimeout = TimeSpan.FromSeconds(30);
        });
        cluster.LeaderChanged += (_, e) => Say($"leader-changed {(e.IsLeader ? "leader" : "follower")} {e.Epoch} {Now()}");
        try
        {
            await cluster.ReadyAsync();
        }
        catch (ClusterClientException e)
        {
            Say("failed " + e.Message.ReplaceLineEndings(" "));
            return 1;
        }
        Say($"ready {(cluster.IsLeader ? "leader" : "follower")} {cluster.Epoch}");

        while (await Console.In.ReadLineAsync() is { } line)
        {
            if (line != "invoke") continue;
            var clock = Stopwatch.StartNew();
            try
            {
                var answer = await cluster.Client.WhoAnswersAsync(address);
                Say($"answer {answer.LeaderPid} {answer.LeaderAddress} {cluster.Epoch} {clock.Elapsed.TotalMilliseconds:0.0}");
            }
            catch (ClusterClientException e)
            {
                Say("error " + e.Message.ReplaceLineEndings(" "));
            }
        }
        return 0;
    }

    /// <summary>Milliseconds of the machine-wide monotonic clock, comparable between processes.</summary>
    public static double Now() => Stopwatch.GetTimestamp() * 1000.0 / Stopwatch.Frequency;

    private static void Say(string line)
    {
        lock (Console.Out) Console.Out.WriteLine(line);
    }
}
