using ClusterSharing.Proxies;
using ClusterSharing.Proxies.Dynamic;

namespace ClusterSharing.Generators.Tests.Conformance;

/// <summary>The conformance suite over the Castle.Core fallback.</summary>
public sealed class DynamicProxyConformanceTests : ProxyConformanceTests
{
    protected override ClusterContract<IConformance> CreateContract() => new DynamicClusterContract<IConformance>();

    [Fact]
    public void Proxy_is_a_castle_proxy()
    {
        Assert.True(Castle.DynamicProxy.ProxyUtil.IsProxy(Proxy));
    }
}
