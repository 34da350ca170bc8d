namespace ClusterSharing.Generators.Tests.Generator;

/// <summary>
/// The emitted source of representative contracts, pinned in Snapshots/*.verified.cs. On a mismatch the new output is
/// written next to it as .received.cs; review the diff and copy it over the verified file if the change is intended.
/// Set CLUSTERCLIENT_UPDATE_SNAPSHOTS=1 to accept all; outside CI a missing verified file is created (commit it).
/// </summary>
public sealed class SnapshotTests
{
    [Theory]
    [InlineData(nameof(SnapshotContracts.Minimal), SnapshotContracts.Minimal)]
    [InlineData(nameof(SnapshotContracts.Subscriptions), SnapshotContracts.Subscriptions)]
    [InlineData(nameof(SnapshotContracts.NestedPrivate), SnapshotContracts.NestedPrivate)]
    [InlineData(nameof(SnapshotContracts.Awaitable), SnapshotContracts.Awaitable)]
    public void Emitted_source_matches_the_verified_snapshot(string name, string source)
    {
        var run = GeneratorHarness.Run(source);
        Assert.Empty(run.GeneratorDiagnostics);
        Verify(name, run.SingleSource);
    }

    private static void Verify(string name, string actual)
    {
        string directory = Path.Combine(SourcePaths.GeneratorTests, "Snapshots");
        string verified = Path.Combine(directory, name + ".verified.cs");
        string received = Path.Combine(directory, name + ".received.cs");
        bool update = Environment.GetEnvironmentVariable("CLUSTERCLIENT_UPDATE_SNAPSHOTS") == "1";
        bool inCi = string.Equals(Environment.GetEnvironmentVariable("CI"), "true", StringComparison.OrdinalIgnoreCase);
        if (update || (!File.Exists(verified) && !inCi))
        {
            Directory.CreateDirectory(directory);
            File.WriteAllText(verified, actual);
            if (File.Exists(received)) File.Delete(received);
            return;
        }
        Assert.True(File.Exists(verified), $"Snapshot {verified} is missing; run the tests locally to create it and commit it.");
        string expected = File.ReadAllText(verified).ReplaceLineEndings("\n");
        if (expected == actual)
        {
            if (File.Exists(received)) File.Delete(received);
            return;
        }
        File.WriteAllText(received, actual);
        var expectedLines = expected.Split('\n');
        var actualLines = actual.Split('\n');
        int line = 0;
        while (line < expectedLines.Length && line < actualLines.Length && expectedLines[line] == actualLines[line]) line++;
        Assert.Fail($"""
            Generated source for {name} differs from {verified} at line {line + 1}:
              verified: {(line < expectedLines.Length ? expectedLines[line] : "<end of file>")}
              received: {(line < actualLines.Length ? actualLines[line] : "<end of file>")}
            Wrote {received}. Diff it (diff -u "{verified}" "{received}"); if the change is intended, copy it over the verified file.
            """);
    }
}
