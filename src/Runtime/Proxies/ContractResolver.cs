using System.Diagnostics.CodeAnalysis;
using System.Runtime.CompilerServices;
using ClusterSharing.Proxies.Dynamic;

namespace ClusterSharing.Proxies;

/// <summary>Finds the contract of an interface: the source-generated one, or one built at run time with Castle.Core.</summary>
public static class ContractResolver
{
    /// <summary>
    /// The contract of <typeparamref name="T"/> for <paramref name="mode"/>: <see cref="ProxyGenerationMode.PreferGenerated"/>
    /// uses the generated contract when one is registered and the dynamic one otherwise;
    /// <see cref="ProxyGenerationMode.AlwaysGenerated"/> requires the generated one; <see cref="ProxyGenerationMode.AlwaysDynamic"/>
    /// always builds the dynamic one. The answer is cached per interface and mode.
    /// </summary>
    /// <exception cref="ClusterClientException">
    /// No generated contract exists and the mode requires one (or the runtime cannot emit code); or the dynamic contract
    /// cannot be built because a member or type is not supported. The message says what to change.
    /// </exception>
    [UnconditionalSuppressMessage("AOT", "IL3050", Justification = "The dynamic contract is only built when RuntimeFeature.IsDynamicCodeSupported; otherwise a ClusterClientException asks for the generator.")]
    [UnconditionalSuppressMessage("Trimming", "IL2026", Justification = "Trimmed apps use AlwaysGenerated; the dynamic path is documented as not trim-safe.")]
    public static ClusterContract<T> Resolve<T>(ProxyGenerationMode mode) where T : class => mode switch
    {
        ProxyGenerationMode.PreferGenerated => Cache<T>.Preferred.Value,
        ProxyGenerationMode.AlwaysGenerated => Cache<T>.Generated.Value,
        ProxyGenerationMode.AlwaysDynamic => Cache<T>.Dynamic.Value,
        _ => throw new ArgumentOutOfRangeException(nameof(mode), mode, $"{(int)mode} is not a ProxyGenerationMode."),
    };

    private static ClusterContract<T>? FindGenerated<T>() where T : class
    {
        // Generated code registers itself from a module initializer, which the runtime runs only once code of that module
        // executes; a bare typeof(T) does not count, so run it now.
        RuntimeHelpers.RunModuleConstructor(typeof(T).Module.ModuleHandle);
        return ClusterContractRegistry.TryGetGenerated<T>();
    }

    private static ClusterContract<T> RequireGenerated<T>() where T : class =>
        FindGenerated<T>() ?? throw new ClusterClientException(NoGeneratedContract(typeof(T), "ProxyGenerationMode.AlwaysGenerated requires it"));

    [RequiresDynamicCode(DynamicClusterContract.RequiresDynamicCodeMessage)]
    [RequiresUnreferencedCode(DynamicClusterContract.RequiresUnreferencedCodeMessage)]
    private static ClusterContract<T> BuildDynamic<T>() where T : class
    {
        if (!RuntimeFeature.IsDynamicCodeSupported)
            throw new ClusterClientException(NoGeneratedContract(typeof(T), "this runtime cannot emit code (native AOT), so the Castle.Core fallback is unavailable"));
        return new DynamicClusterContract<T>();
    }

    private static string NoGeneratedContract(Type type, string why)
    {
        string name = ClusterMethodId.CanonicalTypeName(type);
        string fix = type.IsDefined(typeof(ClusterDelegateAttribute), inherit: false)
            ? $"'{name}' has [ClusterDelegate] but the ClusterClient source generator did not run for it. Reference the ClusterClient package " +
              "(it ships the generator as an analyzer; with a ProjectReference add OutputItemType=\"Analyzer\") and fix any CC diagnostics " +
              "the build reports (a private or protected nested interface needs every containing type declared 'partial')."
            : $"'{name}' is not marked [ClusterDelegate], so the ClusterClient source generator skipped it. Add [ClusterDelegate] to the " +
              "interface and reference the ClusterClient package, which ships the generator.";
        return $"No generated ClusterClient contract is registered for '{name}' and {why}. {fix} " +
               "Alternatively use ProxyGenerationMode.PreferGenerated or AlwaysDynamic to fall back to the Castle.Core proxy (not trim or AOT safe).";
    }

    private static class Cache<T> where T : class
    {
        public static readonly Lazy<ClusterContract<T>> Generated = new(RequireGenerated<T>, LazyThreadSafetyMode.PublicationOnly);

        [UnconditionalSuppressMessage("AOT", "IL3050", Justification = "Guarded by RuntimeFeature.IsDynamicCodeSupported in BuildDynamic.")]
        [UnconditionalSuppressMessage("Trimming", "IL2026", Justification = "The dynamic path is documented as not trim-safe.")]
        public static readonly Lazy<ClusterContract<T>> Dynamic = new(BuildDynamic<T>, LazyThreadSafetyMode.PublicationOnly);

        [UnconditionalSuppressMessage("AOT", "IL3050", Justification = "Guarded by RuntimeFeature.IsDynamicCodeSupported in BuildDynamic.")]
        [UnconditionalSuppressMessage("Trimming", "IL2026", Justification = "The dynamic path is documented as not trim-safe.")]
        public static readonly Lazy<ClusterContract<T>> Preferred = new(() => FindGenerated<T>() ?? Dynamic.Value, LazyThreadSafetyMode.PublicationOnly);
    }
}
