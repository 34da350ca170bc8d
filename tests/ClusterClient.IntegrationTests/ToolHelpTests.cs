using ClusterSharing.ProcessHarness;

namespace ClusterSharing.IntegrationTests;

/// <summary>The tools a user runs (the harness, the chaos run, the demo) explain themselves and refuse what they do not know.</summary>
public sealed class ToolHelpTests
{
    private static readonly TimeSpan Limit = TimeSpan.FromSeconds(60);

    public static TheoryData<string, string> Tools => new()
    {
        { "harness", "ClusterClient.Harness.dll" },
        { "chaos", "ClusterClient.Chaos.dll" },
        { "demo", "Demo.dll" },
    };

    [Theory]
    [MemberData(nameof(Tools))]
    public async Task Tool_answers_help_with_its_usage_and_exit_code_0(string folder, string dll)
    {
        var outcome = await ProcessCommand.RunToEndAsync(ProcessCommand.ForDll(ChildTools.PathOf(folder, dll), ["--help"]), Limit);
        string context = $"exit code {outcome.ExitCode}\nstdout:\n{outcome.Stdout}\nstderr:\n{outcome.Stderr}";
        Assert.True(outcome.ExitCode == 0, context);
        Assert.True(outcome.Stdout.Contains("Usage:", StringComparison.Ordinal), context);
        Assert.True(outcome.Stdout.Contains($"{Path.GetFileNameWithoutExtension(dll)} [options]", StringComparison.Ordinal), context);
        Assert.True(outcome.Stderr.Trim().Length == 0, context);
    }

    [Theory]
    [MemberData(nameof(Tools))]
    public async Task Tool_refuses_an_unknown_option_by_name_with_a_nonzero_exit_code(string folder, string dll)
    {
        var outcome = await ProcessCommand.RunToEndAsync(ProcessCommand.ForDll(ChildTools.PathOf(folder, dll), ["--no-such-option"]), Limit);
        string context = $"exit code {outcome.ExitCode}\nstdout:\n{outcome.Stdout}\nstderr:\n{outcome.Stderr}";
        Assert.True(outcome.ExitCode != 0, context);
        Assert.True(outcome.Stderr.Contains("--no-such-option", StringComparison.Ordinal), context);
    }
}
