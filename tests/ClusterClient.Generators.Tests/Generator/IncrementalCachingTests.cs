using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.CSharp;

namespace ClusterSharing.Generators.Tests.Generator;

/// <summary>Edits that do not touch a contract leave every tracked step cached: nothing is re-parsed into a different spec or re-emitted.</summary>
public sealed class IncrementalCachingTests
{
    private const string Contract = """
        namespace Cache;
        public sealed record Item(string Name, int Count);
        [ClusterDelegate]
        public interface ICached
        {
            Task<Item> GetAsync(int id, CancellationToken cancellationToken = default);
            void Subscribe(string topic, Action<Item[]> listener);
        }
        """;

    [Fact]
    public void An_unrelated_edit_leaves_the_tracked_steps_cached_or_unchanged()
    {
        var compilation = GeneratorHarness.CreateCompilation(Contract, "namespace Cache; public static class Other { public static int Value => 1; }");
        var driver = GeneratorHarness.CreateDriver().RunGenerators(compilation);
        Assert.Single(driver.GetRunResult().GeneratedTrees);

        var other = compilation.SyntaxTrees.Single(t => t.FilePath == "Source1.cs");
        var edited = compilation.ReplaceSyntaxTree(other,
            CSharpSyntaxTree.ParseText("namespace Cache; public static class Other { public static int Value => 2; public static int More => 3; }", GeneratorHarness.ParseOptions, path: "Source1.cs"));
        driver = driver.RunGenerators(edited);

        var result = driver.GetRunResult().Results.Single();
        foreach (var name in new[] { ClusterDelegateGenerator.TrackingNames.Parse, ClusterDelegateGenerator.TrackingNames.Contracts, ClusterDelegateGenerator.TrackingNames.Diagnostics })
        {
            Assert.True(result.TrackedSteps.TryGetValue(name, out var steps), $"Step {name} was not tracked.");
            var reasons = steps.SelectMany(s => s.Outputs).Select(o => o.Reason).ToList();
            Assert.NotEmpty(reasons);
            Assert.All(reasons, r => Assert.True(r is IncrementalStepRunReason.Cached or IncrementalStepRunReason.Unchanged, $"{name}: {r}"));
        }
        Assert.All(result.TrackedOutputSteps.SelectMany(s => s.Value).SelectMany(s => s.Outputs),
            o => Assert.True(o.Reason is IncrementalStepRunReason.Cached or IncrementalStepRunReason.Unchanged, o.Reason.ToString()));
    }

    [Fact]
    public void Editing_a_method_body_elsewhere_in_the_contract_file_keeps_the_spec_equal()
    {
        var compilation = GeneratorHarness.CreateCompilation(Contract + "\nnamespace Cache { public static class Helper { public static int F() => 1; } }");
        var driver = GeneratorHarness.CreateDriver().RunGenerators(compilation);
        var tree = compilation.SyntaxTrees.First();
        var edited = compilation.ReplaceSyntaxTree(tree,
            CSharpSyntaxTree.ParseText(Contract + "\nnamespace Cache { public static class Helper { public static int F() => 42; } }", GeneratorHarness.ParseOptions, path: tree.FilePath));
        driver = driver.RunGenerators(edited);
        var result = driver.GetRunResult().Results.Single();
        // The attribute's file changed, so Parse re-runs; its output (the spec) must compare equal, so nothing downstream runs.
        var parse = result.TrackedSteps[ClusterDelegateGenerator.TrackingNames.Parse].SelectMany(s => s.Outputs).ToList();
        Assert.All(parse, o => Assert.True(o.Reason is IncrementalStepRunReason.Cached or IncrementalStepRunReason.Unchanged, o.Reason.ToString()));
        Assert.All(result.TrackedOutputSteps.SelectMany(s => s.Value).SelectMany(s => s.Outputs),
            o => Assert.True(o.Reason is IncrementalStepRunReason.Cached or IncrementalStepRunReason.Unchanged, o.Reason.ToString()));
    }
}
