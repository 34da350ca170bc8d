using ClusterSharing.Transport;

namespace ClusterSharing.Tests.Transport;

/// <summary>The request table both ends use, and the bounded pool behind their per-call objects.</summary>
public sealed class RequestTableTests
{
    private sealed class Request(long id, long deadline = long.MaxValue) : ITrackedRequest
    {
        public long RequestId => id;

        public long Deadline => deadline;
    }

    [Fact]
    public void A_full_table_refuses_and_a_reused_id_is_reported()
    {
        var table = new RequestTable<Request>();

        Assert.Equal(RequestAddResult.Added, table.TryAdd(new Request(1), capacity: 2));
        Assert.Equal(RequestAddResult.Duplicate, table.TryAdd(new Request(1), capacity: 2));
        Assert.Equal(RequestAddResult.Added, table.TryAdd(new Request(2), capacity: 2));
        Assert.Equal(RequestAddResult.Full, table.TryAdd(new Request(3), capacity: 2));
        Assert.Equal(2, table.Count);
    }

    [Fact]
    public void Removing_by_request_leaves_a_newer_request_under_the_same_id()
    {
        var table = new RequestTable<Request>();
        var old = new Request(1);
        var current = new Request(1);
        table.TryAdd(current);

        Assert.False(table.TryRemove(1, old));
        Assert.True(table.TryRemove(1, out var removed));
        Assert.Same(current, removed);
        Assert.False(table.TryRemove(1, out _));
    }

    [Fact]
    public void Only_requests_past_their_deadline_expire()
    {
        var table = new RequestTable<Request>();
        table.TryAdd(new Request(1, deadline: 100));
        table.TryAdd(new Request(2, deadline: 200));
        table.TryAdd(new Request(3));
        var expired = new List<Request>();

        table.RemoveExpired(150, expired);

        Assert.Equal([1L], expired.Select(r => r.RequestId));
        Assert.Equal(2, table.Count);
        Assert.Equal(2, table.RemoveAll().Length);
        Assert.Equal(0, table.Count);
    }

    [Fact]
    public void A_bounded_pool_keeps_no_more_than_its_capacity()
    {
        var pool = new BoundedPool<object>(2);

        Assert.False(pool.TryRent(out _));
        Assert.True(pool.TryReturn(new object()));
        Assert.True(pool.TryReturn(new object()));
        Assert.False(pool.TryReturn(new object()));
        Assert.True(pool.TryRent(out _));
        Assert.True(pool.TryRent(out _));
        Assert.False(pool.TryRent(out _));
    }
}
