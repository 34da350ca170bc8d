using ClusterSharing.Node;
using ClusterSharing.Proxies;

namespace ClusterSharing;

/// <summary>
/// Entry point: shares one real client of a contract interface among every process that uses the same port.
/// </summary>
/// <example>
/// <code>
/// await using var registry = await ClusterClient.Create&lt;IRegistryClient&gt;(() =&gt; new RegistryClient(connStr), o =&gt; o.Port = 7777).ReadyAsync();
/// var endpoints = await registry.Client.ResolveAsync("orders");
/// </code>
/// </example>
public static partial class ClusterClient
{
    /// <summary>
    /// Joins the cluster on <see cref="ClusterClientOptions.Port"/> for the contract <typeparamref name="T"/>.
    /// Returns at once; the process competes for leadership in the background. The returned
    /// <see cref="ClusterClient{T}.Client"/> is usable immediately: calls made before the cluster is ready wait for it,
    /// bounded by their own timeout. Await <see cref="ClusterClient{T}.ReadyAsync"/> to wait explicitly.
    /// </summary>
    /// <typeparam name="T">The contract interface (marked <see cref="ClusterDelegateAttribute"/>).</typeparam>
    /// <param name="factory">Creates the real client. Called only in the process that leads (again after a failover,
    /// and again with backoff when it throws).</param>
    /// <param name="configure">Sets options; validated before anything starts.</param>
    /// <exception cref="ArgumentException">An option is invalid (the message names it).</exception>
    /// <exception cref="ClusterClientException">No proxy can be obtained for <typeparamref name="T"/>.</exception>
    public static ClusterClient<T> Create<T>(Func<T> factory, Action<ClusterClientOptions>? configure = null) where T : class
    {
        ArgumentNullException.ThrowIfNull(factory);
        var options = new ClusterClientOptions();
        configure?.Invoke(options);
        return CreateFromOptions(factory, options);
    }

    /// <summary>
    /// Like <see cref="Create{T}(Func{T}, Action{ClusterClientOptions}?)"/>, for a real client that connects
    /// asynchronously: the leader awaits <paramref name="factory"/> instead of blocking a pool thread. Retries, backoff
    /// and error propagation are the same as for the synchronous factory.
    /// </summary>
    /// <typeparam name="T">The contract interface (marked <see cref="ClusterDelegateAttribute"/>).</typeparam>
    /// <param name="factory">Creates the real client. Called only in the process that leads (again after a failover,
    /// and again with backoff when it throws or its task faults). Its token is cancelled when the channel closes on
    /// this process; a client it still returns then is disposed.</param>
    /// <param name="configure">Sets options; validated before anything starts.</param>
    /// <exception cref="ArgumentException">An option is invalid (the message names it).</exception>
    /// <exception cref="ClusterClientException">No proxy can be obtained for <typeparamref name="T"/>.</exception>
    public static ClusterClient<T> Create<T>(Func<CancellationToken, ValueTask<T>> factory, Action<ClusterClientOptions>? configure = null) where T : class
    {
        ArgumentNullException.ThrowIfNull(factory);
        var options = new ClusterClientOptions();
        configure?.Invoke(options);
        return CreateFromOptions(factory, options);
    }

    /// <summary>
    /// Like <see cref="Create{T}(Func{T}, Action{ClusterClientOptions}?)"/>, with options built elsewhere (for example bound
    /// from configuration by the hosting package). The options are validated here and must not be changed afterwards.
    /// </summary>
    /// <typeparam name="T">The contract interface (marked <see cref="ClusterDelegateAttribute"/>).</typeparam>
    /// <param name="factory">Creates the real client; called only in the process that leads.</param>
    /// <param name="options">The options of this client.</param>
    /// <exception cref="ArgumentException">An option is invalid (the message names it).</exception>
    /// <exception cref="ClusterClientException">No proxy can be obtained for <typeparamref name="T"/>.</exception>
    public static ClusterClient<T> CreateFromOptions<T>(Func<T> factory, ClusterClientOptions options) where T : class
    {
        ArgumentNullException.ThrowIfNull(factory);
        return CreateFromOptions(Synchronous(factory), options);
    }

    /// <summary>
    /// Like <see cref="Create{T}(Func{CancellationToken, ValueTask{T}}, Action{ClusterClientOptions}?)"/>, with options
    /// built elsewhere. The options are validated here and must not be changed afterwards.
    /// </summary>
    /// <typeparam name="T">The contract interface (marked <see cref="ClusterDelegateAttribute"/>).</typeparam>
    /// <param name="factory">Creates the real client asynchronously; called only in the process that leads. Its token is
    /// cancelled when the channel closes on this process.</param>
    /// <param name="options">The options of this client.</param>
    /// <exception cref="ArgumentException">An option is invalid (the message names it).</exception>
    /// <exception cref="ClusterClientException">No proxy can be obtained for <typeparamref name="T"/>.</exception>
    public static ClusterClient<T> CreateFromOptions<T>(Func<CancellationToken, ValueTask<T>> factory, ClusterClientOptions options) where T : class
    {
        ArgumentNullException.ThrowIfNull(factory);
        ArgumentNullException.ThrowIfNull(options);
        options.Validate();
        var contract = ResolveContract<T>(options);
        var node = ClusterNodeRegistry.Acquire(options);
        return ClusterClient<T>.Open(node, contract, factory, options, ownsNodeReference: true);
    }

    /// <summary>A synchronous factory in the asynchronous shape (it runs on the leader's factory loop, a pool thread).</summary>
    internal static Func<CancellationToken, ValueTask<T>> Synchronous<T>(Func<T> factory) => _ => new ValueTask<T>(factory());

    [System.Diagnostics.CodeAnalysis.UnconditionalSuppressMessage("AOT", "IL3050", Justification = "ContractResolver only builds the dynamic contract when dynamic code is supported.")]
    private static ClusterContract<T> ResolveContract<T>(ClusterClientOptions options) where T : class
    {
        if (!typeof(T).IsInterface)
            throw new ClusterClientException($"ClusterClient.Create<{typeof(T).FullName}>: the type argument must be an interface marked [ClusterDelegate], not a class or struct.");
        return ContractResolver.Resolve<T>(options.ProxyGeneration, options.Logger);
    }
}
