using System.Globalization;
using System.Text;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.CSharp;

namespace ClusterSharing.Generators;

/// <summary>Type names as the emitted code and the method ids need them.</summary>
internal static class TypeNames
{
    /// <summary>Fully qualified with <c>global::</c>, keywords for special types, nullable reference annotations kept.</summary>
    public static readonly SymbolDisplayFormat Declared = SymbolDisplayFormat.FullyQualifiedFormat
        .AddMiscellaneousOptions(SymbolDisplayMiscellaneousOptions.IncludeNullableReferenceTypeModifier);

    /// <summary>Fully qualified with <c>global::</c>, no nullable reference annotations.</summary>
    public static readonly SymbolDisplayFormat Plain = SymbolDisplayFormat.FullyQualifiedFormat;

    /// <summary>
    /// The type a formatter handles: every reference type at every level marked nullable (the built-in formatters
    /// are declared that way), so one formatter serves every annotation of the same type. Dictionary keys stay
    /// non-nullable because of the formatter's <c>notnull</c> constraint.
    /// </summary>
    public static string FormatterType(ITypeSymbol type, bool nullableTop = true)
    {
        string name;
        switch (type)
        {
            case INamedTypeSymbol { OriginalDefinition.SpecialType: SpecialType.System_Nullable_T } nullable:
                return FormatterType(nullable.TypeArguments[0]) + "?";
            case IArrayTypeSymbol array:
                name = FormatterType(array.ElementType) + "[" + new string(',', array.Rank - 1) + "]";
                break;
            case INamedTypeSymbol { IsGenericType: true } generic:
                var sb = new StringBuilder();
                sb.Append(generic.ContainingType is { } outer ? FormatterType(outer, nullableTop: false) + "." : NamespacePrefix(generic));
                sb.Append(generic.Name).Append('<');
                bool isDictionary = generic.Name is "Dictionary" or "IDictionary" or "IReadOnlyDictionary"
                    && generic.ContainingNamespace.ToDisplayString() == "System.Collections.Generic";
                for (int i = 0; i < generic.TypeArguments.Length; i++)
                {
                    if (i > 0) sb.Append(", ");
                    sb.Append(FormatterType(generic.TypeArguments[i], nullableTop: !(isDictionary && i == 0)));
                }
                name = sb.Append('>').ToString();
                break;
            default:
                name = type.WithNullableAnnotation(NullableAnnotation.NotAnnotated).ToDisplayString(Plain);
                break;
        }
        return nullableTop && type.IsReferenceType ? name + "?" : name;
    }

    private static string NamespacePrefix(ITypeSymbol type) =>
        type.ContainingNamespace is { IsGlobalNamespace: false } ns ? "global::" + ns.ToDisplayString() + "." : "global::";

    /// <summary>
    /// The canonical name used in method signatures; the same algorithm as ClusterMethodId.CanonicalTypeName over
    /// System.Type: <c>Namespace.Outer.Name&lt;Arg,Arg&gt;</c>, arrays <c>Element[]</c>, <c>void</c>, annotations ignored.
    /// </summary>
    public static string Canonical(ITypeSymbol type)
    {
        switch (type)
        {
            case { SpecialType: SpecialType.System_Void }:
                return "void";
            case IArrayTypeSymbol array:
                return Canonical(array.ElementType) + "[" + new string(',', array.Rank - 1) + "]";
            case ITypeParameterSymbol parameter:
                return parameter.Name;
            case IDynamicTypeSymbol:
                return "System.Object";
            case IPointerTypeSymbol pointer:
                return Canonical(pointer.PointedAtType) + "*";
            case INamedTypeSymbol named:
                var sb = new StringBuilder();
                if (named.ContainingType is { } outer) sb.Append(Canonical(outer)).Append('.');
                else if (named.ContainingNamespace is { IsGlobalNamespace: false } ns) sb.Append(ns.ToDisplayString()).Append('.');
                sb.Append(named.Name);
                if (named.TypeArguments.Length > 0)
                {
                    sb.Append('<');
                    for (int i = 0; i < named.TypeArguments.Length; i++)
                    {
                        if (i > 0) sb.Append(',');
                        sb.Append(Canonical(named.TypeArguments[i]));
                    }
                    sb.Append('>');
                }
                return sb.ToString();
            default:
                return type.ToDisplayString();
        }
    }

    /// <summary>FNV-1a 32-bit over the UTF-8 bytes, as ClusterMethodId.Compute.</summary>
    public static uint Fnv1a(string signature)
    {
        uint hash = 2166136261;
        foreach (byte b in Encoding.UTF8.GetBytes(signature))
        {
            hash ^= b;
            hash *= 16777619;
        }
        return hash;
    }

    /// <summary>The name as an identifier, with <c>@</c> when it is a keyword.</summary>
    public static string Identifier(string name) =>
        SyntaxFacts.GetKeywordKind(name) != SyntaxKind.None || SyntaxFacts.GetContextualKeywordKind(name) is SyntaxKind.AwaitKeyword
            ? "@" + name : name;

    /// <summary>A C# string literal.</summary>
    public static string Literal(string value) => SymbolDisplay.FormatLiteral(value, quote: true);

    /// <summary>A uint literal in hex.</summary>
    public static string Hex(uint value) => "0x" + value.ToString("X8", CultureInfo.InvariantCulture) + "u";
}
