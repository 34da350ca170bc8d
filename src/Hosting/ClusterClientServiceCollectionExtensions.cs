using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace ClusterSharing.Hosting;

/// <summary>Registers shared clients with a service collection (Generic Host, ASP.NET Core, worker services).</summary>
public static class ClusterClientServiceCollectionExtensions
{
    /// <summary>The category of the logger given to the runtime when <see cref="ClusterClientOptions.Logger"/> is not set.</summary>
    public const string LoggerCategory = "ClusterSharing.ClusterClient";

    /// <summary>
    /// The name of the <see cref="ClusterClientOptions"/> and <see cref="ClusterClientHostOptions"/> of the registration
    /// of <typeparamref name="T"/> (the contract's full name), for <c>services.Configure&lt;ClusterClientOptions&gt;(name, ...)</c>.
    /// </summary>
    /// <typeparam name="T">The contract interface.</typeparam>
    public static string OptionsName<T>() where T : class => typeof(T).FullName ?? typeof(T).Name;

    /// <summary>
    /// Registers <see cref="ClusterClient{T}"/> and its proxy <typeparamref name="T"/> as singletons, named options
    /// validated when the host starts, and a hosted service that joins the election at start-up and disposes the
    /// client at shutdown. The runtime logs through DI's <see cref="ILoggerFactory"/> (category <see cref="LoggerCategory"/>)
    /// unless <see cref="ClusterClientOptions.Logger"/> is set.
    /// </summary>
    /// <typeparam name="T">The contract interface (marked <see cref="ClusterDelegateAttribute"/>).</typeparam>
    /// <param name="services">The service collection.</param>
    /// <param name="factory">Creates the real client from the service provider; called only in the process that leads
    /// (again after a failover, and again with backoff when it throws).</param>
    /// <param name="configure">Sets options in code; applied after anything registered before this call.</param>
    /// <returns>A builder to bind configuration and choose the start-up behaviour.</returns>
    public static ClusterClientBuilder<T> AddClusterClient<T>(this IServiceCollection services, Func<IServiceProvider, T> factory,
        Action<ClusterClientOptions>? configure = null) where T : class =>
        AddCore(services, Synchronous(factory), configurationSection: null, configure);

    /// <summary>
    /// Like <see cref="AddClusterClient{T}(IServiceCollection, Func{IServiceProvider, T}, Action{ClusterClientOptions}?)"/>,
    /// with the options first bound from the configuration section <paramref name="configurationSection"/> (for example
    /// <c>"ClusterClient"</c>: keys <c>ClusterClient:Port</c>, <c>ClusterClient:MaxWaitTime</c>, ...), then
    /// <paramref name="configure"/>. Invalid values fail host start-up with a message naming the key.
    /// </summary>
    /// <typeparam name="T">The contract interface (marked <see cref="ClusterDelegateAttribute"/>).</typeparam>
    /// <param name="services">The service collection.</param>
    /// <param name="factory">Creates the real client from the service provider; called only in the process that leads.</param>
    /// <param name="configurationSection">The configuration section path holding <see cref="ClusterClientOptions"/> properties.</param>
    /// <param name="configure">Sets options in code, after binding.</param>
    /// <returns>A builder to choose the start-up behaviour.</returns>
    public static ClusterClientBuilder<T> AddClusterClient<T>(this IServiceCollection services, Func<IServiceProvider, T> factory,
        string configurationSection, Action<ClusterClientOptions>? configure = null) where T : class
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(configurationSection);
        return AddCore(services, Synchronous(factory), configurationSection, configure);
    }

    /// <summary>
    /// Like <see cref="AddClusterClient{T}(IServiceCollection, Func{IServiceProvider, T}, Action{ClusterClientOptions}?)"/>,
    /// for a real client that connects asynchronously (see
    /// <see cref="ClusterClient.CreateFromOptions{T}(Func{CancellationToken, ValueTask{T}}, ClusterClientOptions)"/>).
    /// </summary>
    /// <typeparam name="T">The contract interface (marked <see cref="ClusterDelegateAttribute"/>).</typeparam>
    /// <param name="services">The service collection.</param>
    /// <param name="factory">Creates the real client from the service provider; awaited only in the process that leads
    /// (again after a failover, and again with backoff when it fails). The token is cancelled when the client closes.</param>
    /// <param name="configure">Sets options in code; applied after anything registered before this call.</param>
    /// <returns>A builder to bind configuration and choose the start-up behaviour.</returns>
    public static ClusterClientBuilder<T> AddClusterClient<T>(this IServiceCollection services, Func<IServiceProvider, CancellationToken, ValueTask<T>> factory,
        Action<ClusterClientOptions>? configure = null) where T : class
    {
        ArgumentNullException.ThrowIfNull(factory);
        return AddCore<T>(services, provider => ct => factory(provider, ct), configurationSection: null, configure);
    }

    /// <summary>
    /// Like <see cref="AddClusterClient{T}(IServiceCollection, Func{IServiceProvider, T}, string, Action{ClusterClientOptions}?)"/>,
    /// for a real client that connects asynchronously.
    /// </summary>
    /// <typeparam name="T">The contract interface (marked <see cref="ClusterDelegateAttribute"/>).</typeparam>
    /// <param name="services">The service collection.</param>
    /// <param name="factory">Creates the real client from the service provider; awaited only in the process that leads.</param>
    /// <param name="configurationSection">The configuration section path holding <see cref="ClusterClientOptions"/> properties.</param>
    /// <param name="configure">Sets options in code, after binding.</param>
    /// <returns>A builder to choose the start-up behaviour.</returns>
    public static ClusterClientBuilder<T> AddClusterClient<T>(this IServiceCollection services, Func<IServiceProvider, CancellationToken, ValueTask<T>> factory,
        string configurationSection, Action<ClusterClientOptions>? configure = null) where T : class
    {
        ArgumentNullException.ThrowIfNull(factory);
        ArgumentException.ThrowIfNullOrWhiteSpace(configurationSection);
        return AddCore<T>(services, provider => ct => factory(provider, ct), configurationSection, configure);
    }

    /// <summary>A synchronous factory in the asynchronous shape (it runs on the leader's factory loop, a pool thread).</summary>
    private static Func<IServiceProvider, Func<CancellationToken, ValueTask<T>>> Synchronous<T>(Func<IServiceProvider, T> factory)
    {
        ArgumentNullException.ThrowIfNull(factory);
        return provider => _ => new ValueTask<T>(factory(provider));
    }

    private static ClusterClientBuilder<T> AddCore<T>(IServiceCollection services, Func<IServiceProvider, Func<CancellationToken, ValueTask<T>>> factoryFor,
        string? configurationSection, Action<ClusterClientOptions>? configure) where T : class
    {
        ArgumentNullException.ThrowIfNull(services);
        string name = OptionsName<T>();
        if (services.Any(d => d.ServiceType == typeof(ClusterClient<T>)))
            throw new InvalidOperationException($"AddClusterClient<{typeof(T).Name}> was called twice; register each contract once (use ClusterClientOptions.Name and another contract for a second channel).");

        var options = services.AddOptions<ClusterClientOptions>(name);
        if (configurationSection is not null) options.BindConfiguration(configurationSection);
        if (configure is not null) options.Configure(configure);
        options.PostConfigure<IServiceProvider>((o, provider) =>
            o.Logger ??= provider.GetService<ILoggerFactory>()?.CreateLogger(LoggerCategory));
        options.ValidateOnStart();
        services.AddSingleton<IValidateOptions<ClusterClientOptions>>(new ClusterClientOptionsValidator(name, configurationSection));
        services.AddOptions<ClusterClientHostOptions>(name);

        services.AddSingleton(provider =>
        {
            var resolved = provider.GetRequiredService<IOptionsMonitor<ClusterClientOptions>>().Get(name);
            return ClusterClient.CreateFromOptions(factoryFor(provider), resolved);
        });
        services.TryAddSingleton(provider => provider.GetRequiredService<ClusterClient<T>>().Client);
        services.AddHostedService<ClusterClientHostedService<T>>();
        return new ClusterClientBuilder<T>(services, name);
    }
}

/// <summary>Further configuration of one <c>AddClusterClient&lt;T&gt;</c> registration.</summary>
/// <typeparam name="T">The contract interface.</typeparam>
public sealed class ClusterClientBuilder<T> where T : class
{
    internal ClusterClientBuilder(IServiceCollection services, string name)
    {
        Services = services;
        Name = name;
    }

    /// <summary>The service collection.</summary>
    public IServiceCollection Services { get; }

    /// <summary>The options name of this registration (see <see cref="ClusterClientServiceCollectionExtensions.OptionsName{T}"/>).</summary>
    public string Name { get; }

    /// <summary>Makes host start-up wait until the client is ready (see <see cref="ClusterClientHostOptions.WaitForReadyOnStart"/>).</summary>
    /// <param name="wait">True to gate start-up on readiness.</param>
    /// <returns>This builder.</returns>
    public ClusterClientBuilder<T> WaitForReadyOnStart(bool wait = true)
    {
        Services.Configure<ClusterClientHostOptions>(Name, o => o.WaitForReadyOnStart = wait);
        return this;
    }

    /// <summary>
    /// Registers work that runs only in the process that leads (<see cref="ClusterClient{T}.WhenLeader"/>): the hosted
    /// service starts it with the host, it is cancelled when this process stops leading and started again on its next
    /// term, and the host's shutdown cancels it and waits for it (at most <see cref="LeaderWorkOptions.GracePeriod"/>)
    /// before the client is disposed.
    /// </summary>
    /// <param name="work">The work: the host's service provider and a token that fires when leadership ends.</param>
    /// <param name="configure">Sets the name (for logs), grace period and restart policy.</param>
    /// <returns>This builder.</returns>
    public ClusterClientBuilder<T> AddLeaderWork(Func<IServiceProvider, CancellationToken, Task> work, Action<LeaderWorkOptions>? configure = null)
    {
        ArgumentNullException.ThrowIfNull(work);
        Services.AddSingleton(new LeaderWorkDescriptor<T>(work, configure, "leader work of " + typeof(T).Name));
        return this;
    }

    /// <summary>
    /// Registers <typeparamref name="TWork"/> as a singleton and runs its <see cref="ILeaderWork.RunAsync"/> only in
    /// the process that leads, as <see cref="AddLeaderWork(Func{IServiceProvider, CancellationToken, Task}, Action{LeaderWorkOptions}?)"/> does.
    /// </summary>
    /// <typeparam name="TWork">The work type, created by DI once.</typeparam>
    /// <param name="configure">Sets the grace period and restart policy; the name defaults to the type's name.</param>
    /// <returns>This builder.</returns>
    public ClusterClientBuilder<T> AddLeaderWork<TWork>(Action<LeaderWorkOptions>? configure = null) where TWork : class, ILeaderWork
    {
        Services.TryAddSingleton<TWork>();
        Services.AddSingleton(new LeaderWorkDescriptor<T>((provider, token) => provider.GetRequiredService<TWork>().RunAsync(token), configure, typeof(TWork).Name));
        return this;
    }

    /// <summary>Adds a configuration step for this registration's <see cref="ClusterClientOptions"/>.</summary>
    /// <param name="configure">Sets options.</param>
    /// <returns>This builder.</returns>
    public ClusterClientBuilder<T> Configure(Action<ClusterClientOptions> configure)
    {
        ArgumentNullException.ThrowIfNull(configure);
        Services.Configure(Name, configure);
        return this;
    }
}
