namespace ClusterSharing.Node.Membership;

/// <summary>What one view update meant for the services a handle needs.</summary>
internal sealed class ServiceChanges
{
    /// <summary>Ready instances seen for the first time (each is set up once).</summary>
    public List<ClusterServiceInstance> Discovered { get; } = [];

    /// <summary>Needed services whose last ready instance is gone.</summary>
    public List<string> Lost { get; } = [];

    /// <summary>True when every needed service just became present (it was not before).</summary>
    public bool BecameReady { get; set; }
}

/// <summary>
/// The services one handle needs, against the members' advertised services: which ready instances are new, which
/// needed service lost its last instance, and when every needed one is present. Not thread-safe: the owner locks.
/// </summary>
internal sealed class ServiceTracker
{
    private readonly HashSet<string> _needed = new(StringComparer.Ordinal);
    private readonly Dictionary<(string Member, string Service), ClusterServiceInstance> _known = new();
    private bool _ready;

    /// <summary>True while every needed service has a ready instance (and at least one service is needed).</summary>
    public bool IsReady => _ready;

    public IReadOnlyCollection<string> Needed => _needed;

    /// <summary>Adds a needed service; true when it was new (the caller updates again).</summary>
    public bool Need(string service) => _needed.Add(service);

    /// <summary>Compares <paramref name="members"/> with what was known.</summary>
    public ServiceChanges Update(IReadOnlyList<ClusterMember> members)
    {
        var changes = new ServiceChanges();
        var now = new Dictionary<(string, string), ClusterServiceInstance>();
        foreach (var member in members)
        {
            foreach (var service in member.Services)
            {
                if (!service.Ready || !_needed.Contains(service.Name)) continue;
                var instance = new ClusterServiceInstance(member, service);
                now[(member.Id, service.Name)] = instance;
                if (!_known.ContainsKey((member.Id, service.Name))) changes.Discovered.Add(instance);
            }
        }
        foreach (var name in _needed)
        {
            bool before = _known.Keys.Any(k => k.Service == name);
            bool after = now.Keys.Any(k => k.Item2 == name);
            if (before && !after) changes.Lost.Add(name);
        }
        _known.Clear();
        foreach (var (key, value) in now) _known[key] = value;
        bool ready = _needed.Count > 0 && _needed.All(name => now.Keys.Any(k => k.Item2 == name));
        changes.BecameReady = ready && !_ready;
        _ready = ready;
        return changes;
    }

    /// <summary>The ready instances of <paramref name="service"/> last seen.</summary>
    public List<ClusterServiceInstance> Instances(string service) => [.. _known.Values.Where(i => i.Service.Name == service)];
}
