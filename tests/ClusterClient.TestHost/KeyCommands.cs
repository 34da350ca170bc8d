using System.Diagnostics;
using System.Globalization;

namespace ClusterSharing.TestHost;

/// <summary>
/// Leadership-per-key commands (<c>key-*</c>) of a worker. <c>key-work FILE KEY,KEY,...</c> adds the keys and, every 20 ms,
/// for each key this process owns, checks its lease and appends <c>key member pid epoch timestampNs</c> to FILE: the
/// timestamp (CLOCK_MONOTONIC, shared by every process on the machine) is taken before the check, so each line proves the
/// process owned the key at that instant. <c>key-owners</c> replies with the owner view, <c>key-remove KEY</c> removes a key.
/// </summary>
internal static class KeyCommands
{
    private static StreamWriter? _log;
    private static Task? _loop;

    public static async Task ExecuteAsync(ClusterMembership membership, long id, string command, string rest)
    {
        string[] a = rest.Length == 0 ? [] : rest.Split(' ', StringSplitOptions.RemoveEmptyEntries);
        switch (command)
        {
            case "key-work":
                _log = new StreamWriter(new FileStream(a[0], FileMode.Append, FileAccess.Write, FileShare.ReadWrite)) { AutoFlush = true };
                var keys = a[1].Split(',');
                foreach (var key in keys) membership.AddKey(key);
                _loop = Task.Run(() => WorkAsync(membership, keys));
                StdoutLines.Reply(id, w => w.WriteNullValue());
                break;
            case "key-remove":
                membership.RemoveKey(a[0]);
                StdoutLines.Reply(id, w => w.WriteNullValue());
                break;
            case "key-owners":
                var owners = membership.KeyOwners;
                StdoutLines.Reply(id, w =>
                {
                    w.WriteStartObject();
                    foreach (var (key, owner) in owners.OrderBy(o => o.Key, StringComparer.Ordinal)) w.WriteString(key, owner);
                    w.WriteEndObject();
                });
                break;
            default:
                throw new ArgumentException($"Unknown key command '{command}'.");
        }
        await Task.CompletedTask.ConfigureAwait(false);
    }

    private static async Task WorkAsync(ClusterMembership membership, string[] keys)
    {
        string self = membership.LocalId;
        int pid = Environment.ProcessId;
        while (true)
        {
            foreach (var key in keys)
            {
                long at = Stopwatch.GetTimestamp();
                if (membership.GetKeyLease(key) is { IsValid: true } lease)
                {
                    long ns = (long)(at * (1_000_000_000.0 / Stopwatch.Frequency));
                    _log!.WriteLine(string.Create(CultureInfo.InvariantCulture, $"{key} {self} {pid} {lease.Epoch} {ns}"));
                }
            }
            await Task.Delay(20).ConfigureAwait(false);
        }
    }
}
