using System.Reflection;
using Microsoft.CodeAnalysis;

namespace ClusterSharing.Generators.Tests.Generator;

/// <summary>
/// A contract, a real implementation and a scenario are compiled in memory with the generated code, loaded into a
/// collectible context and run through the byte round trip of the LoopbackInvoker.
/// </summary>
public sealed class CompileAndRunTests
{
    private static async Task RunScenarioAsync(string typeName, params string[] sources)
    {
        var run = GeneratorHarness.Run(sources);
        Assert.Empty(run.GeneratorDiagnostics);
        Assert.Empty(GeneratorHarness.WarningsAndErrors(run.Compilation));
        var (context, assembly) = GeneratorHarness.Load(run.Compilation);
        try
        {
            var scenario = assembly.GetType(typeName, throwOnError: true)!.GetMethod("RunAsync", BindingFlags.Public | BindingFlags.Static)!;
            await (Task)scenario.Invoke(null, null)!;
        }
        catch (TargetInvocationException e) when (e.InnerException is not null)
        {
            System.Runtime.ExceptionServices.ExceptionDispatchInfo.Throw(e.InnerException);
        }
        finally
        {
            context.Unload();
        }
    }

    [Fact]
    public Task Subscriptions_contract_runs_every_member_kind() => RunScenarioAsync("Snapshots.Subscriptions.Scenario", SnapshotContracts.Subscriptions, """
        using ClusterSharing.Generators.Tests.Support;
        using ClusterSharing.Proxies;
        using System.Runtime.CompilerServices;
        using Xunit;

        namespace Snapshots.Subscriptions;

        public sealed class Registry : IRegistryClient
        {
            public Action<Endpoint[]>? Listener;
            public Endpoint? Published;
            public bool Closed;
            public event EventHandler<Endpoint>? Changed;
            public void Raise(Endpoint e) => Changed?.Invoke(this, e);
            public Task<Endpoint[]> ResolveAsync(string service, CancellationToken cancellationToken = default) =>
                Task.FromResult(new[] { new Endpoint(service + ".local", 80, Health.Up), new Endpoint(service + ".backup", 81, Health.Down) });
            public void Subscribe(ServiceQuery query, Action<Endpoint[]> listener) { Listener = listener; listener([new Endpoint(query.Service, 1, Health.Unknown)]); }
            public void Unsubscribe(ServiceQuery query, Action<Endpoint[]>? listener) { if (ReferenceEquals(listener, Listener)) Listener = null; }
            public async IAsyncEnumerable<Health> WatchHealth(string service, [EnumeratorCancellation] CancellationToken cancellationToken)
            {
                yield return Health.Up;
                await Task.Yield();
                yield return Health.Down;
            }
            public void Publish(Endpoint self) => Published = self;
            public Task CloseAsync() { Closed = true; return Task.CompletedTask; }
        }

        public static class Scenario
        {
            public static async Task RunAsync()
            {
                var contract = ClusterContractRegistry.TryGetGenerated<IRegistryClient>();
                Assert.NotNull(contract);
                Assert.Equal("registry", contract.Name);
                var real = new Registry();
                var invoker = new LoopbackInvoker<IRegistryClient>(contract, real);
                IRegistryClient proxy = contract.CreateProxy(invoker);

                var endpoints = await proxy.ResolveAsync("db");
                Assert.Equal([new Endpoint("db.local", 80, Health.Up), new Endpoint("db.backup", 81, Health.Down)], endpoints);

                var seen = new List<Endpoint[]>();
                Action<Endpoint[]> listener = seen.Add;
                proxy.Subscribe(new ServiceQuery("db"), listener);
                Assert.Equal("db", Assert.Single(Assert.Single(seen)).Host);
                real.Listener!([new Endpoint("x", 2, Health.Up)]);
                Assert.Equal(2, seen.Count);
                proxy.Unsubscribe(new ServiceQuery("db"), listener);
                Assert.Null(real.Listener);

                var health = new List<Health>();
                await foreach (var h in proxy.WatchHealth("db", CancellationToken.None)) health.Add(h);
                Assert.Equal([Health.Up, Health.Down], health);

                proxy.Publish(new Endpoint("me", 9, Health.Up));
                await invoker.DrainAsync();
                Assert.Equal(new Endpoint("me", 9, Health.Up), real.Published);

                Endpoint? changed = null;
                EventHandler<Endpoint> handler = (_, e) => changed = e;
                proxy.Changed += handler;
                real.Raise(new Endpoint("c", 3, Health.Down));
                Assert.Equal(new Endpoint("c", 3, Health.Down), changed);
                proxy.Changed -= handler;

                await proxy.CloseAsync();
                Assert.True(real.Closed);
                Assert.Empty(invoker.BackgroundErrors);
            }
        }
        """);

    [Fact]
    public Task Awaitable_contract_runs_every_awaitable_form_and_last_value_publication() => RunScenarioAsync("Snapshots.Awaitable.Scenario", SnapshotContracts.Awaitable, """
        using ClusterSharing.Generators.Tests.Support;
        using ClusterSharing.Proxies;
        using System.Runtime.CompilerServices;
        using Xunit;

        namespace Snapshots.Awaitable;

        public sealed class Quotes : IQuotes
        {
            public readonly TaskCompletionSource Gate = new(TaskCreationOptions.RunContinuationsAsynchronously);
            public Action<Quote?>? Listener;
            public Action<string?>? Claimer;
            public readonly List<(string, Quote?)> Published = new();
            public string? Status;
            public async Task SubscribeQuotes(string symbol, Action<Quote?> listener, CancellationToken cancellationToken = default)
            {
                await Gate.Task;
                Listener = listener;
            }
            public void UnsubscribeQuotes(string symbol, Action<Quote?>? listener) { if (ReferenceEquals(listener, Listener)) Listener = null; }
            public ValueTask Claim(string queue, Action<string?> listener) { Claimer = listener; return default; }
            public Task<IAsyncEnumerable<Quote>> SubscribeTape(string? venue, CancellationToken cancellationToken) => Task.FromResult(Tape(venue, cancellationToken));
            private static async IAsyncEnumerable<Quote> Tape(string? venue, [EnumeratorCancellation] CancellationToken cancellationToken)
            {
                await Task.Yield();
                yield return new Quote("A", 1, venue);
                yield return new Quote("B", 2, venue);
            }
            public async ValueTask<IAsyncEnumerable<double>> Ticks(string symbol) { await Task.Yield(); return Prices(); }
            private static async IAsyncEnumerable<double> Prices() { await Task.Yield(); yield return 1.5; yield return 2.5; }
            public void PublishQuote(string symbol, Quote? quote) { lock (Published) Published.Add((symbol, quote)); }
            public void PublishStatus(string status) => Status = status;
        }

        public static class Scenario
        {
            public static async Task RunAsync()
            {
                var contract = ClusterContractRegistry.TryGetGenerated<IQuotes>();
                Assert.NotNull(contract);
                Assert.All(contract.Methods.Where(m => m.Kind == ClusterSharing.ClusterMethodKind.Subscribe), m => Assert.True(m.Awaitable));
                Assert.All(contract.Methods.Where(m => m.Kind == ClusterSharing.ClusterMethodKind.Publish), m => Assert.True(m.LastValue));
                var real = new Quotes();
                var invoker = new LoopbackInvoker<IQuotes>(contract, real);
                IQuotes proxy = contract.CreateProxy(invoker);

                var seen = new List<Quote?>();
                Action<Quote?> listener = seen.Add;
                var subscribing = proxy.SubscribeQuotes("A", listener);
                await Task.Delay(20);
                Assert.False(subscribing.IsCompleted);
                real.Gate.SetResult();
                await subscribing;
                real.Listener!(new Quote("A", 3, null));
                Assert.Equal(new Quote("A", 3, null), Assert.Single(seen));
                proxy.UnsubscribeQuotes("A", listener);
                Assert.Null(real.Listener);

                var claimed = new List<string?>();
                await proxy.Claim("jobs", claimed.Add);
                real.Claimer!("job-1");
                Assert.Equal(["job-1"], claimed);

                var tape = new List<Quote>();
                await foreach (var q in await proxy.SubscribeTape("X", CancellationToken.None)) tape.Add(q);
                Assert.Equal([new Quote("A", 1, "X"), new Quote("B", 2, "X")], tape);

                var ticks = new List<double>();
                await foreach (var t in await proxy.Ticks("A")) ticks.Add(t);
                Assert.Equal([1.5, 2.5], ticks);

                proxy.PublishQuote("A", new Quote("A", 4, "Y"));
                proxy.PublishStatus("up");
                await invoker.DrainAsync();
                Assert.Equal(("A", new Quote("A", 4, "Y")), Assert.Single(real.Published));
                Assert.Equal("up", real.Status);
                Assert.Empty(invoker.BackgroundErrors);
            }
        }
        """);

    [Fact]
    public Task Private_nested_contract_with_keyword_names_inheritance_and_sync_close_runs() => RunScenarioAsync("Snapshots.Nested.Host", SnapshotContracts.NestedPrivate, """
        using ClusterSharing.Generators.Tests.Support;
        using ClusterSharing.Proxies;
        using Xunit;

        namespace Snapshots.Nested;

        public partial class Host
        {
            private sealed class Real : IKeywords
            {
                public bool Closed;
                public ValueTask<string> NameAsync() => ValueTask.FromResult("real");
                public Task<Item?> @event(int @class, Item? @object) =>
                    Task.FromResult<Item?>(@object is null ? null : new Item(@object.Class + @class, @object.Count + 1) { Children = [@object] });
                public ValueTask<IReadOnlyDictionary<string, Item[]>> IndexAsync(IEnumerable<string> keys) =>
                    ValueTask.FromResult<IReadOnlyDictionary<string, Item[]>>(keys.ToDictionary(k => k, k => new[] { new Item(k, k.Length) }));
                public void Close() => Closed = true;
            }

            public static async Task RunAsync()
            {
                var contract = ClusterContractRegistry.TryGetGenerated<IKeywords>();
                Assert.NotNull(contract);
                Assert.Equal("Snapshots.Nested.Host.IKeywords", contract.Name);
                var real = new Real();
                var proxy = contract.CreateProxy(new LoopbackInvoker<IKeywords>(contract, real));

                Assert.Equal("real", await proxy.NameAsync());
                var item = await proxy.@event(2, new Item("a", 1));
                Assert.NotNull(item);
                Assert.Equal(("a2", 2), (item.Class, item.Count));
                Assert.Equal("a", Assert.Single(item.Children!).Class);
                Assert.Null(await proxy.@event(1, null));

                var index = await proxy.IndexAsync(["x", "yy"]);
                Assert.Equal(2, index["yy"].Single().Count);

                var indexMethod = contract.Methods.Single(m => m.Name == "IndexAsync");
                Assert.True(indexMethod.Idempotent);
                Assert.Equal(1500, indexMethod.TimeoutMilliseconds);

                proxy.Close();
                Assert.True(real.Closed);
            }
        }
        """);

    [Fact]
    public void Emitted_code_compiles_without_any_warning_under_nullable_and_the_highest_warning_level()
    {
        var run = GeneratorHarness.Run(SnapshotContracts.Minimal, SnapshotContracts.Subscriptions, SnapshotContracts.NestedPrivate, SnapshotContracts.Awaitable);
        Assert.Empty(run.GeneratorDiagnostics);
        Assert.Equal(4, run.Sources.Length);
        var strict = run.Compilation.WithOptions(run.Compilation.Options
            .WithGeneralDiagnosticOption(ReportDiagnostic.Error)
            .WithNullableContextOptions(Microsoft.CodeAnalysis.NullableContextOptions.Enable));
        var problems = strict.GetDiagnostics().Where(d => d.Severity >= DiagnosticSeverity.Warning || d.IsWarningAsError).ToList();
        Assert.True(problems.Count == 0, string.Join("\n", problems));
        foreach (var source in run.Sources)
        {
            string text = source.SourceText.ToString();
            Assert.StartsWith("// <auto-generated/>", text);
            Assert.Contains("#nullable enable", text);
        }
    }

    [Fact]
    public void Placement_rules_cover_global_namespace_nested_public_protected_and_record_hosts()
    {
        var run = GeneratorHarness.Run("""
            [ClusterDelegate]
            public interface IGlobal { Task<int> OneAsync(); }

            namespace Placement
            {
                public class PlainHost
                {
                    [ClusterDelegate]
                    public interface IPublicNested { Task<string> NameAsync(); }
                }

                internal static partial class StaticHost
                {
                    [ClusterDelegate]
                    internal interface IInternalNested { void Fire(int x); }
                }

                public partial record struct RecordHost(int X)
                {
                    [ClusterDelegate]
                    private interface IProtectedNested { ValueTask PingAsync(CancellationToken cancellationToken); }
                }

                public partial class Outer
                {
                    public partial class Inner
                    {
                        [ClusterDelegate]
                        protected interface IDeep { Task<Guid> IdAsync(); }
                    }
                }
            }
            """);
        Assert.Empty(run.GeneratorDiagnostics);
        Assert.Equal(5, run.Sources.Length);
        Assert.Empty(GeneratorHarness.WarningsAndErrors(run.Compilation));
        var names = run.Sources.Select(s => s.HintName).Order(StringComparer.Ordinal).ToList();
        Assert.Equal(
            ["IGlobal.ClusterContract.g.cs", "Placement.Outer.Inner.IDeep.ClusterContract.g.cs", "Placement.PlainHost.IPublicNested.ClusterContract.g.cs",
             "Placement.RecordHost.IProtectedNested.ClusterContract.g.cs", "Placement.StaticHost.IInternalNested.ClusterContract.g.cs"],
            names);
    }
}
