using System.Diagnostics;
using System.Reflection;
using BenchmarkDotNet.Attributes;

namespace ClusterSharing.Benchmarks;

/// <summary>
/// Runs one benchmark method in a plain loop (no BenchmarkDotNet): a warm-up of at least one second, then N calls in five
/// timed rounds; prints the median wall time per call (with the rounds' spread) and the CPU time. Quick to alternate
/// between two builds, and a steady loop for <c>perf record</c>. Usage: <c>--loop CodecBenchmarks.DecodeRecord 5000000</c>.
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
        // Warm-up until tiered compilation (with dynamic PGO) has settled: at least a tenth of the calls and one second.
        var warm = Stopwatch.StartNew();
        do run.Invoke(null, [body, Math.Max(1, count / 10)]); while (warm.Elapsed < TimeSpan.FromSeconds(1));
        // Five timed rounds; the median is the figure, the spread says how disturbed the machine was.
        var process = Process.GetCurrentProcess();
        var wall = new double[5];
        var cpu = new double[5];
        for (int round = 0; round < wall.Length; round++)
        {
            process.Refresh();
            var cpuStart = process.UserProcessorTime + process.PrivilegedProcessorTime;
            var watch = Stopwatch.StartNew();
            run.Invoke(null, [body, count / wall.Length]);
            watch.Stop();
            process.Refresh();
            cpu[round] = (process.UserProcessorTime + process.PrivilegedProcessorTime - cpuStart).TotalMilliseconds * 1e6 / (count / wall.Length);
            wall[round] = watch.Elapsed.TotalMilliseconds * 1e6 / (count / wall.Length);
        }
        Array.Sort(wall);
        Array.Sort(cpu);
        // CPU time is less disturbed than wall time on a loaded machine (time off the CPU is not counted); neither is a benchmark.
        Console.WriteLine(FormattableString.Invariant(
            $"{name} x{count}: {wall[2]:F1} ns wall per call (median of 5 rounds, min {wall[0]:F1}, max {wall[4]:F1}), {cpu[2]:F1} ns CPU"));
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
