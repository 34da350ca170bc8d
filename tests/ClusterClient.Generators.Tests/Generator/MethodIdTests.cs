using System.Reflection;
using ClusterSharing.Generators.Tests.Generator.Contracts;
using ClusterSharing.Proxies;

namespace ClusterSharing.Generators.Tests.Generator;

/// <summary>The generator's symbol-based ids equal the runtime's reflection-based ones (ClusterMethodId.CanonicalTypeName).</summary>
public sealed class MethodIdTests
{
    /// <summary>The signature the dynamic fallback derives from reflection, per the settled algorithm.</summary>
    private static IEnumerable<string> ReflectedSignatures(Type contract)
    {
        foreach (var type in new[] { contract }.Concat(contract.GetInterfaces()))
        {
            foreach (var method in type.GetMethods().Where(m => !m.IsSpecialName && m.IsAbstract))
            {
                var parameters = method.GetParameters().Where(p => p.ParameterType != typeof(CancellationToken))
                    .Select(p => ClusterMethodId.CanonicalTypeName(p.ParameterType));
                yield return $"{ClusterMethodId.CanonicalTypeName(method.ReturnType)} {method.Name}({string.Join(",", parameters)})";
            }
            foreach (var @event in type.GetEvents())
                yield return $"event {ClusterMethodId.CanonicalTypeName(@event.EventHandlerType!)} {@event.Name}";
        }
    }

    [Fact]
    public void Generated_signatures_and_ids_match_the_reflection_algorithm()
    {
        var contract = ClusterContractRegistry.TryGetGenerated<IShopClient>()!;
        var expected = ReflectedSignatures(typeof(IShopClient)).Order(StringComparer.Ordinal).ToList();
        var actual = contract.Methods.Select(m => m.Signature).Order(StringComparer.Ordinal).ToList();
        Assert.Equal(expected, actual);
        foreach (var method in contract.Methods) Assert.Equal(ClusterMethodId.Compute(method.Signature), method.Id);
    }

    [Fact]
    public void Nested_generic_nullable_array_and_global_namespace_types_are_named_alike()
    {
        var run = GeneratorHarness.Run("""
            public sealed record GlobalThing(int A);
            namespace Ids
            {
                public sealed class Outer { public sealed record Inner(string S); public enum Mode { A, B } }
                [ClusterDelegate]
                public interface IIds
                {
                    Task<Dictionary<string, List<Outer.Inner?>>> AAsync(int?[] a, Outer.Mode? m, GlobalThing g, byte[][] jagged);
                    void Subscribe(Outer.Mode mode, Action<IReadOnlyList<Guid>> listener);
                    event EventHandler<DateTimeOffset?> Ticked;
                }
            }
            """);
        Assert.Empty(GeneratorHarness.WarningsAndErrors(run.Compilation));
        var (context, assembly) = GeneratorHarness.Load(run.Compilation);
        try
        {
            var iface = assembly.GetType("Ids.IIds", throwOnError: true)!;
            var contractType = assembly.GetType("Ids.IIdsClusterContract", throwOnError: true)!;
            var contract = Activator.CreateInstance(contractType, nonPublic: true)!;
            var methods = (IReadOnlyList<ClusterMethod>)contractType.GetProperty("Methods")!.GetValue(contract)!;
            Assert.Equal(ReflectedSignatures(iface).Order(StringComparer.Ordinal), methods.Select(m => m.Signature).Order(StringComparer.Ordinal));
            Assert.Contains("System.Threading.Tasks.Task<System.Collections.Generic.Dictionary<System.String,System.Collections.Generic.List<Ids.Outer.Inner>>> AAsync(System.Nullable<System.Int32>[],System.Nullable<Ids.Outer.Mode>,GlobalThing,System.Byte[][])",
                methods.Select(m => m.Signature));
        }
        finally
        {
            context.Unload();
        }
    }

    [Fact]
    public void Unsubscribe_pairs_with_its_namesake_else_with_the_first_declared_subscribe()
    {
        var run = GeneratorHarness.Run("""
            namespace Pairs;
            [ClusterDelegate]
            public interface IPairs
            {
                void SubscribeA(string topic, Action<int> listener);
                void SubscribeB(string topic, Action<int> listener);
                void UnsubscribeB(string topic, Action<int>? listener);
                [Unsubscribe] void Remove(string topic, Action<int>? listener);
            }
            """);
        Assert.Empty(run.GeneratorDiagnostics);
        var (context, assembly) = GeneratorHarness.Load(run.Compilation);
        try
        {
            var contractType = assembly.GetType("Pairs.IPairsClusterContract", throwOnError: true)!;
            var contract = Activator.CreateInstance(contractType, nonPublic: true)!;
            var methods = ((IReadOnlyList<ClusterMethod>)contractType.GetProperty("Methods")!.GetValue(contract)!).ToDictionary(m => m.Name);
            Assert.Equal(methods["SubscribeB"].Id, methods["UnsubscribeB"].PairedId);
            Assert.Equal(methods["SubscribeA"].Id, methods["Remove"].PairedId);
            Assert.Equal(ClusterMethodKind.Unsubscribe, methods["Remove"].Kind);
        }
        finally
        {
            context.Unload();
        }
    }
}
