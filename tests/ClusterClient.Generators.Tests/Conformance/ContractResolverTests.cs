using ClusterSharing.Proxies;
using ClusterSharing.Proxies.Dynamic;
using Microsoft.Extensions.Logging;

namespace ClusterSharing.Generators.Tests.Conformance;

/// <summary>An interface the generator never sees (no [ClusterDelegate]): only the dynamic path can serve it.</summary>
public interface IPlainService
{
    Task<int> GetAsync(string key);
}

/// <summary>Used only by the fallback-logging test, whose "once per interface" state is per interface type.</summary>
public interface IFallbackReported
{
    Task<int> GetAsync(string key);
}

public sealed class ContractResolverTests
{
    [Fact]
    public void PreferGenerated_fallback_is_logged_once_per_interface_with_the_reason()
    {
        var logger = new RecordingLogger();
        ContractResolver.Resolve<IFallbackReported>(ProxyGenerationMode.PreferGenerated, logger: null); // nothing to tell yet
        ContractResolver.Resolve<IFallbackReported>(ProxyGenerationMode.PreferGenerated, logger);
        ContractResolver.Resolve<IFallbackReported>(ProxyGenerationMode.PreferGenerated, logger);

        var entry = Assert.Single(logger.Entries);
        Assert.Equal(5000, entry.Id.Id);
        Assert.Equal(LogLevel.Warning, entry.Level);
        Assert.Contains("'ClusterSharing.Generators.Tests.Conformance.IFallbackReported' uses the Castle.Core dynamic proxy", entry.Message);
        Assert.Contains("is not marked [ClusterDelegate]", entry.Message);
        Assert.Contains("AlwaysGenerated", entry.Message);
    }

    [Fact]
    public void A_generated_contract_is_not_reported_as_a_fallback()
    {
        var logger = new RecordingLogger();
        var contract = ContractResolver.Resolve<IConformance>(ProxyGenerationMode.PreferGenerated, logger);
        Assert.IsNotType<DynamicClusterContract<IConformance>>(contract);
        Assert.Empty(logger.Entries);
    }

    [Fact]
    public void AlwaysDynamic_gives_the_castle_proxy()
    {
        var contract = ContractResolver.Resolve<IPlainService>(ProxyGenerationMode.AlwaysDynamic);
        Assert.IsType<DynamicClusterContract<IPlainService>>(contract);
        var proxy = contract.CreateProxy(new Support.LoopbackInvoker<IPlainService>(contract, new PlainService()));
        Assert.True(Castle.DynamicProxy.ProxyUtil.IsProxy(proxy));
    }

    [Fact]
    public async Task PreferGenerated_falls_back_to_dynamic_when_nothing_was_generated()
    {
        var contract = ContractResolver.Resolve<IPlainService>(ProxyGenerationMode.PreferGenerated);
        Assert.IsType<DynamicClusterContract<IPlainService>>(contract);
        var proxy = contract.CreateProxy(new Support.LoopbackInvoker<IPlainService>(contract, new PlainService()));
        Assert.Equal(3, await proxy.GetAsync("abc"));
    }

    [Fact]
    public void AlwaysGenerated_without_generated_code_says_how_to_fix_it()
    {
        var error = Assert.Throws<ClusterClientException>(() => ContractResolver.Resolve<IPlainService>(ProxyGenerationMode.AlwaysGenerated));
        Assert.Contains("ClusterSharing.Generators.Tests.Conformance.IPlainService", error.Message);
        Assert.Contains("Add [ClusterDelegate] to the interface", error.Message);
        // A public or internal interface gets its contract without being partial; only nested private/protected ones need it.
        Assert.DoesNotContain("partial", error.Message);
        Assert.Contains("AlwaysGenerated", error.Message);
        Assert.Contains("PreferGenerated", error.Message);
    }

    [Fact]
    public void AlwaysGenerated_for_an_annotated_interface_the_generator_skipped_points_at_the_analyzer_and_the_diagnostics()
    {
        // Compiled without the generator, as when the analyzer is not referenced.
        var compilation = Generator.GeneratorHarness.CreateCompilation("""
            namespace Skipped;
            [ClusterDelegate]
            public interface ISkipped { Task PingAsync(); }
            """);
        var (context, assembly) = Generator.GeneratorHarness.Load(compilation);
        try
        {
            var resolve = typeof(ContractResolver).GetMethod(nameof(ContractResolver.Resolve), [typeof(ProxyGenerationMode)])!.MakeGenericMethod(assembly.GetType("Skipped.ISkipped", throwOnError: true)!);
            var error = Assert.Throws<ClusterClientException>(() =>
                resolve.Invoke(null, System.Reflection.BindingFlags.DoNotWrapExceptions, null, [ProxyGenerationMode.AlwaysGenerated], null));
            Assert.Contains("'Skipped.ISkipped' has [ClusterDelegate] but the ClusterClient source generator did not run for it", error.Message);
            Assert.Contains("OutputItemType=\"Analyzer\"", error.Message);
            Assert.Contains("a private or protected nested interface needs every containing type declared 'partial'", error.Message);
        }
        finally
        {
            context.Unload();
        }
    }

    [Fact]
    public void Contracts_are_cached_per_interface_and_mode()
    {
        Assert.Same(ContractResolver.Resolve<IPlainService>(ProxyGenerationMode.AlwaysDynamic),
            ContractResolver.Resolve<IPlainService>(ProxyGenerationMode.AlwaysDynamic));
        Assert.Same(ContractResolver.Resolve<IPlainService>(ProxyGenerationMode.PreferGenerated),
            ContractResolver.Resolve<IPlainService>(ProxyGenerationMode.PreferGenerated));
    }

    [Fact]
    public void Unknown_mode_is_rejected()
    {
        Assert.Throws<ArgumentOutOfRangeException>(() => ContractResolver.Resolve<IPlainService>((ProxyGenerationMode)42));
    }

    [Fact]
    public void Dynamic_contract_errors_are_not_cached_as_contracts()
    {
        var first = Assert.Throws<ClusterClientException>(() => ContractResolver.Resolve<IUnsupported.IHasProperty>(ProxyGenerationMode.AlwaysDynamic));
        var second = Assert.Throws<ClusterClientException>(() => ContractResolver.Resolve<IUnsupported.IHasProperty>(ProxyGenerationMode.PreferGenerated));
        Assert.Equal(first.Message, second.Message);
    }

    private sealed class RecordingLogger : ILogger
    {
        public List<(LogLevel Level, EventId Id, string Message)> Entries { get; } = [];

        public IDisposable? BeginScope<TState>(TState state) where TState : notnull => null;

        public bool IsEnabled(LogLevel logLevel) => true;

        public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter) =>
            Entries.Add((logLevel, eventId, formatter(state, exception)));
    }

    private sealed class PlainService : IPlainService
    {
        public Task<int> GetAsync(string key) => Task.FromResult(key.Length);
    }
}
