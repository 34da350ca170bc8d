namespace ClusterSharing.IntegrationTests;

/// <summary>
/// <c>[Publish(LastValue = true)] void PublishLatest(string key, string value)</c>: 1,000 publications over 10 keys, then a
/// leader SIGKILL; the next leader's real client gets exactly one re-publication per key, the latest, in the order they
/// were last made, whether the publisher follows the new leader or becomes it (docs/semantics.md, "Publications").
/// </summary>
public sealed class SupersedingPublicationTests
{
    private static readonly string[] Common = ["--max-wait-ms", "20000", "--response-timeout-ms", "20000", "--heartbeat-ms", "200"];

    private static string[] Latest(HostProcess leader) =>
        leader.Events("real-published-latest").Select(l => Replies.Text(l, "key") + "=" + Replies.Text(l, "value")).ToArray();

    /// <summary>k0..k9 last published by v-990..v-999, then k3 once more: k3 moves to the end.</summary>
    private static readonly string[] Expected =
        ["k0=v-990", "k1=v-991", "k2=v-992", "k4=v-994", "k5=v-995", "k6=v-996", "k7=v-997", "k8=v-998", "k9=v-999", "k3=final"];

    private static async Task PublishAsync(HostProcess publisher, HostProcess leader)
    {
        Replies.Value(await publisher.RequestAsync("publish-latest-many 10 1000 v"));
        Replies.Value(await publisher.RequestAsync("publish-latest k3 final"));
        // Every one of them reached the first leader's real client (they supersede only in what is remembered for a replay).
        await leader.WaitForEventAsync("real-published-latest", l => Replies.Text(l, "value") == "final", TimeSpan.FromSeconds(60));
        Assert.Equal(1001, Latest(leader).Length);
    }

    private static async Task AssertOneRepublicationPerKeyAsync(HostCluster cluster, HostProcess newLeader)
    {
        await newLeader.WaitForEventAsync("real-published-latest", l => Replies.Text(l, "value") == "final", TimeSpan.FromSeconds(60));
        // Anything more would arrive right behind the replay; give it the time to show up.
        await Task.Delay(1000);
        Assert.True(newLeader.Events("leader-changed").Any(l => l.GetProperty("leader").GetBoolean()), cluster.DescribeAll());
        Assert.Equal(Expected, Latest(newLeader));
    }

    [Fact]
    public async Task A_follower_republishes_exactly_the_latest_value_per_key_to_the_next_leader_in_order()
    {
        await using var cluster = new HostCluster(Common);
        var leader = cluster.Start("--role", "leader");
        await HostCluster.WaitReadyAsync(leader);
        var publisher = cluster.Start("--role", "follower");
        var successor = cluster.Start();
        await Task.WhenAll(HostCluster.WaitReadyAsync(publisher), HostCluster.WaitReadyAsync(successor));
        await PublishAsync(publisher, leader);

        leader.Kill();
        await leader.WaitForExitAsync();
        await AssertOneRepublicationPerKeyAsync(cluster, successor);
    }

    [Fact]
    public async Task A_publisher_that_becomes_the_leader_gives_its_own_new_real_client_exactly_the_latest_value_per_key_in_order()
    {
        await using var cluster = new HostCluster(Common);
        var leader = cluster.Start("--role", "leader");
        await HostCluster.WaitReadyAsync(leader);
        var publisher = cluster.Start();
        var bystander = cluster.Start("--role", "follower");
        await Task.WhenAll(HostCluster.WaitReadyAsync(publisher), HostCluster.WaitReadyAsync(bystander));
        await PublishAsync(publisher, leader);

        leader.Kill();
        await leader.WaitForExitAsync();
        await AssertOneRepublicationPerKeyAsync(cluster, publisher);
    }
}
