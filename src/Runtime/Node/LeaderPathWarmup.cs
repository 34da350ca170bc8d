using System.Reflection;
using System.Runtime.CompilerServices;

namespace ClusterSharing.Node;

/// <summary>
/// Compiles the leader's code in a follower process ahead of a failover. A follower never ran the leader's side (the
/// listener, follower sessions, the leader's handshake, leader channels, the subscription and member hubs), so the
/// survivor that wins an election used to JIT all of it on the failover's critical path: tens of milliseconds on a
/// busy machine, before the first follower could even authenticate. Once per process, a while after it first followed,
/// one background thread prepares those methods (the runtime then runs the prepared code when it leads).
/// </summary>
internal static class LeaderPathWarmup
{
    /// <summary>How long after the first follow the warm-up starts: after start-up's own work.</summary>
    internal static readonly TimeSpan Delay = TimeSpan.FromMilliseconds(500);

    private static readonly string[] Namespaces =
    [
        "ClusterSharing.Leader",
        "ClusterSharing.Coordination.Local",
        "ClusterSharing.Node.Membership",
        "ClusterSharing.Node.Subscriptions",
    ];

    // Types outside those namespaces whose leader side runs on the failover path.
    private static readonly Type[] Types =
    [
        typeof(ClusterNode), typeof(NodeChannel), typeof(Protocol.LeaderHandshake), typeof(Protocol.AuthProof),
        typeof(Protocol.MontgomeryModulus),
    ];

    private static int _started;
    private static readonly TaskCompletionSource<int> Done = new(TaskCreationOptions.RunContinuationsAsynchronously);

    /// <summary>Completes with the number of methods prepared once the warm-up ran (never, when it was not scheduled).</summary>
    internal static Task<int> Completion => Done.Task;

    /// <summary>Starts the warm-up once per process (later calls do nothing).</summary>
    public static void Schedule()
    {
        if (Interlocked.Exchange(ref _started, 1) != 0) return;
        var thread = new Thread(static () =>
        {
            int prepared = 0;
            try
            {
                Thread.Sleep(Delay);
                prepared = PrepareAll();
            }
            catch (Exception)
            {
                // Best effort: a method the runtime cannot prepare ahead is compiled when first called, as before.
            }
            Done.TrySetResult(prepared);
        })
        {
            IsBackground = true,
            Name = "ClusterClient leader warm-up",
            Priority = ThreadPriority.BelowNormal,
        };
        thread.Start();
    }

    private static int PrepareAll()
    {
        int prepared = 0;
        foreach (var type in typeof(LeaderPathWarmup).Assembly.GetTypes())
        {
            if (!ShouldPrepare(type)) continue;
            // Between types, let other threads of its priority run: under a real-time policy (chrt) nothing else would
            // preempt this thread, and the process's own socket work must not wait for the whole warm-up.
            Thread.Yield();
            foreach (var method in type.GetMethods(BindingFlags.Instance | BindingFlags.Static | BindingFlags.Public | BindingFlags.NonPublic | BindingFlags.DeclaredOnly))
            {
                if (method.IsAbstract || method.ContainsGenericParameters || method.GetMethodBody() is null) continue;
                try
                {
                    RuntimeHelpers.PrepareMethod(method.MethodHandle);
                    prepared++;
                }
                catch (Exception ex) when (ex is ArgumentException or InvalidOperationException or NotSupportedException or TypeLoadException or BadImageFormatException)
                {
                    // Skipped: compiled on first call instead.
                }
            }
        }
        return prepared;
    }

    private static bool ShouldPrepare(Type type)
    {
        if (type.ContainsGenericParameters || type.IsInterface) return false;
        var outer = type;
        while (outer.DeclaringType is { } declaring) outer = declaring; // async state machines and closures of a listed type
        if (Array.IndexOf(Types, outer) >= 0) return true;
        string? ns = outer.Namespace;
        return ns is not null && Array.Exists(Namespaces, n => ns.Equals(n, StringComparison.Ordinal));
    }
}
