using System.Diagnostics;
using System.Reflection;
using BenchmarkDotNet.Attributes;

namespace ClusterSharing.Benchmarks;

/// <summary>
/// Runs one benchmark method N times in a plain loop (no BenchmarkDotNet), for instruction counting under
/// <c>valgrind --tool=callgrind</c>: the difference between two runs with different N, divided by the difference of
/// N, is the steady-state cost of one call. Usage: <c>--loop CodecBenchmarks.DecodeRecord 100000</c>.
/// </summary>
internal static class Loop
{
    public static void Run(string name, int count)
    {
        int dot = name.LastIndexOf('.');
        var type = typeof(Loop).Assembly.GetTypes().Single(t => t.Name == name[..dot]);
        object instance = Activator.CreateInstance(type)!;
        foreach (var setup in type.GetMethods().Where(m => m.GetCustomAttribute<GlobalSetupAttribute>() is not null)) setup.Invoke(instance, null);
        var method = type.GetMethod(name[(dot + 1)..]) ?? throw new ArgumentException($"{name} is not a benchmark method.");
        var body = method.CreateDelegate(typeof(Func<>).MakeGenericType(method.ReturnType), instance);
        var run = typeof(Loop).GetMethod(nameof(Times), BindingFlags.NonPublic | BindingFlags.Static)!.MakeGenericMethod(method.ReturnType);
        run.Invoke(null, [body, Math.Max(1, count / 10)]); // warm-up: tiered compilation settles before the timed part
        var process = Process.GetCurrentProcess();
        var cpu = process.UserProcessorTime + process.PrivilegedProcessorTime;
        var watch = Stopwatch.StartNew();
        run.Invoke(null, [body, count]);
        watch.Stop();
        process.Refresh();
        var used = process.UserProcessorTime + process.PrivilegedProcessorTime - cpu;
        // CPU time is less disturbed than wall time on a loaded machine (time off the CPU is not counted); neither is a benchmark.
        Console.WriteLine($"{name} x{count}: {used.TotalMilliseconds * 1e6 / count:F1} ns CPU, {watch.Elapsed.TotalMilliseconds * 1e6 / count:F1} ns wall per call");
    }

    private static void Times<T>(Func<T> body, int count)
    {
        for (int i = 0; i < count; i++) Sink<T>.Last = body();
    }

    private static class Sink<T>
    {
        public static T? Last;
    }
}
