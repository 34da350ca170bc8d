using ClusterSharing.Protocol;

namespace ClusterSharing.Node.Membership;

/// <summary>The bounds of membership data, checked where it enters: the public API (ArgumentException) and the wire (ProtocolException).</summary>
internal static class MembershipLimits
{
    /// <summary>Longest member id (the runtime makes 32-character ones).</summary>
    public const int MaxMemberIdLength = 64;

    /// <summary>Longest host name or endpoint text.</summary>
    public const int MaxHostLength = 300;

    /// <summary>Largest advertisement (MessagePack bytes): every member holds every other member's, and each change goes to all.</summary>
    public const int MaxAdvertisementBytes = 16 * 1024;

    /// <summary>Largest message (MessagePack bytes), further bounded by the frame size.</summary>
    public const int MaxMessageBytes = 1024 * 1024;

    /// <summary>Longest channel name.</summary>
    public const int MaxChannelNameLength = 128;

    /// <summary>Most channels one member may join (the leader keeps the set per member).</summary>
    public const int MaxChannelsPerMember = 1024;

    /// <summary>Most services one member advertises.</summary>
    public const int MaxServicesPerMember = 32;

    /// <summary>Largest configuration of one service (MessagePack bytes).</summary>
    public const int MaxServiceConfigBytes = 4 * 1024;

    /// <summary>Null when <paramref name="name"/> is a usable service name (the channel-name rules, no reserved prefixes); otherwise why not.</summary>
    public static string? DescribeBadService(string? name) => DescribeBadName("service", name);

    /// <summary>Channel names starting with these are kept for the runtime's own use (services, leadership per key).</summary>
    public static readonly string[] ReservedPrefixes = ["$", "cluster."];

    /// <summary>Null when <paramref name="name"/> is a usable channel name; otherwise why not.</summary>
    public static string? DescribeBadChannel(string? name)
    {
        if (DescribeBadName("channel", name) is { } problem) return problem;
        foreach (var prefix in ReservedPrefixes)
        {
            if (name!.StartsWith(prefix, StringComparison.Ordinal))
                return $"channel name '{name}' is reserved (names starting with '{prefix}' belong to ClusterClient); choose another name";
        }
        return null;
    }

    private static string? DescribeBadName(string kind, string? name)
    {
        if (string.IsNullOrEmpty(name)) return $"a {kind} name must not be empty";
        if (name.Length > MaxChannelNameLength) return $"{kind} name '{name[..32]}...' is {name.Length} characters; at most {MaxChannelNameLength} are allowed";
        foreach (char c in name)
        {
            // '$' passes here so that a reserved name is refused as reserved, not as a bad character.
            if (!(char.IsAsciiLetterOrDigit(c) || c is '.' or '-' or '_' or ':' or '/' || (c == '$' && kind == "channel")))
                return $"{kind} name '{name}' contains '{c}'; use ASCII letters, digits and . - _ : /";
        }
        return null;
    }

    /// <exception cref="ArgumentException"><paramref name="name"/> is not a usable channel name.</exception>
    public static void CheckChannel(string name, string parameter) => Throw(DescribeBadChannel(name), parameter);

    /// <exception cref="ArgumentException"><paramref name="name"/> is not a usable service name.</exception>
    public static void CheckService(string name, string parameter) => Throw(DescribeBadService(name), parameter);

    private static void Throw(string? problem, string parameter)
    {
        if (problem is not null) throw new ArgumentException(char.ToUpperInvariant(problem[0]) + problem[1..] + ".", parameter);
    }

    /// <exception cref="ProtocolException">A member id from the wire is empty or too long.</exception>
    public static void CheckMemberId(string id)
    {
        if (id.Length is 0 or > MaxMemberIdLength)
            throw new ProtocolException(ProtocolErrorReason.MalformedHeaderObject, $"A member id is {id.Length} characters; it must be 1 to {MaxMemberIdLength}.");
    }
}
