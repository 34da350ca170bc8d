using System.Reflection;
using System.Xml.Linq;
using Microsoft.CodeAnalysis;

namespace ClusterSharing.Generators.Tests.Generator;

/// <summary>Every CC diagnostic links to its documentation page, and that page exists in this repository.</summary>
public sealed class DiagnosticHelpLinkTests
{
    public static TheoryData<string> DescriptorIds() => [.. Descriptors().Select(d => d.Id)];

    private static IEnumerable<DiagnosticDescriptor> Descriptors() =>
        typeof(Diagnostics).GetFields(BindingFlags.Public | BindingFlags.NonPublic | BindingFlags.Static)
            .Where(f => f.FieldType == typeof(DiagnosticDescriptor))
            .Select(f => (DiagnosticDescriptor)f.GetValue(null)!);

    [Fact]
    public void Every_descriptor_is_found() => Assert.True(Descriptors().Count() >= 17, "expected every CC descriptor to be a static field of Diagnostics");

    [Theory]
    [MemberData(nameof(DescriptorIds))]
    public void Help_link_points_at_the_page_of_the_diagnostic_on_the_repository(string id)
    {
        var descriptor = Descriptors().Single(d => d.Id == id);
        string expected = RepositoryUrl() + "/blob/main/docs/diagnostics/" + id + ".md";
        Assert.Equal(expected, descriptor.HelpLinkUri);

        string page = Path.Combine(SourcePaths.RepositoryRoot, "docs", "diagnostics", id + ".md");
        Assert.True(File.Exists(page), $"{descriptor.HelpLinkUri} has no file {page} behind it");
        Assert.StartsWith("# " + id, File.ReadAllText(page).TrimStart('\uFEFF'), StringComparison.Ordinal);
    }

    /// <summary>The RepositoryUrl the package metadata declares, so the help links follow it if the repository moves.</summary>
    private static string RepositoryUrl()
    {
        var props = XDocument.Load(Path.Combine(SourcePaths.RepositoryRoot, "Directory.Build.props"));
        string? url = props.Descendants("RepositoryUrl").Select(e => e.Value.Trim()).SingleOrDefault();
        Assert.False(string.IsNullOrEmpty(url), "Directory.Build.props declares no RepositoryUrl");
        return url!.TrimEnd('/');
    }
}
