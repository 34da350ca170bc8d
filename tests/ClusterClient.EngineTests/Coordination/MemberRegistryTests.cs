using System.Collections.Concurrent;
using System.Diagnostics;
using System.Text;
using ClusterSharing.Coordination;
using ClusterSharing.Coordination.Etcd;
using ClusterSharing.Coordination.Redis;
using ClusterSharing.EngineTests.Coordination.Etcd;
using ClusterSharing.EngineTests.Coordination.Redis;
using Microsoft.Extensions.Logging.Abstractions;

namespace ClusterSharing.EngineTests.Coordination;

/// <summary>The member registries of etcd and Redis against real servers: members appear, update, and go, on every member.</summary>
public sealed class MemberRegistryTests
{
    private static readonly TimeSpan Ttl = TimeSpan.FromSeconds(2);

    public static TheoryData<string> Engines => new() { "etcd", "redis" };

    /// <summary>A registry and the last set it reported.</summary>
    private sealed class Watcher(IMemberRegistry registry, string id) : IAsyncDisposable
    {
        private volatile IReadOnlyCollection<MemberRegistration> _last = [];

        public IMemberRegistry Registry { get; } = registry;

        public string Id { get; } = id;

        public int Reports;

        public IReadOnlyCollection<MemberRegistration> Last => _last;

        public void Start(string record) => Registry.Start(Id, Encoding.UTF8.GetBytes(record), live =>
        {
            _last = live;
            Interlocked.Increment(ref Reports);
        });

        public string? RecordOf(string id) => _last.FirstOrDefault(m => m.Id == id) is { Id: not null } m ? Encoding.UTF8.GetString(m.Record.Span) : null;

        public ValueTask DisposeAsync() => Registry.DisposeAsync();
    }

    private sealed class Server : IAsyncDisposable
    {
        public EtcdServer? Etcd;
        public RedisServer? Redis;

        public IMemberRegistry Registry() => Etcd is { } etcd
            ? new EtcdMemberRegistry(new EtcdElectionSettings { Endpoints = [new Uri(etcd.ClientUrl)], ClusterName = "tests", LeaseTtl = Ttl }, NullLogger.Instance)
            : new RedisMemberRegistry(new RedisElectionSettings { Endpoints = [Redis!.Endpoint], ClusterName = "tests", LeaseTtl = Ttl }, NullLogger.Instance);

        public async ValueTask DisposeAsync()
        {
            if (Etcd is not null) await Etcd.DisposeAsync();
            if (Redis is not null) await Redis.DisposeAsync();
        }
    }

    private static async Task<Server> StartAsync(string engine) =>
        engine == "etcd" ? new Server { Etcd = await EtcdServer.StartAsync() } : new Server { Redis = await RedisServer.StartAsync() };

    private static async Task WaitUntilAsync(Func<bool> condition, string what, int timeoutMs = 15_000)
    {
        var watch = Stopwatch.StartNew();
        while (!condition())
        {
            if (watch.ElapsedMilliseconds > timeoutMs) throw new Xunit.Sdk.XunitException($"Timed out after {timeoutMs} ms waiting for {what}.");
            await Task.Delay(20);
        }
    }

    [Theory]
    [MemberData(nameof(Engines))]
    public async Task Members_see_each_other_an_update_keeps_the_version_and_a_closed_member_goes_at_once(string engine)
    {
        await using var server = await StartAsync(engine);
        var members = Enumerable.Range(0, 3).Select(i => new Watcher(server.Registry(), $"m{i}")).ToArray();
        try
        {
            foreach (var m in members) m.Start($"record of {m.Id}");
            await WaitUntilAsync(() => members.All(w => w.Last.Select(r => r.Id).Order().SequenceEqual(["m0", "m1", "m2"])), "three members on every member");
            Assert.All(members, w => Assert.Equal("record of m1", w.RecordOf("m1")));
            long version = members[0].Last.Single(m => m.Id == "m1").Version;

            members[1].Registry.Update(Encoding.UTF8.GetBytes("m1 weighs more"));
            await WaitUntilAsync(() => members.All(w => w.RecordOf("m1") == "m1 weighs more"), "the update on every member");
            Assert.Equal(version, members[0].Last.Single(m => m.Id == "m1").Version);

            // A closing member removes its entry: gone well before its lease or time to live would end.
            var closed = Stopwatch.StartNew();
            await members[2].DisposeAsync();
            await WaitUntilAsync(() => members[..2].All(w => w.RecordOf("m2") is null), "the closed member gone", timeoutMs: (int)Ttl.TotalMilliseconds);
            Assert.True(closed.Elapsed < Ttl, $"took {closed.ElapsedMilliseconds} ms");
        }
        finally
        {
            foreach (var m in members) await m.DisposeAsync();
        }
    }

    [Theory]
    [MemberData(nameof(Engines))]
    public async Task A_member_that_stops_renewing_goes_within_the_ttl_and_one_that_returns_is_a_new_registration(string engine)
    {
        await using var server = await StartAsync(engine);
        await using var watcher = new Watcher(server.Registry(), "watcher");
        watcher.Start("w");
        var stopped = new Watcher(server.Registry(), "stopped");
        stopped.Start("s");
        await WaitUntilAsync(() => watcher.RecordOf("stopped") is not null, "the member registered");
        long version = watcher.Last.Single(m => m.Id == "stopped").Version;

        // Its process is gone without a word: simulated by cutting its connection (no revoke, no removal) - the server
        // stops hearing from it exactly as from a killed process.
        await StopSilentlyAsync(stopped);
        var since = Stopwatch.StartNew();
        await WaitUntilAsync(() => watcher.RecordOf("stopped") is null, "the silent member gone", timeoutMs: (int)(Ttl.TotalMilliseconds * 3 + 2000));
        // etcd expires leases on whole seconds (and checks them every 500 ms), so allow one TTL plus that.
        Assert.True(since.Elapsed < Ttl + TimeSpan.FromSeconds(1.5), $"took {since.ElapsedMilliseconds} ms (TTL {Ttl.TotalMilliseconds} ms)");

        await using var back = new Watcher(server.Registry(), "stopped");
        back.Start("s again");
        await WaitUntilAsync(() => watcher.RecordOf("stopped") == "s again", "the member back");
        Assert.NotEqual(version, watcher.Last.Single(m => m.Id == "stopped").Version);
    }

    /// <summary>Stops a registry's loops without removing its entry (what a SIGKILL does to a process).</summary>
    private static async Task StopSilentlyAsync(Watcher watcher)
    {
        var stop = watcher.Registry.GetType().GetField("_stop", System.Reflection.BindingFlags.NonPublic | System.Reflection.BindingFlags.Instance)!;
        ((CancellationTokenSource)stop.GetValue(watcher.Registry)!).Cancel();
        var registered = watcher.Registry.GetType().GetField("_registered", System.Reflection.BindingFlags.NonPublic | System.Reflection.BindingFlags.Instance);
        registered?.SetValue(watcher.Registry, false);
        var lease = watcher.Registry.GetType().GetField("_lease", System.Reflection.BindingFlags.NonPublic | System.Reflection.BindingFlags.Instance);
        lease?.SetValue(watcher.Registry, 0L);
        await watcher.DisposeAsync();
    }
}
