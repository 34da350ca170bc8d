using System.Text;

namespace ClusterSharing.Proxies;

/// <summary>
/// The stable method id: FNV-1a (32-bit) over the UTF-8 bytes of the canonical signature.
/// The generator computes the same value at compile time; both must agree byte for byte.
/// </summary>
/// <remarks>
/// Canonical signature: <c>{return} {name}({param1},{param2})</c> with <see cref="CancellationToken"/> parameters
/// left out, for example <c>System.Threading.Tasks.Task&lt;System.Int32&gt; AddAsync(System.Int32,System.Int32)</c>;
/// events are <c>event {handler type} {name}</c>. See <see cref="CanonicalTypeName"/> for type names.
/// </remarks>
public static class ClusterMethodId
{
    /// <summary>FNV-1a 32-bit of the signature's UTF-8 bytes.</summary>
    public static uint Compute(string signature)
    {
        uint hash = 2166136261;
        foreach (byte b in Encoding.UTF8.GetBytes(signature))
        {
            hash ^= b;
            hash *= 16777619;
        }
        return hash;
    }

    /// <summary>
    /// The canonical name of a type: <c>Namespace.Name</c>; nested types <c>Namespace.Outer.Inner</c>;
    /// generic types <c>Namespace.Name&lt;Arg1,Arg2&gt;</c> (no arity suffix); arrays <c>Element[]</c>
    /// (<c>[,]</c> for rank 2); <c>void</c> for <see cref="void"/>. Nullable reference annotations are ignored;
    /// nullable value types are <c>System.Nullable&lt;T&gt;</c>.
    /// </summary>
    public static string CanonicalTypeName(Type type)
    {
        if (type == typeof(void)) return "void";
        if (type.IsArray)
        {
            int rank = type.GetArrayRank();
            return CanonicalTypeName(type.GetElementType()!) + "[" + new string(',', rank - 1) + "]";
        }
        if (type.IsByRef) return CanonicalTypeName(type.GetElementType()!);
        var sb = new StringBuilder();
        AppendName(sb, type, type.IsGenericType ? type.GetGenericArguments() : Type.EmptyTypes);
        return sb.ToString();
    }

    private static void AppendName(StringBuilder sb, Type type, Type[] allArguments)
    {
        if (type.IsGenericParameter) { sb.Append(type.Name); return; }
        int ownArity = GenericArity(type.Name);
        int outerArity = allArguments.Length - ownArity;
        if (type.DeclaringType is { } outer)
        {
            AppendName(sb, outer, allArguments.Take(outerArity).ToArray());
            sb.Append('.');
        }
        else if (!string.IsNullOrEmpty(type.Namespace))
        {
            sb.Append(type.Namespace).Append('.');
        }
        string name = type.Name;
        int tick = name.IndexOf('`');
        sb.Append(tick >= 0 ? name.Substring(0, tick) : name);
        if (ownArity > 0)
        {
            sb.Append('<');
            for (int i = 0; i < ownArity; i++)
            {
                if (i > 0) sb.Append(',');
                sb.Append(CanonicalTypeName(allArguments[outerArity + i]));
            }
            sb.Append('>');
        }
    }

    private static int GenericArity(string name)
    {
        int tick = name.IndexOf('`');
        return tick < 0 ? 0 : int.Parse(name.AsSpan(tick + 1), provider: System.Globalization.CultureInfo.InvariantCulture);
    }
}
