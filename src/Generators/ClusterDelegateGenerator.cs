using System;
using System.Text;
using ClusterSharing.Generators.Models;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.CSharp.Syntax;
using Microsoft.CodeAnalysis.Text;

namespace ClusterSharing.Generators;

/// <summary>
/// Emits, for each [ClusterDelegate] interface, a ClusterContract&lt;T&gt; with a follower proxy, leader dispatch and
/// MessagePack formatters, registered from a module initializer.
/// </summary>
[Generator(LanguageNames.CSharp)]
public sealed class ClusterDelegateGenerator : IIncrementalGenerator
{
    /// <summary>Pipeline step names, for the incremental-caching tests.</summary>
    public static class TrackingNames
    {
        /// <summary>Symbol to spec and diagnostics.</summary>
        public const string Parse = "Parse";

        /// <summary>Specs that can be emitted.</summary>
        public const string Contracts = "Contracts";

        /// <summary>Diagnostics to report.</summary>
        public const string Diagnostics = "Diagnostics";
    }

    /// <inheritdoc/>
    public void Initialize(IncrementalGeneratorInitializationContext context)
    {
        var parsed = context.SyntaxProvider.ForAttributeWithMetadataName(
                "ClusterSharing.ClusterDelegateAttribute",
                static (node, _) => node is InterfaceDeclarationSyntax,
                static (ctx, ct) => Parser.Parse(ctx, ct))
            .WithTrackingName(TrackingNames.Parse);

        var contracts = parsed
            .Select(static (result, _) => result.Contract)
            .Where(static contract => contract is not null)
            .WithTrackingName(TrackingNames.Contracts);

        var diagnostics = parsed
            .Select(static (result, _) => result.Diagnostics)
            .WithTrackingName(TrackingNames.Diagnostics);

        context.RegisterSourceOutput(contracts, static (spc, contract) => EmitContract(spc, contract!));
        context.RegisterSourceOutput(diagnostics, static (spc, list) =>
        {
            foreach (var diagnostic in list) spc.ReportDiagnostic(diagnostic.ToDiagnostic());
        });
    }

    private static void EmitContract(SourceProductionContext context, ContractSpec contract)
    {
        string source;
        try
        {
            source = Emitter.Emit(contract);
        }
        catch (Exception e) when (e is not OperationCanceledException)
        {
            context.ReportDiagnostic(Diagnostic.Create(Diagnostics.GeneratorFailed, Location.None,
                contract.InterfaceType.Replace("global::", string.Empty), e.GetType().Name + ": " + e.Message));
            return;
        }
        context.AddSource(contract.HintName, SourceText.From(source, Encoding.UTF8));
    }
}
