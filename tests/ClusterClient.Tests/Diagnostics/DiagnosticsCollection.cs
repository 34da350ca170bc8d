namespace ClusterSharing.Tests.Diagnostics;

/// <summary>Tests that listen to the process-wide meter and activity source run alone, so other tests' calls do not blur their counts.</summary>
[CollectionDefinition(Name, DisableParallelization = true)]
public sealed class DiagnosticsCollection
{
    public const string Name = "Diagnostics (process-wide listeners)";
}
