using ClusterSharing.Node.Membership.Keys;

namespace ClusterSharing.Tests.Node.Membership.Keys;

public sealed class RendezvousHashingTests
{
    private static readonly string[] Keys = [.. Enumerable.Range(0, 10_000).Select(i => $"key-{i}")];

    private static KeyCandidate[] Members(int count, Func<int, int>? weight = null) =>
        [.. Enumerable.Range(0, count).Select(i => KeyCandidate.Of($"member-{i:D2}-{i * 7919:x}", weight?.Invoke(i) ?? 0))];

    private static Dictionary<string, string> Assign(KeyCandidate[] members) => Keys.ToDictionary(k => k, k => RendezvousHashing.Owner(k, members)!);

    [Fact]
    public void The_assignment_is_deterministic_and_independent_of_member_order()
    {
        var members = Members(8);
        var first = Assign(members);
        var reversed = Assign([.. members.Reverse()]);
        Assert.Equal(first, reversed);
        Assert.Null(RendezvousHashing.Owner("k", []));
        Assert.Equal(RendezvousHashing.Hash("key-1"), RendezvousHashing.Hash("key-1"));
    }

    [Fact]
    public void A_join_moves_about_one_in_n_keys_and_only_to_the_new_member()
    {
        var seven = Members(8)[..7];
        var eight = Members(8);
        var before = Assign(seven);
        var after = Assign(eight);
        var moved = Keys.Where(k => before[k] != after[k]).ToList();
        double fraction = moved.Count / (double)Keys.Length;
        Assert.InRange(fraction, 0.10, 0.15); // 1/8 = 0.125
        Assert.All(moved, k => Assert.Equal(eight[7].Id, after[k]));
    }

    [Fact]
    public void A_leave_moves_only_the_keys_of_the_member_that_left()
    {
        var eight = Members(8);
        var before = Assign(eight);
        var after = Assign([.. eight.Where(m => m.Id != eight[3].Id)]);
        var moved = Keys.Where(k => before[k] != after[k]).ToList();
        Assert.All(moved, k => Assert.Equal(eight[3].Id, before[k]));
        Assert.Equal(Keys.Count(k => before[k] == eight[3].Id), moved.Count);
        Assert.InRange(moved.Count / (double)Keys.Length, 0.10, 0.15);
    }

    [Fact]
    public void Weights_are_respected_and_weights_below_one_count_as_one()
    {
        var members = Members(3, i => i == 0 ? 3 : (i == 1 ? 1 : -5));
        var owners = Assign(members);
        double heavy = owners.Values.Count(o => o == members[0].Id) / (double)Keys.Length;
        double light = owners.Values.Count(o => o == members[1].Id) / (double)Keys.Length;
        double negative = owners.Values.Count(o => o == members[2].Id) / (double)Keys.Length;
        Assert.InRange(heavy, 0.56, 0.64); // 3 / 5
        Assert.InRange(light, 0.17, 0.23); // 1 / 5
        Assert.InRange(negative, 0.17, 0.23);
    }
}
