using System.Diagnostics.CodeAnalysis;
using System.Runtime.CompilerServices;
using ClusterSharing.Proxies.Dynamic;
using Microsoft.Extensions.Logging;

namespace ClusterSharing.Proxies;

/// <summary>Finds the contract of an interface: the source-generated one, or one built at run time with Castle.Core.</summary>
public static partial class ContractResolver
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
    public static ClusterContract<T> Resolve<T>(ProxyGenerationMode mode) where T : class => Resolve<T>(mode, logger: null);

    /// <summary>
    /// As <see cref="Resolve{T}(ProxyGenerationMode)"/>, and when <see cref="ProxyGenerationMode.PreferGenerated"/> falls back to
    /// the Castle.Core proxy, tells <paramref name="logger"/> so once per interface (event 5000, a warning naming the reason).
    /// </summary>
    /// <param name="mode">How the proxy is obtained.</param>
    /// <param name="logger">Where the fallback is reported; <see langword="null"/> reports nothing.</param>
    /// <exception cref="ClusterClientException">As for <see cref="Resolve{T}(ProxyGenerationMode)"/>.</exception>
    [UnconditionalSuppressMessage("AOT", "IL3050", Justification = "The dynamic contract is only built when RuntimeFeature.IsDynamicCodeSupported; otherwise a ClusterClientException asks for the generator.")]
    [UnconditionalSuppressMessage("Trimming", "IL2026", Justification = "Trimmed apps use AlwaysGenerated; the dynamic path is documented as not trim-safe.")]
    public static ClusterContract<T> Resolve<T>(ProxyGenerationMode mode, ILogger? logger) where T : class
    {
        switch (mode)
        {
            case ProxyGenerationMode.PreferGenerated:
                var preferred = Cache<T>.Preferred.Value;
                if (logger is not null && preferred is DynamicClusterContract<T> && Interlocked.Exchange(ref Cache<T>.FallbackLogged, 1) == 0)
                {
                    string name = ClusterMethodId.CanonicalTypeName(typeof(T));
                    FellBackToDynamic(logger, name, WhyNotGenerated(typeof(T), name));
                }
                return preferred;
            case ProxyGenerationMode.AlwaysGenerated:
                return Cache<T>.Generated.Value;
            case ProxyGenerationMode.AlwaysDynamic:
                return Cache<T>.Dynamic.Value;
            default:
                throw new ArgumentOutOfRangeException(nameof(mode), mode, $"{(int)mode} is not a ProxyGenerationMode.");
        }
    }

    [LoggerMessage(5000, LogLevel.Warning, "'{Contract}' uses the Castle.Core dynamic proxy because no generated contract is registered for it: {Reason} " +
        "The dynamic proxy works but costs more (reflection at first use, more allocations per call) and is not trim or AOT safe; " +
        "ProxyGeneration = AlwaysGenerated turns this into an error")]
    private static partial void FellBackToDynamic(ILogger logger, string contract, string reason);

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
        return $"No generated ClusterClient contract is registered for '{name}' and {why}. {WhyNotGenerated(type, name)} " +
               "Alternatively use ProxyGenerationMode.PreferGenerated or AlwaysDynamic to fall back to the Castle.Core proxy (not trim or AOT safe).";
    }

    /// <summary>Why the generator produced nothing for <paramref name="type"/>, and what to do about it.</summary>
    private static string WhyNotGenerated(Type type, string name) =>
        type.IsDefined(typeof(ClusterDelegateAttribute), inherit: false)
            ? $"'{name}' has [ClusterDelegate] but the ClusterClient source generator did not run for it. Reference the NuGet package " +
              "'ClusterClient' (dotnet add package ClusterClient; it ships the generator as an analyzer; a ProjectReference to the " +
              "generator project needs OutputItemType=\"Analyzer\") and fix any CC diagnostics the build reports (a private or " +
              "protected nested interface needs every containing type declared 'partial')."
            : $"'{name}' is not marked [ClusterDelegate], so the ClusterClient source generator skipped it. Add [ClusterDelegate] to the " +
              "interface and reference the NuGet package 'ClusterClient', which ships the generator.";

    private static class Cache<T> where T : class
    {
        /// <summary>1 once the PreferGenerated fallback of <typeparamref name="T"/> was logged.</summary>
        public static int FallbackLogged;

        public static readonly Lazy<ClusterContract<T>> Generated = new(RequireGenerated<T>, LazyThreadSafetyMode.PublicationOnly);

        [UnconditionalSuppressMessage("AOT", "IL3050", Justification = "Guarded by RuntimeFeature.IsDynamicCodeSupported in BuildDynamic.")]
        [UnconditionalSuppressMessage("Trimming", "IL2026", Justification = "The dynamic path is documented as not trim-safe.")]
        public static readonly Lazy<ClusterContract<T>> Dynamic = new(BuildDynamic<T>, LazyThreadSafetyMode.PublicationOnly);

        [UnconditionalSuppressMessage("AOT", "IL3050", Justification = "Guarded by RuntimeFeature.IsDynamicCodeSupported in BuildDynamic.")]
        [UnconditionalSuppressMessage("Trimming", "IL2026", Justification = "The dynamic path is documented as not trim-safe.")]
        public static readonly Lazy<ClusterContract<T>> Preferred = new(() => FindGenerated<T>() ?? Dynamic.Value, LazyThreadSafetyMode.PublicationOnly);
    }
}
