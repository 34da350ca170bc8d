using System.Runtime.CompilerServices;

namespace ClusterSharing.Generators.Tests.Generator;

/// <summary>Where the test sources live on disk (for snapshots and docs).</summary>
internal static class SourcePaths
{
    private const string Relative = "tests/ClusterClient.Generators.Tests/Generator";

    public static string GeneratorTests { get; } = Find();

    public static string RepositoryRoot { get; } = Path.GetFullPath(Path.Combine(GeneratorTests, "..", "..", ".."));

    /// <summary>
    /// This file's compile-time directory, unless a deterministic CI build mapped it to a pseudo path (/_/...); then the
    /// directory is found by walking up from the test binaries.
    /// </summary>
    private static string Find([CallerFilePath] string thisFile = "")
    {
        string? compiled = Path.GetDirectoryName(thisFile);
        if (compiled is not null && Directory.Exists(compiled)) return compiled;
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            string candidate = Path.Combine(dir.FullName, Relative);
            if (Directory.Exists(candidate)) return candidate;
        }
        throw new DirectoryNotFoundException($"Cannot find {Relative} from {thisFile} or {AppContext.BaseDirectory}.");
    }
}
