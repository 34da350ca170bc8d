using BenchmarkDotNet.Running;
using ClusterSharing.Benchmarks;

if (args is ["--loop", var name, var count])
{
    Loop.Run(name, int.Parse(count, System.Globalization.CultureInfo.InvariantCulture));
    return;
}
BenchmarkSwitcher.FromAssembly(typeof(Program).Assembly).Run(args);
