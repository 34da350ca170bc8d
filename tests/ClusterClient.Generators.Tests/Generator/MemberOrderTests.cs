using System.Reflection;
using ClusterSharing.Proxies;
using ClusterSharing.Proxies.Dynamic;
using Microsoft.CodeAnalysis;

namespace ClusterSharing.Generators.Tests.Generator;

/// <summary>
/// The member order both paths share when base interfaces come from a referenced assembly (Roslyn reads them from metadata,
/// reflection from the loaded assembly): own members, then the bases by canonical name, each in metadata order.
/// </summary>
public sealed class MemberOrderTests
{
    [Fact]
    public void Bases_from_a_referenced_assembly_are_ordered_alike_by_the_generator_and_the_dynamic_path()
    {
        var library = GeneratorHarness.CreateCompilation("""
            namespace Lib;
            public interface IRemoteBase
            {
                Task<int> FirstAsync();
                event EventHandler<int> Changed;
                void Fire(int value);
                event EventHandler<string> Renamed;
                Task LastAsync(string value);
            }
            public interface IAnotherBase { Task OtherAsync(); }
            public interface IGenericBase<T>
            {
                event EventHandler<T> Pushed;
                Task<T> GetAsync();
            }
            """);
        using var libraryImage = new MemoryStream();
        Assert.True(library.Emit(libraryImage).Success);
        var run = GeneratorHarness.Run(GeneratorHarness.CreateCompilation("""
            namespace App;
            [ClusterDelegate]
            public interface IApp : Lib.IRemoteBase, Lib.IGenericBase<int>, Lib.IAnotherBase { Task<int> OwnAsync(); }
            """).AddReferences(MetadataReference.CreateFromImage(libraryImage.ToArray())));
        Assert.Empty(run.GeneratorDiagnostics);

        var (context, _) = GeneratorHarness.Load(library);
        try
        {
            using var appImage = new MemoryStream();
            Assert.True(run.Compilation.Emit(appImage).Success);
            appImage.Position = 0;
            var app = context.LoadFromStream(appImage);
            var iface = app.GetType("App.IApp", throwOnError: true)!;
            var generatedType = app.GetType("App.IAppClusterContract", throwOnError: true)!;
            var generated = (IReadOnlyList<ClusterMethod>)generatedType.GetProperty("Methods")!.GetValue(Activator.CreateInstance(generatedType, nonPublic: true))!;
            var dynamicType = typeof(DynamicClusterContract<>).MakeGenericType(iface);
            object dynamicContract;
            try { dynamicContract = Activator.CreateInstance(dynamicType)!; }
            catch (TargetInvocationException ex) { throw ex.InnerException!; }
            var dynamic = (IReadOnlyList<ClusterMethod>)dynamicType.GetProperty("Methods")!.GetValue(dynamicContract)!;

            string[] expected = ["OwnAsync", "OtherAsync", "Pushed", "GetAsync", "FirstAsync", "Changed", "Fire", "Renamed", "LastAsync"];
            Assert.Equal(expected, generated.Select(m => m.Name));
            Assert.Equal(expected, dynamic.Select(m => m.Name));
            Assert.Equal(generated.Select(m => (m.Signature, m.Id, m.Kind)), dynamic.Select(m => (m.Signature, m.Id, m.Kind)));
        }
        finally
        {
            context.Unload();
        }
    }
}
