using System.Collections.Generic;
using System.Globalization;
using System.Linq;
using ClusterSharing.Generators.Models;

namespace ClusterSharing.Generators;

/// <summary>Argument structs, their formatters, the Formatters table and the object (map) formatters.</summary>
internal static partial class Emitter
{
    private static string Count(int n) => n.ToString(CultureInfo.InvariantCulture);

    private static void EmitArguments(SourceWriter w, ContractSpec contract)
    {
        foreach (var m in contract.Members.Where(HasArguments))
        {
            var wire = m.Parameters.Where(p => !p.IsCancellationToken).ToList();
            string name = ArgsName(m);
            w.Line();
            w.Line("/// <summary>The wire arguments of " + Xml(m.DisplayName) + ": an array in declaration order.</summary>");
            w.Open("private readonly struct " + name);
            foreach (var p in wire) w.Line("public readonly " + p.FormatterType + " " + p.Name + ";");
            if (wire.Count > 0)
            {
                w.Line();
                w.Open("public " + name + "(" + string.Join(", ", wire.Select(p => p.FormatterType + " " + p.Name)) + ")");
                foreach (var p in wire) w.Line("this." + p.Name + " = " + p.Name + ";");
                w.Close();
            }
            w.Close();

            // Arguments of built-in scalar types only: written into one span and read from one span (see EmitDirect).
            var direct = wire.Select(p => contract.Formatters.First(f => f.Field == p.Formatter)).ToList();
            bool isDirect = wire.Count > 0 && direct.All(f => f.DirectLength != 0);

            w.Line();
            w.Open("private sealed class " + name + "Formatter : " + Formatter + "<" + name + ">");
            w.Line("public static readonly " + name + "Formatter Instance = new();");
            if (isDirect) EmitDirectCheck(w, direct);
            w.Line();
            w.Open("public void Serialize(ref " + Writer + " writer, " + name + " value, " + Options + " options)");
            if (isDirect) EmitDirectWrite(w, wire.Select((p, i) => (Value: "value." + p.Name, direct[i].DirectLength)).ToList());
            w.Line("writer.WriteArrayHeader(" + Count(wire.Count) + ");");
            foreach (var p in wire) w.Line("Formatters." + p.Formatter + ".Serialize(ref writer, value." + p.Name + ", options);");
            w.Close();
            w.Line();
            w.Open("public " + name + " Deserialize(ref " + Reader + " reader, " + Options + " options)");
            if (isDirect)
            {
                w.Line("if (IsDirect(options) && " + WireSpanReader + ".TryCreate(ref reader, options, out var __span) && __span.TryReadArrayHeader(" + Count(wire.Count) + ")");
                w.Open("    && " + string.Join(" && ", wire.Select((p, i) => "__span.TryRead(out " + p.FormatterType + " __direct" + Count(i) + ")")) + ")");
                w.Line("reader.ReadRaw(__span.Consumed);");
                w.Line("return new " + name + "(" + string.Join(", ", wire.Select((_, i) => "__direct" + Count(i))) + ");");
                w.Close();
            }
            w.Line("int count = reader.ReadArrayHeader();");
            w.Line("if (count != " + Count(wire.Count) + ") throw new " + SerializationException + "(\""
                + Escape(m.DisplayName) + " takes " + Count(wire.Count) + " argument(s), but the message has \" + count + \".\");");
            if (wire.Count == 0)
            {
                w.Line("return default;");
            }
            else
            {
                w.Line("options.Security.DepthStep(ref reader);");
                for (int i = 0; i < wire.Count; i++) w.Line("var __arg" + Count(i) + " = Formatters." + wire[i].Formatter + ".Deserialize(ref reader, options);");
                w.Line("reader.Depth--;");
                w.Line("return new " + name + "(" + string.Join(", ", wire.Select((_, i) => "__arg" + Count(i))) + ");");
            }
            w.Close();
            w.Close();
        }
    }

    private const string WireSpanReader = "global::ClusterSharing.Serialization.WireSpanReader";
    private const string WireSpanWriter = "global::ClusterSharing.Serialization.WireSpanWriter";

    /// <summary>
    /// The cached test that the options resolve every argument type to MessagePack-CSharp's built-in formatter, which is
    /// when the span path writes the same bytes and reads the same values as the formatters would.
    /// </summary>
    private static void EmitDirectCheck(SourceWriter w, IReadOnlyList<FormatterSpec> types)
    {
        w.Line();
        w.Line("/// <summary>The last options found to resolve every argument type to MessagePack's built-in formatter.</summary>");
        w.Line("private static " + Options + "? s_direct;");
        w.Line();
        w.Open("private static bool IsDirect(" + Options + " options)");
        w.Line("if (global::System.Object.ReferenceEquals(options, s_direct)) return true;");
        w.Line("if (" + string.Join(" || ", types.Select(f => f.RuntimeType).Distinct().Select(t => "!global::ClusterSharing.Serialization.WireDirect.IsBuiltIn<" + t + ">(options)")) + ") return false;");
        w.Line("s_direct = options;");
        w.Line("return true;");
        w.Close();
    }

    /// <summary>Writes the array into one span from the writer: one buffer request instead of one per value.</summary>
    private static void EmitDirectWrite(SourceWriter w, IReadOnlyList<(string Value, int DirectLength)> values)
    {
        int header = values.Count <= 15 ? 1 : 3;
        int fixedLength = header + values.Where(v => v.DirectLength > 0).Sum(v => v.DirectLength);
        var variable = values.Where(v => v.DirectLength < 0).ToList();
        if (variable.Count == 0)
        {
            w.Open("if (IsDirect(options))");
            w.Line("var __span = new " + WireSpanWriter + "(writer.GetSpan(" + Count(fixedLength) + "));");
        }
        else
        {
            w.Line("long __length = " + Count(fixedLength) + string.Concat(variable.Select(v => " + " + WireSpanWriter + ".MaxLength(" + v.Value + ")")) + ";");
            w.Open("if (__length <= " + WireSpanWriter + ".MaxDirectLength && IsDirect(options))");
            w.Line("var __span = new " + WireSpanWriter + "(writer.GetSpan((int)__length));");
        }
        w.Line("__span.WriteArrayHeader(" + Count(values.Count) + ");");
        foreach (var v in values) w.Line("__span.Write(" + v.Value + ");");
        w.Line("writer.Advance(__span.Written);");
        w.Line("return;");
        w.Close();
    }

    private static string Xml(string text) => text.Replace("&", "&amp;").Replace("<", "&lt;").Replace(">", "&gt;");

    private static void EmitFormatters(SourceWriter w, ContractSpec contract)
    {
        w.Line();
        w.Line("/// <summary>The formatter of each type the contract reaches, as the options' resolver chain supplies it at the time of the call.</summary>");
        w.Open("private static class Formatters");
        foreach (var f in contract.Formatters)
            w.Line("public static readonly " + Formatter + "<" + f.ValueType + "> " + f.Field + " = " + Proxies + "ResolvedFormatter<" + f.ValueType + ">.Instance;");
        w.Close();

        var own = contract.Formatters.Where(f => f.Kind != FormatterKind.BuiltIn).ToList();
        if (own.Count > 0)
        {
            w.Line();
            w.Line("/// <summary>");
            w.Line("/// The contract's own formatters, first in the resolver chain: a map formatter per record, class or struct and");
            w.Line("/// MessagePack's formatters for the enums, nullables, arrays, lists and dictionaries the contract uses. Nothing is emitted at run time.");
            w.Line("/// </summary>");
            w.Open("private sealed class GeneratedResolver : " + MessagePack + "IFormatterResolver");
            w.Line("public static readonly GeneratedResolver Instance = new();");
            w.Line();
            w.Line("public " + Formatter + "<T>? GetFormatter<T>() => Cache<T>.Formatter;");
            w.Line();
            w.Open("private static class Cache<T>");
            w.Line("public static readonly " + Formatter + "<T>? Formatter = (" + Formatter + "<T>?)Create(typeof(T));");
            w.Close();
            w.Line();
            w.Open("private static object? Create(global::System.Type type)");
            foreach (var f in own)
            {
                string expression = f.Kind == FormatterKind.Object ? "new " + f.Object!.ClassName + "()" : f.Expression!;
                w.Line("if (type == typeof(" + f.RuntimeType + ")) return " + expression + ";");
            }
            w.Line("return null;");
            w.Close();
            w.Close();
        }

        if (contract.Formatters.Any(f => f.Kind == FormatterKind.Object))
        {
            w.Line();
            w.Line("private const int MaxSerializeDepth = 256;");
            w.Line();
            w.Line("[global::System.ThreadStatic]");
            w.Line("private static int __serializeDepth;");
        }
        foreach (var f in contract.Formatters.Where(f => f.Kind == FormatterKind.Object)) EmitObjectFormatter(w, f);
    }

    private static bool IsSetLater(ObjectMemberSpec member) => member.Settable && !member.InInitializer;

    private static void EmitObjectFormatter(SourceWriter w, FormatterSpec f)
    {
        var o = f.Object!;
        w.Line();
        w.Line("/// <summary>" + Xml(o.Type.Replace("global::", string.Empty)) + " as a map keyed by property name.</summary>");
        w.Open("private sealed class " + o.ClassName + " : " + Formatter + "<" + f.ValueType + ">");
        w.Open("public void Serialize(ref " + Writer + " writer, " + f.ValueType + " value, " + Options + " options)");
        if (!o.IsValueType) w.Line("if (value is null) { writer.WriteNil(); return; }");
        // A cyclic object graph would otherwise recurse until the process dies of a stack overflow.
        w.Line("if (++__serializeDepth > MaxSerializeDepth) { __serializeDepth--; throw new " + SerializationException + "(\"" + Escape(o.Type.Replace("global::", string.Empty))
            + " is nested more than \" + MaxSerializeDepth + \" levels deep; an object graph with a cycle cannot be serialized.\"); }");
        w.Open("try");
        w.Line("writer.WriteMapHeader(" + Count(o.Members.Count) + ");");
        foreach (var member in o.Members)
        {
            w.Line("writer.WriteString(" + TypeNames.Literal(member.Name) + "u8);");
            w.Line("Formatters." + member.Formatter + ".Serialize(ref writer, value." + member.Identifier + "!, options);");
        }
        w.Close();
        w.Line("finally { __serializeDepth--; }");
        w.Close();
        w.Line();
        w.Open("public " + f.ValueType + " Deserialize(ref " + Reader + " reader, " + Options + " options)");
        if (o.IsValueType)
        {
            w.Line("if (reader.TryReadNil()) throw new " + SerializationException + "(\"Nil is not a valid "
                + Escape(o.Type.Replace("global::", string.Empty)) + " (a struct).\");");
        }
        else
        {
            w.Line("if (reader.TryReadNil()) return null;");
        }
        w.Line("int count = reader.ReadMapHeader();");
        w.Line("options.Security.DepthStep(ref reader);");
        for (int i = 0; i < o.Members.Count; i++)
        {
            w.Line(o.Members[i].FormatterType + " __" + Count(i) + " = default;");
            if (IsSetLater(o.Members[i])) w.Line("bool __has" + Count(i) + " = false;");
        }
        w.Open("for (int i = 0; i < count; i++)");
        w.Open("if (reader.NextMessagePackType != " + MessagePack + "MessagePackType.String)");
        w.Line("reader.Skip();");
        w.Line("reader.Skip();");
        w.Line("continue;");
        w.Close();
        w.Line("var keySequence = reader.ReadStringSequence().GetValueOrDefault();");
        w.Line("global::System.ReadOnlySpan<byte> key = keySequence.IsSingleSegment ? keySequence.FirstSpan : global::System.Buffers.BuffersExtensions.ToArray(keySequence);");
        for (int i = 0; i < o.Members.Count; i++)
        {
            var member = o.Members[i];
            string read = "__" + Count(i) + " = Formatters." + member.Formatter + ".Deserialize(ref reader, options);";
            if (IsSetLater(member)) read = "{ " + read + " __has" + Count(i) + " = true; }";
            w.Line((i == 0 ? "if" : "else if") + " (global::System.MemoryExtensions.SequenceEqual(key, " + TypeNames.Literal(member.Name) + "u8)) " + read);
        }
        w.Line(o.Members.Count == 0 ? "reader.Skip();" : "else reader.Skip();");
        w.Close();
        w.Line("reader.Depth--;");
        string ctorArgs = string.Join(", ", o.ConstructorArguments.Select(i => "__" + Count(i) + "!"));
        var initializers = o.Members.Select((member, i) => (member, i)).Where(x => x.member.InInitializer).Select(x => x.member.Identifier + " = __" + Count(x.i) + "!").ToList();
        w.Line("var result = new " + o.Type + "(" + ctorArgs + ")" + (initializers.Count == 0 ? string.Empty : " { " + string.Join(", ", initializers) + " }") + ";");
        // Plain setters are assigned only for keys that were present, so a property initializer survives a missing key.
        for (int i = 0; i < o.Members.Count; i++)
        {
            if (IsSetLater(o.Members[i])) w.Line("if (__has" + Count(i) + ") result." + o.Members[i].Identifier + " = __" + Count(i) + "!;");
        }
        w.Line("return result;");
        w.Close();
        w.Close();
    }
}
