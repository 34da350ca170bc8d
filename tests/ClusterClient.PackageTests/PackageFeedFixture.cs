using System.Globalization;

namespace ClusterSharing.PackageTests;

/// <summary>
/// Packs the runtime into a temporary folder feed under a unique version (so no package cached by an earlier run can
/// be picked), and creates a fresh console project that references it with only <c>dotnet add package</c>.
/// </summary>
public sealed class PackageFeedFixture : IAsyncLifetime
{
    public const string PackageId = "ClusterClient";

    private static readonly TimeSpan StepTimeout = TimeSpan.FromMinutes(4);

    /// <summary>Temporary root: feed/, app/ and the projects tests derive from app/.</summary>
    public string Root { get; } = Path.Combine(Path.GetTempPath(), "cc-package-" + Guid.NewGuid().ToString("N")[..12]);

    /// <summary>A version no cache has seen.</summary>
    public string Version { get; } = "0.0.0-test." + Guid.NewGuid().ToString("N")[..12];

    public string Feed => Path.Combine(Root, "feed");

    public string PackagePath => Path.Combine(Feed, $"{PackageId}.{Version}.nupkg");

    /// <summary>The consumer project after <c>dotnet add package</c>: its csproj and nuget.config only.</summary>
    public string App => Path.Combine(Root, "app");

    public async Task InitializeAsync()
    {
        Directory.CreateDirectory(Feed);
        Directory.CreateDirectory(App);
        // Fence the temp tree off from any Directory.Build.* above it, as a fresh project elsewhere would be.
        await File.WriteAllTextAsync(Path.Combine(Root, "Directory.Build.props"), "<Project />\n");
        await File.WriteAllTextAsync(Path.Combine(Root, "Directory.Build.targets"), "<Project />\n");

        // `dotnet test` built the runtime (with the abstractions and the generator) through this project's reference.
        var pack = await DotnetCli.RunAsync(DotnetCli.RepositoryRoot, StepTimeout,
            "pack", Path.Combine("src", "Runtime", "ClusterClient.Runtime.csproj"), "--no-build", "-c", DotnetCli.Configuration,
            "-o", Feed, "-p:Version=" + Version);
        Assert.True(pack.ExitCode == 0 && File.Exists(PackagePath), $"dotnet pack failed ({pack.ExitCode}):\n{DotnetCli.Tail(pack.Output)}");

        // The feed is added to the user's sources (the dependencies come from the usual NuGet source).
        await File.WriteAllTextAsync(Path.Combine(Root, "nuget.config"), $"""
            <?xml version="1.0" encoding="utf-8"?>
            <configuration>
              <packageSources>
                <add key="clusterclient-test-feed" value="{Feed}" />
              </packageSources>
            </configuration>
            """);
        await File.WriteAllTextAsync(Path.Combine(App, "PackageConsumer.csproj"), """
            <Project Sdk="Microsoft.NET.Sdk">
              <PropertyGroup>
                <OutputType>Exe</OutputType>
                <TargetFramework>net10.0</TargetFramework>
                <ImplicitUsings>enable</ImplicitUsings>
                <Nullable>enable</Nullable>
              </PropertyGroup>
            </Project>
            """);
        var add = await DotnetCli.RunAsync(App, StepTimeout, "add", "package", PackageId, "--version", Version);
        Assert.True(add.ExitCode == 0, $"dotnet add package failed ({add.ExitCode}):\n{DotnetCli.Tail(add.Output)}");
    }

    /// <summary>A new project folder with the consumer's csproj (package reference included) and the given sources.</summary>
    public string CreateProject(string name, params (string File, string Text)[] sources)
    {
        string directory = Path.Combine(Root, name);
        Directory.CreateDirectory(directory);
        File.Copy(Path.Combine(App, "PackageConsumer.csproj"), Path.Combine(directory, "PackageConsumer.csproj"));
        foreach (var (file, text) in sources) File.WriteAllText(Path.Combine(directory, file), text);
        return directory;
    }

    /// <summary><c>dotnet build</c> with every warning an error and no build server left running.</summary>
    public static Task<(int ExitCode, string Output)> BuildAsync(string directory) =>
        DotnetCli.RunAsync(directory, StepTimeout, "build", "-warnaserror", "-p:TreatWarningsAsErrors=true", "--disable-build-servers", "-nodeReuse:false");

    public Task DisposeAsync()
    {
        TryDelete(Root);
        // The unique version was extracted into the global packages folder; nothing will use it again.
        string packages = Environment.GetEnvironmentVariable("NUGET_PACKAGES") is { Length: > 0 } configured
            ? configured
            : Path.Combine(Environment.GetFolderPath(Environment.SpecialFolder.UserProfile), ".nuget", "packages");
        TryDelete(Path.Combine(packages, PackageId.ToLowerInvariant(), Version.ToLower(CultureInfo.InvariantCulture)));
        return Task.CompletedTask;
    }

    private static void TryDelete(string directory)
    {
        try
        {
            if (Directory.Exists(directory)) Directory.Delete(directory, recursive: true);
        }
        catch (IOException)
        {
            // Best effort: a leftover temp folder is harmless.
        }
        catch (UnauthorizedAccessException)
        {
        }
    }
}
