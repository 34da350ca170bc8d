using System.Runtime.CompilerServices;

namespace ClusterSharing.Generators.Tests.Generator;

/// <summary>Where the test sources live on disk (for snapshots and docs), found from this file's compile-time path.</summary>
internal static class SourcePaths
{
    public static string GeneratorTests { get; } = Path.GetDirectoryName(ThisFile())!;

    public static string RepositoryRoot { get; } = Path.GetFullPath(Path.Combine(GeneratorTests, "..", "..", ".."));

    private static string ThisFile([CallerFilePath] string path = "") => path;
}
