using System.Collections.Concurrent;

namespace ClusterSharing.Proxies;

/// <summary>Where generated code registers its contracts (from a module initializer), so no reflection is needed to find them.</summary>
public static class ClusterContractRegistry
{
    private static readonly ConcurrentDictionary<Type, object> Contracts = new();

    /// <summary>Registers the generated contract of <typeparamref name="T"/>. A second registration of the same interface is ignored.</summary>
    public static void Register<T>(ClusterContract<T> contract) where T : class
    {
        ArgumentNullException.ThrowIfNull(contract);
        Contracts.TryAdd(typeof(T), contract);
    }

    /// <summary>The generated contract of <typeparamref name="T"/>, or null when none was registered.</summary>
    public static ClusterContract<T>? TryGetGenerated<T>() where T : class =>
        Contracts.TryGetValue(typeof(T), out var contract) ? (ClusterContract<T>)contract : null;
}
