using ClusterSharing.Generators.Tests.Support;
using ClusterSharing.Proxies;

namespace ClusterSharing.Generators.Tests.Conformance;

/// <summary>
/// A fresh real client, a contract from the subclass, a <see cref="LoopbackInvoker{T}"/> over both and the proxy, per test.
/// </summary>
public abstract class ConformanceTestBase
{
    protected static readonly Query News = new("news", 1);

    protected ConformanceTestBase()
    {
        Contract = CreateContract();
        Service = new ConformanceService();
        Invoker = new LoopbackInvoker<IConformance>(Contract, Service);
        Proxy = Contract.CreateProxy(Invoker);
    }

    protected ClusterContract<IConformance> Contract { get; }
    protected ConformanceService Service { get; }
    protected LoopbackInvoker<IConformance> Invoker { get; }
    protected IConformance Proxy { get; }

    /// <summary>The contract under test: generated or dynamic.</summary>
    protected abstract ClusterContract<IConformance> CreateContract();

    protected ClusterMethod Method(string name) => Assert.Single(Contract.Methods, m => m.Name == name);
}
