using System.Globalization;
using System.Text.Json;

namespace ClusterSharing.Demo;

/// <summary>
/// One worker process: joins the cluster, reports its role, and runs the parent's commands
/// ("query TEXT", "loop MS", "status"); stdin closing ends it.
/// </summary>
internal static class Worker
{
    public static async Task<int> RunAsync(int port, int index)
    {
        await using var cluster = ClusterClient.Create<IUpstreamClient>(() => new UpstreamClient(), o =>
        {
            o.Port = port;
            o.MaxWaitTime = TimeSpan.FromSeconds(20);
            o.ResponseTimeout = TimeSpan.FromSeconds(10);
            o.HeartbeatInterval = TimeSpan.FromMilliseconds(500);
        });
        cluster.LeaderChanged += (_, e) => Lines.Write(w =>
        {
            w.WriteString("event", "leader-changed");
            w.WriteBoolean("leader", e.IsLeader);
            w.WriteNumber("epoch", e.Epoch);
            w.WriteNumber("ts", Lines.Now());
        });
        try
        {
            await cluster.ReadyAsync();
            Lines.Write(w => { w.WriteString("event", "ready"); w.WriteBoolean("leader", cluster.IsLeader); w.WriteNumber("epoch", cluster.Epoch); });
        }
        catch (ClusterClientException e)
        {
            Lines.Write(w => { w.WriteString("event", "ready-failed"); w.WriteString("message", e.Message); });
            return 1;
        }

        var ticks = new LeaderSpans();
        var order = new QuoteOrder();
        var running = new List<Task>();
        while (await Console.In.ReadLineAsync() is { } line && running.Count < 10_000)
        {
            string[] parts = line.Split(' ', 3);
            if (parts.Length < 2) continue;
            string id = parts[0], command = parts[1], argument = parts.Length > 2 ? parts[2] : "";
            running.Add(Task.Run(() => ExecuteAsync(cluster, ticks, order, id, command, argument)));
        }
        await Task.WhenAny(Task.WhenAll(running), Task.Delay(TimeSpan.FromSeconds(5)));
        return 0;
    }

    private static async Task ExecuteAsync(ClusterClient<IUpstreamClient> cluster, LeaderSpans ticks, QuoteOrder order, string id, string command, string argument)
    {
        try
        {
            switch (command)
            {
                case "query":
                    var answer = await cluster.Client.QueryAsync(argument);
                    Reply(id, w =>
                    {
                        w.WriteNumber("leaderPid", answer.LeaderPid);
                        w.WriteString("connectionId", answer.ConnectionId);
                        w.WriteString("text", answer.Text);
                    });
                    break;
                case "loop":
                    await LoopAsync(cluster.Client, id, int.Parse(argument, CultureInfo.InvariantCulture));
                    break;
                case "watch":
                    cluster.Client.Subscribe(argument, quote =>
                    {
                        ticks.Record(quote.LeaderPid);
                        order.Record(quote);
                    });
                    Reply(id, _ => { });
                    break;
                case "ticks":
                    Reply(id, w =>
                    {
                        ticks.Write(w);
                        order.Write(w);
                    });
                    break;
                case "upstream-subscriptions":
                    int count = await cluster.Client.GetUpstreamSubscriptionCountAsync();
                    Reply(id, w => w.WriteNumber("count", count));
                    break;
                case "status":
                    Reply(id, w => { w.WriteBoolean("leader", cluster.IsLeader); w.WriteNumber("epoch", cluster.Epoch); });
                    break;
                default:
                    if (!await MembershipSection.TryExecuteAsync(cluster, id, command, argument, Reply))
                        throw new ArgumentException($"Unknown command '{command}'.");
                    break;
            }
        }
        catch (Exception e)
        {
            Lines.Write(w => { w.WriteString("id", id); w.WriteBoolean("ok", false); w.WriteString("error", e.GetType().Name); w.WriteString("message", e.Message); });
        }
    }

    /// <summary>Pings for <paramref name="milliseconds"/>, one after the other, as a busy worker would make them.</summary>
    private static async Task LoopAsync(IUpstreamClient client, string id, int milliseconds)
    {
        double end = Lines.Now() + milliseconds;
        int successes = 0, leaderLost = 0, otherTyped = 0, untyped = 0;
        string? firstError = null;
        var spans = new LeaderSpans();
        for (int i = 0; i < 20_000_000 && Lines.Now() < end; i++)
        {
            try
            {
                int pid = await client.PingAsync();
                successes++;
                spans.Record(pid);
                // About one call per millisecond: a busy worker, not a spinning one. On the leader the call is a
                // direct in-process call, and an unpaced loop would burn a core the election needs on a small machine.
                await Task.Delay(1);
            }
            catch (Exception e)
            {
                if (e is LeaderLostException) leaderLost++;
                else if (e is ClusterClientException) otherTyped++;
                else untyped++;
                firstError ??= $"{e.GetType().Name}: {e.Message}";
                await Task.Delay(1);
            }
        }
        Reply(id, w =>
        {
            w.WriteNumber("successes", successes);
            w.WriteNumber("leaderLost", leaderLost);
            w.WriteNumber("otherTyped", otherTyped);
            w.WriteNumber("untyped", untyped);
            if (firstError is not null) w.WriteString("firstError", firstError);
            spans.Write(w);
        });
    }

    private static void Reply(string id, Action<Utf8JsonWriter> value) => Lines.Write(w =>
    {
        w.WriteString("id", id);
        w.WriteBoolean("ok", true);
        w.WritePropertyName("value");
        w.WriteStartObject();
        value(w);
        w.WriteEndObject();
    });
}

/// <summary>
/// Checks what a subscriber sees: quotes of one leader's real client arrive in sequence order, and a quote seen once
/// is not delivered again (a failover replays at most the last value, which the worker suppresses when identical).
/// </summary>
internal sealed class QuoteOrder
{
    private readonly Dictionary<int, long> _lastSequence = new();
    private int _outOfOrder;
    private int _repeated;

    public void Record(Quote quote)
    {
        lock (_lastSequence)
        {
            if (_lastSequence.TryGetValue(quote.LeaderPid, out long last))
            {
                if (quote.Sequence == last) _repeated++;
                else if (quote.Sequence < last) _outOfOrder++;
            }
            _lastSequence[quote.LeaderPid] = Math.Max(last, quote.Sequence);
        }
    }

    /// <summary>Writes <c>"outOfOrder"</c> and <c>"repeated"</c>.</summary>
    public void Write(Utf8JsonWriter w)
    {
        lock (_lastSequence)
        {
            w.WriteNumber("outOfOrder", _outOfOrder);
            w.WriteNumber("repeated", _repeated);
        }
    }
}
