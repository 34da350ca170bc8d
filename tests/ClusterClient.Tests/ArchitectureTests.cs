using System.Reflection;
using ClusterSharing.Follower;
using ClusterSharing.Node;
using NetArchTest.Rules;

namespace ClusterSharing.Tests;

/// <summary>
/// The rooms of src/Runtime depend one way, downwards (docs/architecture.md): the node on the roles and the election
/// seam; the roles on liveness, transport and protocol; nothing below on anything above; the node on the seam only,
/// never on an engine.
/// </summary>
public sealed class ArchitectureTests
{
    private static readonly Assembly RuntimeAssembly = typeof(ClusterNode).Assembly;

    [Theory]
    [InlineData("ClusterSharing.Leader")]
    [InlineData("ClusterSharing.Follower")]
    public void A_role_depends_on_neither_the_node_nor_coordination(string role)
    {
        AssertNoDependency(role, "ClusterSharing.Node", "ClusterSharing.Coordination");
    }

    [Fact]
    public void The_leader_and_the_follower_do_not_know_each_other()
    {
        AssertNoDependency("ClusterSharing.Leader", "ClusterSharing.Follower");
        AssertNoDependency("ClusterSharing.Follower", "ClusterSharing.Leader");
    }

    [Theory]
    [InlineData("ClusterSharing.Protocol")]
    [InlineData("ClusterSharing.Transport")]
    [InlineData("ClusterSharing.Liveness")]
    public void A_lower_room_depends_on_no_role_and_not_on_the_node(string room)
    {
        AssertNoDependency(room, "ClusterSharing.Leader", "ClusterSharing.Follower", "ClusterSharing.Node", "ClusterSharing.Coordination");
    }

    [Fact]
    public void The_node_talks_to_the_election_seam_not_to_an_engine()
    {
        AssertNoDependency("ClusterSharing.Node", "ClusterSharing.Coordination.Local");
    }

    [Fact]
    public void The_seam_does_not_know_the_node_or_the_roles()
    {
        AssertNoDependency("ClusterSharing.Coordination", "ClusterSharing.Node", "ClusterSharing.Leader", "ClusterSharing.Follower");
    }

    [Fact]
    public void The_rules_see_real_dependencies()
    {
        // A control: without it every rule above would also pass if the checker saw no dependency at all.
        Assert.Contains(typeof(ClusterNode), Types.InAssembly(RuntimeAssembly).That().HaveDependencyOn("ClusterSharing.Coordination").GetTypes());
        Assert.Contains(typeof(LeaderConnection), Types.InAssembly(RuntimeAssembly).That().HaveDependencyOn("ClusterSharing.Liveness").GetTypes());
        // A namespace also covers the ones inside it: these tests use the lease (Coordination.Local) and nothing else of Coordination.
        Assert.Contains(typeof(Coordination.Local.HungLeaderTests), Types.InAssembly(typeof(ArchitectureTests).Assembly).That().HaveDependencyOn("ClusterSharing.Coordination").GetTypes());
    }

    private static void AssertNoDependency(string room, params string[] forbidden)
    {
        var result = Types.InAssembly(RuntimeAssembly)
            .That().ResideInNamespaceStartingWith(room)
            .ShouldNot().HaveDependencyOnAny(forbidden)
            .GetResult();
        Assert.True(result.IsSuccessful,
            $"{room} must not depend on {string.Join(" or ", forbidden)}; these types do: {string.Join(", ", result.FailingTypeNames ?? [])}");
    }
}
