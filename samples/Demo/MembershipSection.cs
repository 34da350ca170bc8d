using System.Collections.Concurrent;
using System.Diagnostics;
using System.Globalization;
using System.Text.Json;
using Spectre.Console;

namespace ClusterSharing.Demo;

/// <summary>
/// The membership part of the demo: the member table as every worker sees it, a promotion, a channel broadcast and a
/// direct message. Worker side: <see cref="TryExecuteAsync"/> runs its commands ("members", "promote", "join",
/// "broadcast CHANNEL TEXT", "send-to ID CHANNEL TEXT", "inbox"); parent side: <see cref="RunAsync"/>. Each step is
/// bounded (a few seconds at most), so the demo stays quick.
/// </summary>
internal static class MembershipSection
{
    private const string News = "demo.news", Direct = "demo.direct";

    private static readonly ConcurrentQueue<string> Inbox = new();

    // ---- worker side ----

    /// <summary>Runs a membership command; false when <paramref name="command"/> is not one.</summary>
    public static async Task<bool> TryExecuteAsync(ClusterClient<IUpstreamClient> cluster, string id, string command, string argument, Action<string, Action<Utf8JsonWriter>> reply)
    {
        var members = cluster.Membership;
        switch (command)
        {
            case "members":
                var list = members.Members;
                reply(id, w =>
                {
                    w.WriteString("self", members.LocalId);
                    w.WriteStartArray("members");
                    foreach (var m in list)
                    {
                        w.WriteStartObject();
                        w.WriteString("id", m.Id);
                        w.WriteNumber("pid", m.ProcessId);
                        w.WriteBoolean("leader", m.IsLeader);
                        w.WriteBoolean("master", m.IsMaster);
                        w.WriteNumber("weight", m.Weight);
                        w.WriteString("joined", m.JoinedAt.ToString("HH:mm:ss.fff", CultureInfo.InvariantCulture));
                        w.WriteEndObject();
                    }
                    w.WriteEndArray();
                });
                return true;
            case "promote":
                await members.PromoteAsync();
                reply(id, w => w.WriteBoolean("leader", cluster.IsLeader));
                return true;
            case "join":
                members.Join<string>(News, m => Inbox.Enqueue($"{m.From[..8]} on {m.Channel}: {m.Value}"));
                members.Join<string>(Direct, m => Inbox.Enqueue($"{m.From[..8]} to me only: {m.Value}"));
                reply(id, _ => { });
                return true;
            case "broadcast":
            {
                string[] parts = argument.Split(' ', 2);
                await members.SendAsync(parts[0], parts[1]);
                reply(id, _ => { });
                return true;
            }
            case "send-to":
            {
                string[] parts = argument.Split(' ', 3);
                var status = await members.SendToAsync(parts[0], parts[1], parts[2], TimeSpan.FromSeconds(5));
                reply(id, w => w.WriteString("status", status.ToString()));
                return true;
            }
            case "inbox":
                var received = Inbox.ToArray();
                reply(id, w =>
                {
                    w.WriteStartArray("messages");
                    foreach (var m in received) w.WriteStringValue(m);
                    w.WriteEndArray();
                });
                return true;
            default:
                return false;
        }
    }

    // ---- parent side ----

    /// <summary>Shows the table, promotes the last worker, broadcasts from the first and sends it a direct message.</summary>
    public static async Task RunAsync(IReadOnlyList<WorkerProcess> workers, Action<bool, string> check, CancellationToken cancellationToken)
    {
        if (workers.Count < 2) return;
        AnsiConsole.Write(new Rule("Membership: who is in the cluster, a promotion, a broadcast and a direct message").LeftJustified());
        var views = await Task.WhenAll(workers.Select(w => w.RequestAsync("members", cancellationToken)));
        var ids = views.Select(v => v.GetProperty("self").GetString()!).ToArray();
        var table = new Table().AddColumns("Member", "PID", "Role", "Weight", "Joined");
        foreach (var m in views[0].GetProperty("members").EnumerateArray())
        {
            string role = m.GetProperty("leader").GetBoolean() ? "[green]leader[/]" : m.GetProperty("master").GetBoolean() ? "master" : "member";
            table.AddRow(Markup.Escape(m.GetProperty("id").GetString()![..8]), S(m.GetProperty("pid").GetInt32()), role,
                S(m.GetProperty("weight").GetInt32()), m.GetProperty("joined").GetString()!);
        }
        AnsiConsole.Write(table);
        string SortedIds(JsonElement v) => string.Join(",", v.GetProperty("members").EnumerateArray().Select(m => m.GetProperty("id").GetString()).Order());
        check(views.All(v => SortedIds(v) == SortedIds(views[0])) && views[0].GetProperty("members").GetArrayLength() == workers.Count,
            $"{workers.Count} workers see the same {workers.Count} members");

        // A promotion: the last worker takes over through a graceful handover.
        var promoted = workers[^1];
        var clock = Stopwatch.StartNew();
        await promoted.RequestAsync("promote", cancellationToken);
        AnsiConsole.MarkupLine($"Worker {promoted.Index} (pid {promoted.Pid}) was [green]promoted[/] and leads after {clock.Elapsed.TotalMilliseconds:0} ms.");
        bool everyoneAgrees = await PollAsync(async () =>
        {
            var now = await Task.WhenAll(workers.Select(w => w.RequestAsync("members", cancellationToken)));
            return now.All(v => v.GetProperty("members").EnumerateArray().Any(m => m.GetProperty("leader").GetBoolean() && m.GetProperty("pid").GetInt32() == promoted.Pid));
        }, cancellationToken);
        check(everyoneAgrees, $"after PromoteAsync every worker's view names worker {promoted.Index} the leader");

        // A broadcast from the first worker to every other one, then a direct message to the promoted one.
        await Task.WhenAll(workers.Select(w => w.RequestAsync("join", cancellationToken)));
        var sender = workers[0];
        var listeners = workers.Skip(1).ToArray();
        bool heard = false;
        for (int attempt = 0; attempt < 10 && !heard; attempt++)
        {
            // Joins travel to the leader on their own connections: a broadcast sent before one arrived misses that worker.
            await sender.RequestAsync($"broadcast {News} hello everyone #{attempt}", cancellationToken);
            await Task.Delay(300, cancellationToken);
            var inboxes = await Task.WhenAll(listeners.Select(w => w.RequestAsync("inbox", cancellationToken)));
            heard = inboxes.All(i => i.GetProperty("messages").EnumerateArray().Any(m => m.GetString()!.Contains(News, StringComparison.Ordinal)));
        }
        check(heard, $"a broadcast on {News} from worker {sender.Index} reached the {listeners.Length} other workers");
        var status = (await sender.RequestAsync($"send-to {ids[^1]} {Direct} just-for-you", cancellationToken)).GetProperty("status").GetString();
        AnsiConsole.MarkupLine($"Direct message from worker {sender.Index} to worker {promoted.Index}: [bold]{status}[/].");
        check(status == "Delivered", $"a direct message to worker {promoted.Index} was acknowledged Delivered (was {status})");
        var last = await promoted.RequestAsync("inbox", cancellationToken);
        foreach (var m in last.GetProperty("messages").EnumerateArray().TakeLast(2)) AnsiConsole.MarkupLine($"  worker {promoted.Index} received [grey]{Markup.Escape(m.GetString()!)}[/]");
    }

    private static async Task<bool> PollAsync(Func<Task<bool>> condition, CancellationToken cancellationToken)
    {
        for (int i = 0; i < 50; i++)
        {
            if (await condition()) return true;
            await Task.Delay(100, cancellationToken);
        }
        return false;
    }

    private static string S(long value) => value.ToString(CultureInfo.InvariantCulture);
}
