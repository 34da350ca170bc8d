using System.Text.RegularExpressions;

namespace ClusterSharing.PackageTests;

/// <summary>docs/getting-started.md stays true to the runtime: its event-id table and its troubleshooting messages.</summary>
public sealed partial class DocsTests
{
    private static readonly string GettingStarted = File.ReadAllText(Path.Combine(DotnetCli.RepositoryRoot, "docs", "getting-started.md"));

    private static readonly string[] SourceFiles = Directory.GetFiles(Path.Combine(DotnetCli.RepositoryRoot, "src"), "*.cs", SearchOption.AllDirectories)
        .Where(f => !f.Contains($"{Path.DirectorySeparatorChar}obj{Path.DirectorySeparatorChar}", StringComparison.Ordinal))
        .ToArray();

    [Fact]
    public void Every_logged_event_id_is_in_the_event_table_and_every_row_is_logged()
    {
        var logged = SourceFiles.SelectMany(f => LoggerMessageId().Matches(File.ReadAllText(f)).Select(m => int.Parse(m.Groups["id"].Value)))
            .ToHashSet();
        var documented = EventRow().Matches(GettingStarted).Select(m => int.Parse(m.Groups["id"].Value)).ToHashSet();
        Assert.NotEmpty(logged);
        Assert.True(logged.SetEquals(documented),
            $"[LoggerMessage] ids missing from docs/getting-started.md: {string.Join(", ", logged.Except(documented).Order())}; " +
            $"documented but never logged: {string.Join(", ", documented.Except(logged).Order())}");
    }

    [Fact]
    public void Every_message_the_troubleshooting_tables_quote_is_raised_by_the_runtime()
    {
        string troubleshooting = GettingStarted[GettingStarted.IndexOf("## Troubleshooting", StringComparison.Ordinal)..];
        string sources = string.Join('\n', SourceFiles.Select(File.ReadAllText));
        var quoted = troubleshooting.Split('\n')
            .Where(line => line.StartsWith("| `", StringComparison.Ordinal))
            .SelectMany(line => Quoted().Matches(line.Split('|')[1]).Select(m => m.Groups["text"].Value))
            .Where(text => !text.Contains("Exception", StringComparison.Ordinal))
            .ToList();
        Assert.True(quoted.Count >= 20, $"expected the troubleshooting tables to quote messages, found {quoted.Count}");
        var missing = quoted.Where(text => !sources.Contains(text, StringComparison.Ordinal)).ToList();
        Assert.True(missing.Count == 0, "quoted in docs/getting-started.md but raised nowhere in src/: " + string.Join(" | ", missing));
    }

    [GeneratedRegex(@"\[LoggerMessage\((?:EventId\s*=\s*)?(?<id>\d+)")]
    private static partial Regex LoggerMessageId();

    [GeneratedRegex(@"^\| (?<id>\d{4}) \|", RegexOptions.Multiline)]
    private static partial Regex EventRow();

    [GeneratedRegex("`(?<text>[^`]+)`")]
    private static partial Regex Quoted();
}
