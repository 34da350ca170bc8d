namespace ClusterSharing.Hosting.Tests;

/// <summary>
/// Test classes that build a Generic Host: a host installs its meter factory process-wide, so two hosts built at once
/// would see each other's instruments. They run one at a time.
/// </summary>
[CollectionDefinition(Name, DisableParallelization = true)]
public sealed class GenericHosts
{
    public const string Name = "Generic hosts";
}
