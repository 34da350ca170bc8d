using System;
using System.Collections.Generic;
using System.Linq;
using ClusterSharing.Generators.Models;
using Microsoft.CodeAnalysis;

namespace ClusterSharing.Generators;

internal sealed partial class Parser
{
    private const string MessagePackFormatters = "global::MessagePack.Formatters.";

    /// <summary>Formatter field by formatter type; null marks a type that failed.</summary>
    private readonly Dictionary<string, FormatterSpec?> _types;
    private readonly List<FormatterSpec> _objects = new();
    private readonly List<FormatterSpec> _composites = new();
    private readonly HashSet<string> _usedNames = new(StringComparer.Ordinal) { "Formatters", "Proxy", "StreamSubscription", "Instance", "GeneratedResolver", "Cache", "Create" };

    /// <summary>Object formatters first (they take no constructor arguments), then the rest in dependency order.</summary>
    private IEnumerable<FormatterSpec> OrderedFormatters() => _objects.Concat(_composites);

    /// <summary>
    /// The formatter field for <paramref name="type"/>, registering it (and everything it reaches) on first use.
    /// Null when the type cannot be serialized; CC0005 is then reported once, naming the path from the member.
    /// </summary>
    private string? Resolve(ITypeSymbol type, string path, string member, Location? location)
    {
        _cancellationToken.ThrowIfCancellationRequested();
        if (type.TypeKind == TypeKind.Error) { _sawErrorType = true; return null; }
        string key = TypeNames.FormatterType(type);
        if (_types.TryGetValue(key, out var known)) return known?.Field;

        string? Fail(string reason)
        {
            Report(Diagnostics.UnserializableType, location, member, type.ToDisplayString(), path, reason);
            _types[key] = null;
            return null;
        }

        FormatterSpec? Composite(FormatterKind kind, string formatterClass, ITypeSymbol element, string elementPath, ITypeSymbol? second = null, string? secondPath = null)
        {
            string? elementField = Resolve(element, elementPath, member, location);
            string? secondField = second is null ? null : Resolve(second, secondPath!, member, location);
            if (elementField is null || (second is not null && secondField is null)) { _types[key] = null; return null; }
            string elementType = TypeNames.FormatterType(element, nullableTop: kind != FormatterKind.Dictionary);
            string? secondType = second is null ? null : TypeNames.FormatterType(second);
            string expression = "new " + MessagePackFormatters + formatterClass + "<" + elementType + (secondType is null ? "" : ", " + secondType) + ">()";
            var spec = new FormatterSpec(FieldName(type), key, RuntimeTypeOf(type), kind, expression, elementType, elementField, secondType, secondField, null);
            _types[key] = spec;
            _composites.Add(spec);
            return spec;
        }

        FormatterSpec Add(FormatterKind kind, string? expression, int directLength = 0)
        {
            var spec = new FormatterSpec(FieldName(type), key, RuntimeTypeOf(type), kind, expression, null, null, null, null, null, directLength);
            _types[key] = spec;
            _composites.Add(spec);
            return spec;
        }

        if (type is INamedTypeSymbol { OriginalDefinition.SpecialType: SpecialType.System_Nullable_T } nullable)
            return Composite(FormatterKind.Nullable, "NullableFormatter", nullable.TypeArguments[0], path)?.Field;

        string? builtIn = type.SpecialType switch
        {
            SpecialType.System_Boolean => "BooleanFormatter",
            SpecialType.System_Byte => "ByteFormatter",
            SpecialType.System_SByte => "SByteFormatter",
            SpecialType.System_Int16 => "Int16Formatter",
            SpecialType.System_UInt16 => "UInt16Formatter",
            SpecialType.System_Int32 => "Int32Formatter",
            SpecialType.System_UInt32 => "UInt32Formatter",
            SpecialType.System_Int64 => "Int64Formatter",
            SpecialType.System_UInt64 => "UInt64Formatter",
            SpecialType.System_Single => "SingleFormatter",
            SpecialType.System_Double => "DoubleFormatter",
            SpecialType.System_Char => "CharFormatter",
            SpecialType.System_String => "StringFormatter",
            SpecialType.System_DateTime => "DateTimeFormatter",
            _ => null,
        };
        if (builtIn is null && Same(type, _known.DateTimeOffset)) builtIn = "DateTimeOffsetFormatter";
        if (builtIn is null && Same(type, _known.TimeSpan)) builtIn = "TimeSpanFormatter";
        if (builtIn is null && Same(type, _known.Guid)) builtIn = "GuidFormatter";
        if (type is IArrayTypeSymbol { Rank: 1, ElementType.SpecialType: SpecialType.System_Byte }) builtIn = "ByteArrayFormatter";
        if (builtIn is not null) return Add(FormatterKind.BuiltIn, null, DirectLength(builtIn)).Field;

        switch (type.SpecialType)
        {
            case SpecialType.System_Object:
                return Fail("object carries no type information on the wire; use a concrete type");
            case SpecialType.System_Decimal:
                return Fail("decimal has no MessagePack representation; use double, long (scaled) or string");
            case SpecialType.System_IntPtr or SpecialType.System_UIntPtr:
                return Fail("native-sized integers differ between processes; use long or int");
        }

        if (type.TypeKind == TypeKind.Enum)
            return Add(FormatterKind.Enum, "new " + MessagePackFormatters + "GenericEnumFormatter<" + key + ">()").Field;

        if (type is IArrayTypeSymbol array)
        {
            if (array.Rank != 1) return Fail("multi-dimensional arrays are not supported; use a jagged array (T[][]) or a List<T>");
            return Composite(FormatterKind.Array, "ArrayFormatter", array.ElementType, path + "[]")?.Field;
        }

        if (type is INamedTypeSymbol { IsGenericType: true } generic && generic.ContainingNamespace.ToDisplayString() == "System.Collections.Generic"
            && generic.ContainingType is null)
        {
            switch (generic.Name)
            {
                case "List" or "IReadOnlyList" or "IList" or "IReadOnlyCollection" or "ICollection" or "IEnumerable" when generic.TypeArguments.Length == 1:
                    return Composite(FormatterKind.List, CollectionFormatter(generic.Name), generic.TypeArguments[0], path + "[]")?.Field;
                case "Dictionary" or "IReadOnlyDictionary" or "IDictionary" when generic.TypeArguments.Length == 2:
                    if (generic.TypeArguments[0] is INamedTypeSymbol { OriginalDefinition.SpecialType: SpecialType.System_Nullable_T })
                        return Fail("a dictionary key cannot be a nullable value type; use the non-nullable type");
                    return Composite(FormatterKind.Dictionary, CollectionFormatter(generic.Name), generic.TypeArguments[0], path + ".Key", generic.TypeArguments[1], path + ".Value")?.Field;
            }
        }

        if (HasMessagePackShape(type)) return Add(FormatterKind.BuiltIn, null).Field;
        if (type.IsTupleType) return Fail("tuple element names are not kept on the wire; use a record");
        switch (type.TypeKind)
        {
            case TypeKind.Pointer or TypeKind.FunctionPointer:
                return Fail("pointers cannot cross processes");
            case TypeKind.Dynamic:
                return Fail("dynamic carries no type information on the wire; use a concrete type");
            case TypeKind.TypeParameter:
                return Fail("type parameters are not supported; use a concrete type");
            case TypeKind.Delegate:
                return Fail("delegates cannot cross processes; use a subscription or an event");
            case TypeKind.Interface:
                return Fail("an interface cannot be constructed on the receiving side; use a concrete class, record or struct (or List<T>/Dictionary<K,V>)");
        }
        if (type.IsRefLikeType) return Fail("ref structs cannot be stored; use an array or a class");
        if (type is not INamedTypeSymbol named || named.TypeKind is not (TypeKind.Class or TypeKind.Struct))
            return Fail("only classes, records, structs, enums and the built-in types can be serialized");
        var ns = named.ContainingNamespace?.ToDisplayString() ?? string.Empty;
        if (ns == "System" || ns.StartsWith("System.", StringComparison.Ordinal))
            return Fail("only the built-in System types (primitives, string, DateTime, DateTimeOffset, TimeSpan, Guid, byte[], arrays, lists and dictionaries) are supported; wrap the value in your own record");
        if (named.IsAbstract || named.IsStatic) return Fail("an abstract or static class cannot be constructed on the receiving side; use a concrete type");
        if (!_compilation.IsSymbolAccessibleWithin(named, _host))
            return Fail("the type is not accessible to the generated code; make it internal or public");

        return ResolveObject(named, key, path, member, location, Fail);
    }

    private string? ResolveObject(INamedTypeSymbol type, string key, string path, string member, Location? location, Func<string, string?> fail)
    {
        var properties = new List<IPropertySymbol>();
        var chain = new List<INamedTypeSymbol>();
        for (var t = type; t is not null && t.SpecialType is not (SpecialType.System_Object or SpecialType.System_ValueType); t = t.BaseType)
            chain.Insert(0, t);
        foreach (var t in chain)
        {
            foreach (var property in t.GetMembers().OfType<IPropertySymbol>())
            {
                if (property.IsStatic || property.IsIndexer || property.DeclaredAccessibility != Accessibility.Public) continue;
                if (property.GetMethod is not { DeclaredAccessibility: Accessibility.Public }) continue;
                // An override or 'new' property keeps the base's position but uses the most derived declaration.
                int existing = properties.FindIndex(p => p.Name == property.Name);
                if (existing >= 0) properties[existing] = property;
                else properties.Add(property);
            }
        }

        IMethodSymbol? constructor = null;
        int[]? arguments = null;
        foreach (var candidate in type.InstanceConstructors)
        {
            if (candidate.DeclaredAccessibility != Accessibility.Public) continue;
            var map = new int[candidate.Parameters.Length];
            bool matches = true;
            for (int i = 0; i < map.Length && matches; i++)
            {
                var parameter = candidate.Parameters[i];
                map[i] = properties.FindIndex(p => string.Equals(p.Name, parameter.Name, StringComparison.OrdinalIgnoreCase)
                    && SymbolEqualityComparer.Default.Equals(p.Type, parameter.Type));
                matches = parameter.RefKind == RefKind.None && map[i] >= 0 && Array.IndexOf(map, map[i]) == i;
            }
            if (matches && (constructor is null || candidate.Parameters.Length > constructor.Parameters.Length))
            {
                constructor = candidate;
                arguments = map;
            }
        }
        // Not buildable from its properties: the type needs its own formatter, which the user's resolver supplies at run time.
        if (constructor is null || arguments is null)
        {
            var resolved = new FormatterSpec(FieldName(type), key, RuntimeTypeOf(type), FormatterKind.BuiltIn, null, null, null, null, null, null);
            _types[key] = resolved;
            _composites.Add(resolved);
            return resolved.Field;
        }

        // Registered before its members are resolved, so a recursive reference finds the field instead of looping.
        string field = FieldName(type);
        string className = UniqueName(TypeNames.Identifier(type.Name) + "Formatter");
        var placeholder = new FormatterSpec(field, key, RuntimeTypeOf(type), FormatterKind.Object, null, null, null, null, null, null);
        _types[key] = placeholder;

        var members = new List<ObjectMemberSpec>();
        bool ok = true;
        for (int i = 0; i < properties.Count; i++)
        {
            var property = properties[i];
            string? formatter = Resolve(property.Type, path + "." + property.Name, member, location);
            if (formatter is null) { ok = false; continue; }
            bool settable = Array.IndexOf(arguments, i) < 0 && property.SetMethod is { DeclaredAccessibility: Accessibility.Public };
            bool inInitializer = settable && (property.IsRequired || property.SetMethod!.IsInitOnly);
            members.Add(new ObjectMemberSpec(property.Name, TypeNames.Identifier(property.Name), formatter, TypeNames.FormatterType(property.Type), settable, inInitializer));
        }
        if (!ok)
        {
            _types[key] = null;
            return null;
        }

        var spec = placeholder with
        {
            Object = new ObjectSpec(className, type.ToDisplayString(TypeNames.Plain), type.IsValueType, members.ToEquatableArray(), arguments.ToEquatableArray()),
        };
        _types[key] = spec;
        _objects.Add(spec);
        return field;
    }

    /// <summary>The most bytes a value of a built-in type takes in MessagePack (-1: depends on the value); 0 when generated code reads and writes it through MessagePack-CSharp only.</summary>
    private static int DirectLength(string builtInFormatter) => builtInFormatter switch
    {
        "BooleanFormatter" => 1,
        "ByteFormatter" or "SByteFormatter" => 2,
        "Int16Formatter" or "UInt16Formatter" or "CharFormatter" => 3,
        "Int32Formatter" or "UInt32Formatter" or "SingleFormatter" => 5,
        "Int64Formatter" or "UInt64Formatter" or "DoubleFormatter" => 9,
        "DateTimeFormatter" => 15,
        "StringFormatter" or "ByteArrayFormatter" => -1,
        _ => 0,
    };

    private string FieldName(ITypeSymbol type) => UniqueName(Describe(type));

    /// <summary>The type as <c>typeof</c> takes it: fully qualified, no nullable reference annotations at any level.</summary>
    private static string RuntimeTypeOf(ITypeSymbol type) => type.WithNullableAnnotation(NullableAnnotation.NotAnnotated).ToDisplayString(TypeNames.Plain);

    /// <summary>MessagePack-CSharp's formatter for a System.Collections.Generic collection, as its standard resolver picks it.</summary>
    private static string CollectionFormatter(string name) => name switch
    {
        "List" => "ListFormatter",
        "IReadOnlyList" => "InterfaceReadOnlyListFormatter",
        "IList" => "InterfaceListFormatter2",
        "IReadOnlyCollection" => "InterfaceReadOnlyCollectionFormatter",
        "ICollection" => "InterfaceCollectionFormatter2",
        "IEnumerable" => "InterfaceEnumerableFormatter",
        "Dictionary" => "DictionaryFormatter",
        "IReadOnlyDictionary" => "InterfaceReadOnlyDictionaryFormatter",
        _ => "InterfaceDictionaryFormatter",
    };

    /// <summary>Types that bring their own MessagePack shape ([MessagePackObject], [MessagePackFormatter], [Union]): not generated.</summary>
    private static bool HasMessagePackShape(ITypeSymbol type)
    {
        foreach (var attribute in type.GetAttributes())
        {
            if (attribute.AttributeClass is { ContainingNamespace: { Name: "MessagePack", ContainingNamespace.IsGlobalNamespace: true } } attributeClass
                && attributeClass.Name is "MessagePackObjectAttribute" or "MessagePackFormatterAttribute" or "UnionAttribute")
                return true;
        }
        return false;
    }

    private static string Describe(ITypeSymbol type) => type switch
    {
        INamedTypeSymbol { OriginalDefinition.SpecialType: SpecialType.System_Nullable_T } n => "Nullable" + Describe(n.TypeArguments[0]),
        IArrayTypeSymbol a => Describe(a.ElementType) + "Array",
        INamedTypeSymbol { IsGenericType: true } g => g.Name + "Of" + string.Join("And", g.TypeArguments.Select(Describe)),
        _ => type.Name,
    };

    private string UniqueName(string name)
    {
        string candidate = name;
        for (int i = 2; !_usedNames.Add(candidate); i++) candidate = name + i.ToString(System.Globalization.CultureInfo.InvariantCulture);
        return candidate;
    }
}
