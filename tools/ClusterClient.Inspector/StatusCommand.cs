using System.Globalization;
using System.Text.Json;
using Spectre.Console;
using Spectre.Console.Rendering;

namespace ClusterSharing.Inspector;

/// <summary><c>cluster-client status</c>: reads the leader's report (twice, for rates) and prints it.</summary>
internal static class StatusCommand
{
    public static async Task<int> RunAsync(ClusterClientOptions options, TimeSpan sample, bool json, CancellationToken cancellationToken)
    {
        ClusterStatus first, last;
        TimeSpan elapsed = TimeSpan.Zero;
        try
        {
            await using var inspector = await ClusterInspector.ConnectAsync(options, cancellationToken);
            first = last = await inspector.ReadStatusAsync(cancellationToken);
            if (sample > TimeSpan.Zero)
            {
                long started = System.Diagnostics.Stopwatch.GetTimestamp();
                await Task.Delay(sample, cancellationToken);
                last = await inspector.ReadStatusAsync(cancellationToken);
                elapsed = System.Diagnostics.Stopwatch.GetElapsedTime(started);
            }
        }
        catch (Exception ex) when (ex is ClusterClientException or TimeoutException or ArgumentException or IOException or UnauthorizedAccessException)
        {
            await Console.Error.WriteLineAsync($"cluster-client status: {ex.Message}");
            return 1;
        }
        var rates = Rates(first, last, elapsed);
        if (json) WriteJson(last, rates);
        else WriteTables(last, rates);
        return 0;
    }

    /// <summary>Calls per second per follower address between two reports; empty with no interval.</summary>
    private static Dictionary<string, double> Rates(ClusterStatus first, ClusterStatus last, TimeSpan elapsed)
    {
        var rates = new Dictionary<string, double>(StringComparer.Ordinal);
        if (elapsed <= TimeSpan.Zero) return rates;
        var before = first.Followers.GroupBy(f => f.Address).ToDictionary(g => g.Key, g => g.First().Calls, StringComparer.Ordinal);
        foreach (var follower in last.Followers)
        {
            long earlier = before.GetValueOrDefault(follower.Address, 0);
            rates[follower.Address] = Math.Max(0, follower.Calls - earlier) / elapsed.TotalSeconds;
        }
        return rates;
    }

    private static void WriteTables(ClusterStatus status, Dictionary<string, double> rates)
    {
        // Redirected (a pipe, a file, a test): plain text, wide enough that tables do not wrap.
        bool redirected = Console.IsOutputRedirected;
        var console = AnsiConsole.Create(new AnsiConsoleSettings
        {
            Ansi = redirected ? AnsiSupport.No : AnsiSupport.Detect,
            ColorSystem = redirected ? ColorSystemSupport.NoColors : ColorSystemSupport.Detect,
        });
        if (redirected) console.Profile.Width = 200;
        var age = DateTimeOffset.UtcNow - status.LeaderSince;
        var leader = new Grid().AddColumn().AddColumn();
        leader.AddRow(Cell("leader"), Cell($"pid {status.LeaderProcessId} at {status.LeaderAddress}"));
        leader.AddRow(Cell("port"), Cell(status.Port.ToString(CultureInfo.InvariantCulture)));
        leader.AddRow(Cell("epoch"), Cell(status.Epoch.ToString(CultureInfo.InvariantCulture)));
        leader.AddRow(Cell("last failover"), Cell($"{status.LeaderSince.UtcDateTime:yyyy-MM-dd HH:mm:ss} UTC ({Describe(age)} ago: this leader's term began)"));
        console.Write(new Panel(leader).Header("ClusterClient"));

        var followers = new Table().Title($"followers ({status.Followers.Count})")
            .AddColumns("pid", "uid", "address", "channels", "calls/s", "calls", "in-flight", "connected");
        foreach (var f in status.Followers)
        {
            followers.AddRow(Cell(f.ProcessId?.ToString(CultureInfo.InvariantCulture) ?? "?"), Cell(f.UserId?.ToString(CultureInfo.InvariantCulture) ?? "?"),
                Cell(f.Address), Cell(string.Join(", ", f.Channels)),
                Cell(rates.TryGetValue(f.Address, out double rate) ? rate.ToString("0.0", CultureInfo.InvariantCulture) : "-"),
                Cell(f.Calls.ToString(CultureInfo.InvariantCulture)), Cell(f.InFlight.ToString(CultureInfo.InvariantCulture)), Cell(Describe(f.Connected)));
        }
        console.Write(followers);

        var channels = new Table().Title($"channels ({status.Channels.Count})").AddColumns("channel", "ready", "subscriptions");
        foreach (var c in status.Channels)
            channels.AddRow(Cell(c.Name), Cell(c.Ready ? "yes" : "no"), Cell(c.Subscriptions.Count.ToString(CultureInfo.InvariantCulture)));
        console.Write(channels);

        var subscriptions = new Table().Title("subscriptions per key").AddColumns("channel", "member", "key", "subscribers");
        foreach (var c in status.Channels)
        {
            foreach (var s in c.Subscriptions)
                subscriptions.AddRow(Cell(c.Name), Cell(s.Method), Cell(s.Key), Cell(s.Subscribers.ToString(CultureInfo.InvariantCulture)));
        }
        console.Write(subscriptions);
    }

    /// <summary>Plain text (never markup: names and keys come from the cluster).</summary>
    private static IRenderable Cell(string text) => new Text(text);

    private static string Describe(TimeSpan span) => span.TotalSeconds < 120
        ? $"{Math.Max(0, span.TotalSeconds):0} s"
        : span.TotalMinutes < 120 ? $"{span.TotalMinutes:0} min" : $"{span.TotalHours:0.0} h";

    private static void WriteJson(ClusterStatus status, Dictionary<string, double> rates)
    {
        using var stdout = Console.OpenStandardOutput();
        using (var w = new Utf8JsonWriter(stdout, new JsonWriterOptions { Indented = true }))
        {
            w.WriteStartObject();
            w.WriteNumber("leaderPid", status.LeaderProcessId);
            w.WriteString("leaderAddress", status.LeaderAddress);
            w.WriteNumber("port", status.Port);
            w.WriteNumber("epoch", status.Epoch);
            w.WriteString("leaderSince", status.LeaderSince);
            w.WriteStartArray("followers");
            foreach (var f in status.Followers)
            {
                w.WriteStartObject();
                if (f.ProcessId is { } pid) w.WriteNumber("pid", pid);
                else w.WriteNull("pid");
                if (f.UserId is { } uid) w.WriteNumber("uid", uid);
                else w.WriteNull("uid");
                w.WriteString("address", f.Address);
                w.WriteStartArray("channels");
                foreach (var channel in f.Channels) w.WriteStringValue(channel);
                w.WriteEndArray();
                w.WriteNumber("calls", f.Calls);
                if (rates.TryGetValue(f.Address, out double rate)) w.WriteNumber("callsPerSecond", Math.Round(rate, 2));
                else w.WriteNull("callsPerSecond");
                w.WriteNumber("inFlight", f.InFlight);
                w.WriteNumber("connectedSeconds", Math.Round(f.Connected.TotalSeconds, 1));
                w.WriteEndObject();
            }
            w.WriteEndArray();
            w.WriteStartArray("channels");
            foreach (var c in status.Channels)
            {
                w.WriteStartObject();
                w.WriteString("name", c.Name);
                w.WriteBoolean("ready", c.Ready);
                w.WriteStartArray("subscriptions");
                foreach (var s in c.Subscriptions)
                {
                    w.WriteStartObject();
                    w.WriteString("member", s.Method);
                    w.WriteString("key", s.Key);
                    w.WriteNumber("subscribers", s.Subscribers);
                    w.WriteEndObject();
                }
                w.WriteEndArray();
                w.WriteEndObject();
            }
            w.WriteEndArray();
            w.WriteEndObject();
        }
        stdout.WriteByte((byte)'\n');
    }
}
