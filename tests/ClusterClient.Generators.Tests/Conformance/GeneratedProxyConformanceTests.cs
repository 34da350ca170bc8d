using ClusterSharing.Proxies;
using ClusterSharing.Proxies.Dynamic;

namespace ClusterSharing.Generators.Tests.Conformance;

/// <summary>The conformance suite over the source-generated contract of <see cref="IConformance"/>.</summary>
public sealed class GeneratedProxyConformanceTests : ProxyConformanceTests
{
    protected override ClusterContract<IConformance> CreateContract() => ContractResolver.Resolve<IConformance>(ProxyGenerationMode.AlwaysGenerated);

    [Fact]
    public void Contract_is_the_generated_one()
    {
        Assert.IsNotType<DynamicClusterContract<IConformance>>(Contract);
        Assert.False(Castle.DynamicProxy.ProxyUtil.IsProxy(Proxy));
        Assert.Same(Contract, ContractResolver.Resolve<IConformance>(ProxyGenerationMode.PreferGenerated));
    }
}

/// <summary>The settled layout over the source-generated contract.</summary>
public sealed class GeneratedWireLayoutTests : WireLayoutTests
{
    protected override ClusterContract<IConformance> CreateContract() => ContractResolver.Resolve<IConformance>(ProxyGenerationMode.AlwaysGenerated);
}
