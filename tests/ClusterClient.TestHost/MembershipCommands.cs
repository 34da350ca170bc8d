using System.Globalization;

namespace ClusterSharing.TestHost;

/// <summary>
/// The membership commands (<c>member-*</c>) and events of a worker. Commands: member-id | member-list |
/// member-advertise TEXT | member-advertise-bytes N | member-join CHANNEL | member-leave CHANNEL | member-send CHANNEL TEXT |
/// member-send-to ID CHANNEL TEXT [TIMEOUT_MS]. Events: member-added, member-removed, member-updated, member-leader,
/// member-master (each with the member's id; member-master also with whether it is a master now), member-message (channel, from, value, direct).
/// </summary>
internal static class MembershipCommands
{
    public static void WatchEvents(ClusterMembership membership)
    {
        membership.MemberAdded += (_, e) => StdoutLines.Event("member-added", w => w.WriteString("member", e.Member.Id));
        membership.MemberRemoved += (_, e) => StdoutLines.Event("member-removed", w => w.WriteString("member", e.Member.Id));
        membership.MemberUpdated += (_, e) => StdoutLines.Event("member-updated", w =>
        {
            w.WriteString("member", e.Member.Id);
            w.WriteBoolean("leader", e.Member.IsLeader);
            w.WriteNumber("revision", e.Member.Revision);
        });
        membership.LeaderChanged += (_, e) => StdoutLines.Event("member-leader", w => w.WriteString("member", e.Member.Id));
        membership.MasterChanged += (_, e) => StdoutLines.Event("member-master", w =>
        {
            w.WriteString("member", e.Member.Id);
            w.WriteBoolean("master", e.Member.IsMaster);
        });
    }

    public static async Task ExecuteAsync(ClusterMembership membership, long id, string command, string rest)
    {
        string[] a = rest.Length == 0 ? [] : rest.Split(' ', StringSplitOptions.RemoveEmptyEntries);
        switch (command)
        {
            case "member-id":
                StdoutLines.Reply(id, w => w.WriteStringValue(membership.LocalId));
                break;
            case "member-list":
                var members = membership.Members;
                StdoutLines.Reply(id, w =>
                {
                    w.WriteStartArray();
                    foreach (var m in members)
                    {
                        w.WriteStartObject();
                        w.WriteString("id", m.Id);
                        w.WriteNumber("pid", m.ProcessId);
                        w.WriteBoolean("leader", m.IsLeader);
                        w.WriteBoolean("master", m.IsMaster);
                        w.WriteNumber("weight", m.Weight);
                        w.WriteBoolean("eligible", m.Eligible);
                        w.WriteNumber("revision", m.Revision);
                        w.WriteString("advertised", m.Advertisement.IsEmpty ? null : m.ReadAdvertisement<string>());
                        w.WriteEndObject();
                    }
                    w.WriteEndArray();
                });
                break;
            case "member-advertise":
                membership.Advertise(rest);
                StdoutLines.Reply(id, w => w.WriteNullValue());
                break;
            case "member-advertise-bytes":
                membership.Advertise(new byte[int.Parse(a[0], CultureInfo.InvariantCulture)]);
                StdoutLines.Reply(id, w => w.WriteNullValue());
                break;
            case "member-join":
                membership.Join<string>(a[0], m => StdoutLines.Event("member-message", w =>
                {
                    w.WriteString("channel", m.Channel);
                    w.WriteString("from", m.From);
                    w.WriteString("value", m.Value);
                    w.WriteBoolean("direct", m.IsDirect);
                }));
                StdoutLines.Reply(id, w => w.WriteNullValue());
                break;
            case "member-leave":
                membership.Leave(a[0]);
                StdoutLines.Reply(id, w => w.WriteNullValue());
                break;
            case "member-send":
            {
                string[] parts = rest.Split(' ', 2);
                await membership.SendAsync(parts[0], parts.Length > 1 ? parts[1] : "").ConfigureAwait(false);
                StdoutLines.Reply(id, w => w.WriteNullValue());
                break;
            }
            case "member-send-to":
            {
                TimeSpan? timeout = a.Length > 3 ? TimeSpan.FromMilliseconds(int.Parse(a[3], CultureInfo.InvariantCulture)) : null;
                var status = await membership.SendToAsync(a[0], a[1], a[2], timeout).ConfigureAwait(false);
                StdoutLines.Reply(id, w => w.WriteStringValue(status.ToString()));
                break;
            }
            default:
                throw new ArgumentException($"Unknown membership command '{command}'.");
        }
    }
}
