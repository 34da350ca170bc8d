using ClusterSharing.Serialization;
using MessagePack;

namespace ClusterSharing;

/// <summary>
/// One process in the cluster as the member view shows it: an immutable snapshot (a change arrives as a new instance
/// through <see cref="ClusterMembership.MemberUpdated"/>).
/// </summary>
public sealed class ClusterMember
{
    internal ClusterMember(string id, string host, int processId, string? endpoint, int weight, bool eligible, ReadOnlyMemory<byte> advertisement,
        bool isLeader, DateTimeOffset joinedAt, DateTimeOffset lastSeen, long revision, IReadOnlyList<ClusterService>? services = null, bool isMaster = false)
    {
        IsMaster = isMaster;
        Services = services ?? [];
        Id = id;
        Host = host;
        ProcessId = processId;
        Endpoint = endpoint;
        Weight = weight;
        Eligible = eligible;
        Advertisement = advertisement;
        IsLeader = isLeader;
        JoinedAt = joinedAt;
        LastSeen = lastSeen;
        Revision = revision;
    }

    /// <summary>The member's id: unique per process and port, the same for its whole life (across failovers).</summary>
    public string Id { get; }

    /// <summary>The machine name the member runs on.</summary>
    public string Host { get; }

    /// <summary>The member's process id on <see cref="Host"/>.</summary>
    public int ProcessId { get; }

    /// <summary>The leader's listening address for the leader; for a follower, its end of the connection to the leader.</summary>
    public string? Endpoint { get; }

    /// <summary>The member's <see cref="ClusterClientOptions.Weight"/>.</summary>
    public int Weight { get; }

    /// <summary>The member's <see cref="ClusterClientOptions.Eligible"/>: false for a process that never leads.</summary>
    public bool Eligible { get; }

    /// <summary>What the member advertised (<see cref="ClusterMembership.Advertise{T}(T)"/>), MessagePack bytes; empty when nothing.</summary>
    public ReadOnlyMemory<byte> Advertisement { get; }

    /// <summary>True for the member that leads (holds the real clients and keeps the view).</summary>
    public bool IsLeader { get; }

    /// <summary>
    /// True for a master: the leader, and the best-ranked other eligible members (highest <see cref="Weight"/>, then the
    /// earliest <see cref="JoinedAt"/>) up to <see cref="ClusterClientOptions.MastersRequired"/>. Every member computes it
    /// from its own view, so members with the same view agree; changes raise <see cref="ClusterMembership.MasterChanged"/>.
    /// </summary>
    public bool IsMaster { get; }

    /// <summary>When the member joined (its own clock; kept across failovers).</summary>
    public DateTimeOffset JoinedAt { get; }

    /// <summary>When the leader last heard the member announce itself (its join, an advertisement, a re-attach after a failover).</summary>
    public DateTimeOffset LastSeen { get; }

    /// <summary>The services the member advertises (<see cref="ClusterMembership.AdvertiseService{T}(string, bool, T)"/>).</summary>
    public IReadOnlyList<ClusterService> Services { get; }

    /// <summary>Counts the member's own changes (advertisements): higher is newer.</summary>
    public long Revision { get; }

    /// <summary>Reads the advertisement as <typeparamref name="T"/>; default when nothing was advertised.</summary>
    /// <param name="options">MessagePack options (a resolver for your types); the standard resolver when null. Decoded as untrusted data.</param>
    /// <exception cref="MessagePackSerializationException">The advertisement is not a <typeparamref name="T"/>.</exception>
    public T? ReadAdvertisement<T>(MessagePackSerializerOptions? options = null)
    {
        if (Advertisement.IsEmpty) return default;
        var resolved = WireSerializer.CreateOptions(null, options, DecodingLimits.UntrustedData);
        return WireSerializer.Decode(Advertisement, resolved.Resolver.GetFormatterWithVerify<T>(), resolved);
    }

    internal ClusterMember With(bool isLeader, DateTimeOffset lastSeen) =>
        new(Id, Host, ProcessId, Endpoint, Weight, Eligible, Advertisement, isLeader, JoinedAt, lastSeen, Revision, Services);

    internal ClusterMember WithMaster(bool isMaster) =>
        new(Id, Host, ProcessId, Endpoint, Weight, Eligible, Advertisement, IsLeader, JoinedAt, LastSeen, Revision, Services, isMaster);

    /// <summary>True when every field but <see cref="LastSeen"/> is equal: a difference is an update worth an event.</summary>
    internal bool SameAs(ClusterMember other) =>
        Id == other.Id && Host == other.Host && ProcessId == other.ProcessId && Endpoint == other.Endpoint && Weight == other.Weight
        && Eligible == other.Eligible && IsLeader == other.IsLeader && IsMaster == other.IsMaster && JoinedAt == other.JoinedAt && Revision == other.Revision
        && Advertisement.Span.SequenceEqual(other.Advertisement.Span) && Services.Count == other.Services.Count
        && Services.Zip(other.Services).All(p => p.First.SameAs(p.Second));

    /// <inheritdoc/>
    public override string ToString() => $"{Id} ({Host}, pid {ProcessId}{(IsLeader ? ", leader" : IsMaster ? ", master" : "")}, weight {Weight}{(Eligible ? "" : ", not eligible")})";
}

/// <summary>A service a member advertises: a name, whether it is ready, and its configuration (MessagePack).</summary>
public sealed class ClusterService
{
    internal ClusterService(string name, bool ready, ReadOnlyMemory<byte> config)
    {
        Name = name;
        Ready = ready;
        Config = config;
    }

    /// <summary>The service's name, e.g. <c>service.db</c>.</summary>
    public string Name { get; }

    /// <summary>True when the member says the service can be used.</summary>
    public bool Ready { get; }

    /// <summary>The configuration (MessagePack bytes); empty when none.</summary>
    public ReadOnlyMemory<byte> Config { get; }

    /// <summary>Reads the configuration as <typeparamref name="T"/>; default when there is none.</summary>
    /// <exception cref="MessagePackSerializationException">The configuration is not a <typeparamref name="T"/>.</exception>
    public T? ReadConfig<T>(MessagePackSerializerOptions? options = null)
    {
        if (Config.IsEmpty) return default;
        var resolved = WireSerializer.CreateOptions(null, options, DecodingLimits.UntrustedData);
        return WireSerializer.Decode(Config, resolved.Resolver.GetFormatterWithVerify<T>(), resolved);
    }

    internal bool SameAs(ClusterService other) => Name == other.Name && Ready == other.Ready && Config.Span.SequenceEqual(other.Config.Span);

    /// <inheritdoc/>
    public override string ToString() => $"{Name} ({(Ready ? "ready" : "not ready")})";
}

/// <summary>One member's instance of a service (<see cref="ClusterMembership.Setup"/>).</summary>
/// <param name="Member">The member that advertises it.</param>
/// <param name="Service">The service as it advertises it.</param>
public sealed record ClusterServiceInstance(ClusterMember Member, ClusterService Service);

/// <summary>Data of <see cref="ClusterMembership.ServiceLost"/>.</summary>
/// <param name="service">The service that has no ready instance left.</param>
public sealed class ClusterServiceEventArgs(string service) : EventArgs
{
    /// <summary>The service that has no ready instance left.</summary>
    public string Service { get; } = service;
}
