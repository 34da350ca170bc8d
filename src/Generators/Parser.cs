using System;
using System.Collections.Generic;
using System.Linq;
using System.Threading;
using ClusterSharing.Generators.Models;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.CSharp;
using Microsoft.CodeAnalysis.CSharp.Syntax;

namespace ClusterSharing.Generators;

/// <summary>
/// Turns one [ClusterDelegate] interface symbol into a <see cref="ContractSpec"/> (plain, equatable data) and the
/// diagnostics found on the way. Nothing symbolic leaves this class.
/// </summary>
internal sealed partial class Parser
{
    private readonly Compilation _compilation;
    private readonly INamedTypeSymbol _interface;
    private readonly CancellationToken _cancellationToken;
    private readonly List<DiagnosticInfo> _diagnostics = new();
    private readonly KnownTypes _known;

    /// <summary>Where the emitted code lives: the assembly (a namespace-level class) or the interface's containing type.</summary>
    private ISymbol _host;

    private Parser(Compilation compilation, INamedTypeSymbol contract, CancellationToken cancellationToken)
    {
        _compilation = compilation;
        _interface = contract;
        _cancellationToken = cancellationToken;
        _known = new KnownTypes(compilation);
        _host = compilation.Assembly;
        _types = new Dictionary<string, FormatterSpec?>(StringComparer.Ordinal);
    }

    /// <summary>Lets the tests make the parser fail on a chosen interface name, to prove failures become CC0099.</summary>
    internal static Func<string, Exception?>? FailureForTesting { get; set; }

    /// <summary>The pipeline's transform: never throws except for cancellation (failures become CC0099).</summary>
    public static ParseResult Parse(GeneratorAttributeSyntaxContext context, CancellationToken cancellationToken)
    {
        if (context.TargetSymbol is not INamedTypeSymbol { TypeKind: TypeKind.Interface } contract)
            return new ParseResult(null, EquatableArray<DiagnosticInfo>.Empty);
        try
        {
            if (FailureForTesting?.Invoke(contract.Name) is { } injected) throw injected;
            var parser = new Parser(context.SemanticModel.Compilation, contract, cancellationToken);
            var spec = parser.ParseContract(context.Attributes);
            return new ParseResult(spec, parser._diagnostics.ToEquatableArray());
        }
        catch (OperationCanceledException)
        {
            throw;
        }
        catch (Exception e)
        {
            var failure = DiagnosticInfo.Create(Diagnostics.GeneratorFailed, contract.Locations.FirstOrDefault(),
                contract.ToDisplayString(), e.GetType().Name + ": " + e.Message);
            return new ParseResult(null, new[] { failure }.ToEquatableArray());
        }
    }

    private ContractSpec? ParseContract(IReadOnlyList<AttributeData> attributes)
    {
        var location = _interface.Locations.FirstOrDefault();
        string display = _interface.ToDisplayString();

        if (_interface.IsGenericType || ContainingTypes().Any(t => t.IsGenericType))
        {
            Report(Diagnostics.GenericInterface, location, display);
            return null;
        }
        if (_interface.IsFileLocal)
        {
            Report(Diagnostics.InaccessibleInterface, location, display, "a file-local type cannot be seen from generated files");
            return null;
        }

        var containing = ResolveHost(location, display);
        if (containing is null) return null;
        _host = containing.Count > 0 ? _interface.ContainingType : _compilation.Assembly;

        var members = ParseMembers();
        if (HasErrors || members is null) return null;

        // The canonical type name (Outer.Inner for nested types), as the dynamic fallback computes it, so both agree.
        string channel = TypeNames.Canonical(_interface);
        foreach (var attribute in attributes)
        {
            foreach (var named in attribute.NamedArguments)
            {
                if (named.Key == "Name" && named.Value.Value is string { Length: > 0 } name) channel = name;
            }
        }

        string ns = _interface.ContainingNamespace is { IsGlobalNamespace: false } n ? n.ToDisplayString() : string.Empty;
        string contractName = _interface.Name + "ClusterContract";
        string hint = TypeNames.Canonical(_interface) + ".ClusterContract.g.cs";

        return new ContractSpec(
            ns,
            _interface.ToDisplayString(TypeNames.Plain),
            contractName,
            channel,
            hint,
            containing.ToEquatableArray(),
            members.ToEquatableArray(),
            OrderedFormatters().ToEquatableArray());
    }

    private IEnumerable<INamedTypeSymbol> ContainingTypes()
    {
        for (var t = _interface.ContainingType; t is not null; t = t.ContainingType) yield return t;
    }

    /// <summary>
    /// Where the contract goes. An interface reachable from its namespace (public, internal or protected internal all the
    /// way up) gets a top-level internal class: no partial needed. A private or protected interface gets its contract
    /// nested in its containing types, which must then be partial.
    /// </summary>
    private List<ContainingTypeSpec>? ResolveHost(Location? location, string display)
    {
        static bool Visible(Accessibility a) => a is Accessibility.Public or Accessibility.Internal or Accessibility.ProtectedOrInternal;

        var chain = ContainingTypes().Reverse().ToList();
        if (Visible(_interface.DeclaredAccessibility) && chain.All(t => Visible(t.DeclaredAccessibility)))
            return new List<ContainingTypeSpec>();

        var hidden = chain.FirstOrDefault(t => !Visible(t.DeclaredAccessibility));
        if (hidden is not null)
        {
            Report(Diagnostics.InaccessibleInterface, location, display,
                $"its containing type '{hidden.ToDisplayString()}' is {Describe(hidden.DeclaredAccessibility)}");
            return null;
        }

        var result = new List<ContainingTypeSpec>();
        foreach (var type in chain)
        {
            var declaration = type.DeclaringSyntaxReferences
                .Select(r => r.GetSyntax(_cancellationToken))
                .OfType<TypeDeclarationSyntax>()
                .FirstOrDefault();
            if (declaration is null || !type.DeclaringSyntaxReferences.Any(r =>
                    r.GetSyntax(_cancellationToken) is TypeDeclarationSyntax d && d.Modifiers.Any(SyntaxKind.PartialKeyword)))
            {
                Report(Diagnostics.PartialRequired, location, display, Describe(_interface.DeclaredAccessibility), type.ToDisplayString());
                return null;
            }
            string keyword = declaration is RecordDeclarationSyntax record
                ? "record" + (record.ClassOrStructKeyword.IsKind(SyntaxKind.StructKeyword) ? " struct" : string.Empty)
                : declaration.Keyword.ValueText;
            result.Add(new ContainingTypeSpec(keyword, TypeNames.Identifier(type.Name)));
        }
        return result;
    }

    private static string Describe(Accessibility accessibility) => accessibility switch
    {
        Accessibility.Private => "private",
        Accessibility.Protected => "protected",
        Accessibility.ProtectedAndInternal => "private protected",
        Accessibility.Internal => "internal",
        Accessibility.ProtectedOrInternal => "protected internal",
        _ => accessibility.ToString().ToLowerInvariant(),
    };

    private bool HasErrors => _diagnostics.Any(d => d.Descriptor.DefaultSeverity == DiagnosticSeverity.Error);

    private void Report(DiagnosticDescriptor descriptor, Location? location, params string[] arguments) =>
        _diagnostics.Add(DiagnosticInfo.Create(descriptor, location, arguments));

    /// <summary>Symbols looked up once per parse.</summary>
    private sealed class KnownTypes
    {
        public KnownTypes(Compilation c)
        {
            Task = c.GetTypeByMetadataName("System.Threading.Tasks.Task");
            TaskOfT = c.GetTypeByMetadataName("System.Threading.Tasks.Task`1");
            ValueTask = c.GetTypeByMetadataName("System.Threading.Tasks.ValueTask");
            ValueTaskOfT = c.GetTypeByMetadataName("System.Threading.Tasks.ValueTask`1");
            AsyncEnumerable = c.GetTypeByMetadataName("System.Collections.Generic.IAsyncEnumerable`1");
            CancellationToken = c.GetTypeByMetadataName("System.Threading.CancellationToken");
            Action = c.GetTypeByMetadataName("System.Action`1");
            EventHandlerOfT = c.GetTypeByMetadataName("System.EventHandler`1");
            AsyncDisposable = c.GetTypeByMetadataName("System.IAsyncDisposable");
            Disposable = c.GetTypeByMetadataName("System.IDisposable");
            DateTime = c.GetTypeByMetadataName("System.DateTime");
            DateTimeOffset = c.GetTypeByMetadataName("System.DateTimeOffset");
            TimeSpan = c.GetTypeByMetadataName("System.TimeSpan");
            Guid = c.GetTypeByMetadataName("System.Guid");
        }

        public INamedTypeSymbol? Task { get; }
        public INamedTypeSymbol? TaskOfT { get; }
        public INamedTypeSymbol? ValueTask { get; }
        public INamedTypeSymbol? ValueTaskOfT { get; }
        public INamedTypeSymbol? AsyncEnumerable { get; }
        public INamedTypeSymbol? CancellationToken { get; }
        public INamedTypeSymbol? Action { get; }
        public INamedTypeSymbol? EventHandlerOfT { get; }
        public INamedTypeSymbol? AsyncDisposable { get; }
        public INamedTypeSymbol? Disposable { get; }
        public INamedTypeSymbol? DateTime { get; }
        public INamedTypeSymbol? DateTimeOffset { get; }
        public INamedTypeSymbol? TimeSpan { get; }
        public INamedTypeSymbol? Guid { get; }
    }
}
