using System.Globalization;
using System.Runtime.InteropServices;
using System.Text;
using ClusterSharing.Charts;

namespace ClusterSharing.Harness;

/// <summary>All measurements of one harness run and the comparison table.</summary>
internal sealed class Results
{
    public ClusterResults Ours { get; set; } = new();
    public RawResults? RawTcp { get; set; }
    public RawResults? RawUds { get; set; }
    public ClusterResults? Node { get; set; }
    public string? NodeSkipped { get; set; }

    private static string F(double v, string format = "0.0") => double.IsNaN(v) ? "n/a" : v.ToString(format, CultureInfo.InvariantCulture);

    private static string Ratio(double ours, double? baseline) =>
        baseline is { } b && b > 0 && !double.IsNaN(ours) && !double.IsNaN(b) ? (ours / b).ToString("0.00", CultureInfo.InvariantCulture) + "×" : "";

    public string Render(HarnessSettings s, string loadAfter, TimeSpan elapsed)
    {
        var sb = new StringBuilder();
        int n = s.Followers;
        var o = Ours;
        var t = RawTcp;
        var u = RawUds;
        var j = Node;
        sb.AppendLine($"Machine: {Environment.ProcessorCount} logical cores, {RuntimeInformation.OSDescription}, .NET {Environment.Version}, {RuntimeInformation.ProcessArchitecture}; load average at the end {loadAfter}; run took {elapsed.TotalSeconds:0} s ({(s.Quick ? "--quick" : "full")}).");
        sb.AppendLine($"Settings: {n} followers; {s.SequentialCalls} sequential calls after {s.Warmup} warm-up; {s.InFlight} in flight per follower for {s.ThroughputSeconds} s; {s.Publications} publications every {s.PublishIntervalUs} µs; {s.Kills} leader kills; {s.CrowdSize} followers for memory.");
        sb.AppendLine("Ratios are ClusterClient ÷ baseline (below 1 is better for times, above 1 is better for throughput).");
        if (j is null) sb.AppendLine($"Node cluster-client skipped: {NodeSkipped}.");
        sb.AppendLine();
        sb.AppendLine("| Scenario | ClusterClient | raw TCP echo | ÷ raw TCP | raw UDS echo | ÷ raw UDS | Node cluster-client | ÷ Node | Target | Met |");
        sb.AppendLine("|---|---:|---:|---:|---:|---:|---:|---:|---|---|");

        void Row(string name, double ours, double? tcp, double? uds, double? node, string target = "", bool? met = null, string format = "0.0")
        {
            sb.Append("| ").Append(name)
              .Append(" | ").Append(F(ours, format))
              .Append(" | ").Append(tcp is { } a ? F(a, format) : "")
              .Append(" | ").Append(Ratio(ours, tcp))
              .Append(" | ").Append(uds is { } b ? F(b, format) : "")
              .Append(" | ").Append(Ratio(ours, uds))
              .Append(" | ").Append(node is { } c ? F(c, format) : "")
              .Append(" | ").Append(Ratio(ours, node))
              .Append(" | ").Append(target)
              .Append(" | ").Append(met is null ? "" : met.Value ? "yes" : "**no**")
              .AppendLine(" |");
        }

        Row("Sequential invoke p50, 1 follower alone (µs)", o.SeqAlone.P50Us, t?.SeqAlone.P50Us, u?.SeqAlone.P50Us, j?.SeqAlone.P50Us,
            "≤ 1.2× raw TCP", t is null ? null : o.SeqAlone.P50Us <= 1.2 * t.SeqAlone.P50Us);
        Row("Sequential invoke p99, 1 follower alone (µs)", o.SeqAlone.P99Us, t?.SeqAlone.P99Us, u?.SeqAlone.P99Us, j?.SeqAlone.P99Us);
        Row($"Sequential invoke p50, {n} followers at once (µs)", o.SeqAll.P50Us, t?.SeqAll.P50Us, u?.SeqAll.P50Us, j?.SeqAll.P50Us);
        Row($"Sequential invoke p99, {n} followers at once (µs)", o.SeqAll.P99Us, t?.SeqAll.P99Us, u?.SeqAll.P99Us, j?.SeqAll.P99Us);
        Row($"Throughput, {n} × {s.InFlight} in flight (calls/s)", o.Throughput, t?.Throughput, u?.Throughput, j?.Throughput,
            "≥ 15× Node", j is null ? null : o.Throughput >= 15 * j.Throughput, "0");
        Row($"Publish → all {n} followers p50 (µs)", o.PublishP50Us, null, null, j?.PublishP50Us, "≤ 100 µs", o.PublishP50Us <= 100);
        Row($"Publish → all {n} followers p99 (µs)", o.PublishP99Us, null, null, j?.PublishP99Us);
        Row("Publish → one follower p50 (µs, every follower's samples)", o.PublishEachP50Us, null, null, j?.PublishEachP50Us);
        Row("Publications not received by every follower", o.PublishLost, null, null, j?.PublishLost, "0", o.PublishLost == 0, "0");
        var slow = Percentiles.Sorted(o.FailoverSlowestMs);
        var nslow = j is null ? null : Percentiles.Sorted(j.FailoverSlowestMs);
        Row($"Failover: slowest follower's first good call p50 (ms, {o.FailoverSlowestMs.Count} kills)", Percentiles.NearestRank(slow, 50), null, null, nslow is null ? null : Percentiles.NearestRank(nslow, 50));
        Row("Failover: slowest follower p99 (ms)", Percentiles.NearestRank(slow, 99), null, null, nslow is null ? null : Percentiles.NearestRank(nslow, 99),
            "≤ 20 ms", slow.Count > 0 && Percentiles.NearestRank(slow, 99) <= 20 && o.FailoverUnrecovered == 0);
        var all = Percentiles.Sorted(o.FailoverAllMs);
        var nall = j is null ? null : Percentiles.Sorted(j.FailoverAllMs);
        Row("Failover: every follower p50 (ms)", Percentiles.NearestRank(all, 50), null, null, nall is null ? null : Percentiles.NearestRank(nall, 50));
        Row("Failover: failed calls per kill (mean, all followers)", o.FailedCallsPerKill.DefaultIfEmpty(double.NaN).Average(), null, null,
            j?.FailedCallsPerKill.DefaultIfEmpty(double.NaN).Average(), format: "0.00");
        Row("Failover: followers never recovered (30 s)", o.FailoverUnrecovered, null, null, j?.FailoverUnrecovered, "0", o.FailoverUnrecovered == 0, "0");
        var cold = Percentiles.Sorted(o.FollowerColdStartMs);
        var ncold = j is null ? null : Percentiles.Sorted(j.FollowerColdStartMs);
        Row("Cold start, follower: process start → ready p50 (ms)", Percentiles.NearestRank(cold, 50), null, null, ncold is null ? null : Percentiles.NearestRank(ncold, 50), format: "0");
        Row("Cold start, leader: process start → ready (ms)", o.LeaderColdStartMs, null, null, j?.LeaderColdStartMs, format: "0");
        if (o.Memory is { } m)
        {
            Row($"Leader memory per follower, RSS ({m.Followers} followers, KiB)", m.RssPerFollower / 1024, null, null, null, format: "0.0");
            Row($"Leader memory per follower, GC heap ({m.Followers} followers, KiB)", m.HeapPerFollower / 1024, null, null, null, format: "0.0");
        }
        if (j is not null) sb.AppendLine().AppendLine("Node leader memory with many followers is not measured: its followers are full Node processes (about 40 MB each) and the harness has no lightweight cluster-client follower.");
        return sb.ToString();
    }
}
