// Test classes run four at a time (xunit's conservative algorithm starts no more collections than that): most of a
// multi-process test is waiting for elections, leases and timeouts, so side by side they take about half the time.
// Classes that burn CPU on purpose run alone afterwards, in the CpuHeavy collection.
[assembly: CollectionBehavior(CollectionBehavior.CollectionPerClass, MaxParallelThreads = 4)]

namespace ClusterSharing.IntegrationTests;

/// <summary>
/// Test classes that load the CPU on purpose (thread-pool burners, a frame flood, chaos under load): they run one at a
/// time with nothing beside them, after the parallel classes, so they neither starve the others nor get starved.
/// </summary>
[CollectionDefinition(Name, DisableParallelization = true)]
public sealed class CpuHeavy
{
    public const string Name = "CPU-heavy tests (alone)";
}
