using System.Globalization;
using ScottPlot;

namespace ClusterSharing.Charts;

/// <summary>
/// Writes the tools' charts as PNG files into one folder (docs/images/ of the repository unless told otherwise):
/// latency as a histogram and as a distribution (CDF), failover time per leader kill.
/// </summary>
public sealed class ChartFolder
{
    private const int Width = 900;
    private const int Height = 520;

    /// <param name="directory">Where the PNG files go; created if missing.</param>
    public ChartFolder(string directory)
    {
        Directory = System.IO.Directory.CreateDirectory(directory).FullName;
    }

    /// <summary>The folder's full path.</summary>
    public string Directory { get; }

    /// <summary>
    /// docs/images/ of the repository this program was built in (found by walking up to ClusterClient.sln), or
    /// docs/images/ under the current directory when there is none.
    /// </summary>
    public static string DefaultDirectory()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
            if (File.Exists(Path.Combine(dir.FullName, "ClusterClient.sln"))) return Path.Combine(dir.FullName, "docs", "images");
        return Path.Combine(System.IO.Directory.GetCurrentDirectory(), "docs", "images");
    }

    /// <summary>
    /// Share of samples per bin, one line a series, over the range that holds 99% of every series (the long tail
    /// would squash the picture; the CDF shows it).
    /// </summary>
    /// <returns>The file written.</returns>
    public string Histogram(string fileName, string title, string xLabel, string unit, IReadOnlyList<ChartSeries> series, int bins = 60)
    {
        var plot = NewPlot(title, xLabel, "share of samples (%)");
        var nonEmpty = series.Where(s => s.Sorted.Count > 0).ToList();
        if (nonEmpty.Count > 0)
        {
            double min = nonEmpty.Min(s => s.Sorted[0]);
            double max = nonEmpty.Max(s => Percentiles.NearestRank(s.Sorted, 99));
            if (max <= min) max = min + 1;
            var axis = XAxis.For(plot, min, max);
            double from = axis.Position(min), width = (axis.Position(max) - from) / bins;
            double highest = 0;
            foreach (var s in nonEmpty)
            {
                var counts = new double[bins];
                foreach (double v in s.Sorted)
                {
                    if (v > max) break;
                    counts[Math.Clamp((int)((axis.Position(v) - from) / width), 0, bins - 1)]++;
                }
                var xs = Enumerable.Range(0, bins).Select(i => from + (i + 0.5) * width).ToArray();
                var ys = counts.Select(c => 100.0 * c / s.Sorted.Count).ToArray();
                highest = Math.Max(highest, ys.Max());
                var line = plot.Add.Scatter(xs, ys);
                line.LegendText = Legend(s, unit);
                line.MarkerSize = 0;
                line.LineWidth = 2;
            }
            plot.Axes.SetLimitsX(from, axis.Position(max));
            plot.Axes.SetLimitsY(0, Math.Max(1, highest) * 1.1);
        }
        return Save(plot, fileName, nonEmpty.Count > 0, Alignment.UpperRight);
    }

    /// <summary>Cumulative distribution (a step a sample): for each value, the share of samples at or below it.</summary>
    /// <returns>The file written.</returns>
    public string Cdf(string fileName, string title, string xLabel, string unit, IReadOnlyList<ChartSeries> series)
    {
        var plot = NewPlot(title, xLabel, "samples at or below (%)");
        var nonEmpty = series.Where(s => s.Sorted.Count > 0).ToList();
        if (nonEmpty.Count == 0) return Save(plot, fileName, legend: false);
        var axis = XAxis.For(plot, nonEmpty.Min(s => s.Sorted[0]), nonEmpty.Max(s => s.Sorted[^1]));
        foreach (var s in nonEmpty)
        {
            // At most ~2,000 points a line: enough for a smooth curve, small enough for a crisp PNG.
            int step = Math.Max(1, s.Sorted.Count / 2000);
            var xs = new List<double> { s.Sorted[0] };
            var ys = new List<double> { 0 };
            for (int i = 0; i < s.Sorted.Count; i += step)
            {
                xs.Add(s.Sorted[i]);
                ys.Add(100.0 * (i + 1) / s.Sorted.Count);
            }
            xs.Add(s.Sorted[^1]);
            ys.Add(100);
            var line = plot.Add.Scatter(xs.Select(axis.Position).ToArray(), ys.ToArray());
            line.LegendText = Legend(s, unit);
            line.MarkerSize = 0;
            line.LineWidth = 2;
            line.ConnectStyle = ConnectStyle.StepHorizontal;
        }
        plot.Axes.SetLimitsY(0, 101);
        return Save(plot, fileName, legend: true);
    }

    /// <summary>
    /// Failover time per kill: a dot for every survivor's first successful call after that kill, and a line through the
    /// slowest survivor of each kill.
    /// </summary>
    /// <param name="perKill">For each kill in order, the survivors' failover times.</param>
    /// <returns>The file written.</returns>
    public string FailoverPerKill(string fileName, string title, IReadOnlyList<IReadOnlyList<double>> perKill)
    {
        var plot = NewPlot(title, "leader kill", "SIGKILL → first successful call (ms)");
        var dotsX = new List<double>();
        var dotsY = new List<double>();
        var slowX = new List<double>();
        var slowY = new List<double>();
        for (int k = 0; k < perKill.Count; k++)
        {
            foreach (double ms in perKill[k])
            {
                dotsX.Add(k + 1);
                dotsY.Add(ms);
            }
            if (perKill[k].Count > 0)
            {
                slowX.Add(k + 1);
                slowY.Add(perKill[k].Max());
            }
        }
        if (dotsX.Count > 0)
        {
            var dots = plot.Add.ScatterPoints(dotsX.ToArray(), dotsY.ToArray());
            dots.LegendText = FormattableString.Invariant($"each survivor ({dotsY.Count} samples, p50 {Percentiles.NearestRank(Percentiles.Sorted(dotsY), 50):0} ms)");
            dots.MarkerSize = 6;
            var slowest = plot.Add.Scatter(slowX.ToArray(), slowY.ToArray());
            slowest.LegendText = FormattableString.Invariant($"slowest survivor per kill (max {slowY.Max():0} ms)");
            slowest.MarkerSize = 0;
            slowest.LineWidth = 2;
            plot.Axes.SetLimitsX(0.5, perKill.Count + 0.5);
            plot.Axes.Bottom.TickGenerator = new ScottPlot.TickGenerators.NumericAutomatic { IntegerTicksOnly = true };
            plot.Axes.SetLimitsY(0, dotsY.Max() * 1.15);
        }
        return Save(plot, fileName, dotsX.Count > 0, Alignment.UpperRight);
    }

    private static string Legend(ChartSeries s, string unit) => string.Create(CultureInfo.InvariantCulture,
        $"{s.Name}: p50 {Percentiles.NearestRank(s.Sorted, 50):0.#} {unit}, p99 {Percentiles.NearestRank(s.Sorted, 99):0.#} {unit} (n={s.Sorted.Count})");

    private static Plot NewPlot(string title, string xLabel, string yLabel)
    {
        var plot = new Plot();
        plot.Title(title);
        plot.XLabel(xLabel);
        plot.YLabel(yLabel);
        return plot;
    }

    private string Save(Plot plot, string fileName, bool legend, Alignment legendAt = Alignment.LowerRight)
    {
        if (legend) plot.ShowLegend(legendAt);
        string path = Path.Combine(Directory, fileName);
        plot.SavePng(path, Width, Height);
        return path;
    }
}

/// <summary>
/// The x axis of a latency chart: linear, or log10 when the values span more than a factor of 20 (a loaded machine's
/// tail would otherwise squash everything else into the first pixels); ticks are labelled in the values' own unit.
/// </summary>
internal sealed class XAxis
{
    private readonly bool _log;

    private XAxis(bool log) => _log = log;

    public static XAxis For(Plot plot, double min, double max)
    {
        bool log = min > 0 && max / min > 20;
        if (log)
        {
            var ticks = new ScottPlot.TickGenerators.NumericAutomatic
            {
                MinorTickGenerator = new ScottPlot.TickGenerators.LogMinorTickGenerator(),
                IntegerTicksOnly = true,
                LabelFormatter = position => Math.Pow(10, position).ToString("#,0.##", CultureInfo.InvariantCulture),
            };
            plot.Axes.Bottom.TickGenerator = ticks;
            plot.Axes.Bottom.Label.Text += " (log scale)";
        }
        return new XAxis(log);
    }

    /// <summary>Where <paramref name="value"/> goes on the plot's x coordinate.</summary>
    public double Position(double value) => _log ? Math.Log10(Math.Max(value, 1e-9)) : value;
}

/// <summary>One line of a chart: a name and its samples in ascending order.</summary>
/// <param name="Name">The legend's name for it.</param>
/// <param name="Sorted">The samples, ascending.</param>
public sealed record ChartSeries(string Name, IReadOnlyList<double> Sorted);
