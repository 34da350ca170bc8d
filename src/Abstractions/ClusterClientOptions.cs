using Microsoft.Extensions.Logging;

namespace ClusterSharing;

/// <summary>Options for <c>ClusterClient.Create</c>. Validated when the client is created.</summary>
public sealed class ClusterClientOptions
{
    /// <summary>Environment variable that overrides the default <see cref="Port"/>.</summary>
    public const string PortEnvironmentVariable = "CLUSTER_CLIENT_PORT";

    /// <summary>Environment variable that turns on <see cref="SingleMode"/> when set to <c>1</c> or <c>true</c>.</summary>
    public const string SingleModeEnvironmentVariable = "CLUSTER_CLIENT_SINGLE_MODE";

    /// <summary>The default port when neither the option nor <see cref="PortEnvironmentVariable"/> is set.</summary>
    public const int DefaultPort = 7777;

    /// <summary>Channel name; processes share a real client per (port, name). Defaults to the interface's full name.</summary>
    public string? Name { get; set; }

    /// <summary>Loopback port competed for by every process. Defaults to <see cref="PortEnvironmentVariable"/> or 7777.</summary>
    public int Port { get; set; } = ReadPortFromEnvironment();

    /// <summary>Which role this process may take.</summary>
    public ClusterRole Role { get; set; } = ClusterRole.Auto;

    /// <summary>How long a follower waits for a leader to appear before failing (and how long a leader waits for a held port).</summary>
    public TimeSpan MaxWaitTime { get; set; } = TimeSpan.FromSeconds(30);

    /// <summary>Timeout of one connection attempt to the leader.</summary>
    public TimeSpan ConnectTimeout { get; set; } = TimeSpan.FromSeconds(5);

    /// <summary>Default per-call timeout; <see cref="TimeoutAttribute"/> overrides it per method.</summary>
    public TimeSpan ResponseTimeout { get; set; } = TimeSpan.FromSeconds(30);

    /// <summary>Interval of heartbeats in both directions. A peer silent for three intervals is considered dead.</summary>
    public TimeSpan HeartbeatInterval { get; set; } = TimeSpan.FromSeconds(1);

    /// <summary>One process only: share the real client in-process by reference count, with no TCP.
    /// Defaults to <see cref="SingleModeEnvironmentVariable"/>.</summary>
    public bool SingleMode { get; set; } = ReadSingleModeFromEnvironment();

    /// <summary>How the proxy is obtained (generated code or Castle.Core).</summary>
    public ProxyGenerationMode ProxyGeneration { get; set; } = ProxyGenerationMode.PreferGenerated;

    /// <summary>Largest frame accepted or sent, header included. Default 16 MiB.</summary>
    public int MaxFrameSize { get; set; } = 16 * 1024 * 1024;

    /// <summary>Largest header object accepted. Default 64 KiB.</summary>
    public int MaxHeaderSize { get; set; } = 64 * 1024;

    /// <summary>
    /// Subscription values a process may hold waiting for its own listeners (per channel). Default 10,000. A process whose
    /// listeners fall further behind drops the waiting values and resynchronises: a follower reconnects and re-subscribes
    /// (the leader replays the last value of each key), the leader re-reads its cached last values. Memory stays bounded.
    /// </summary>
    public int SubscriptionBufferSize { get; set; } = 10_000;

    /// <summary>Logger for lifecycle events and rejected connections; none by default.</summary>
    public ILogger? Logger { get; set; }

    /// <summary>Checks every option and throws <see cref="ArgumentException"/> naming the first bad one.</summary>
    public void Validate()
    {
        if (Name is not null && (Name.Length == 0 || Name.Length > 256))
            throw new ArgumentException($"Name must be 1 to 256 characters (was {Name.Length}).", nameof(Name));
        if (Port is < 1 or > 65535)
            throw new ArgumentException($"Port must be between 1 and 65535 (was {Port}). Set ClusterClientOptions.Port or the {PortEnvironmentVariable} environment variable.", nameof(Port));
        if (!Enum.IsDefined(Role))
            throw new ArgumentException($"Role {(int)Role} is not a ClusterRole.", nameof(Role));
        if (!Enum.IsDefined(ProxyGeneration))
            throw new ArgumentException($"ProxyGeneration {(int)ProxyGeneration} is not a ProxyGenerationMode.", nameof(ProxyGeneration));
        Positive(MaxWaitTime, nameof(MaxWaitTime));
        Positive(ConnectTimeout, nameof(ConnectTimeout));
        Positive(ResponseTimeout, nameof(ResponseTimeout));
        Positive(HeartbeatInterval, nameof(HeartbeatInterval));
        if (ResponseTimeout.TotalMilliseconds > int.MaxValue)
            throw new ArgumentException("ResponseTimeout must fit in a 32-bit millisecond count (about 24.8 days).", nameof(ResponseTimeout));
        if (MaxFrameSize < 1024)
            throw new ArgumentException($"MaxFrameSize must be at least 1024 bytes (was {MaxFrameSize}).", nameof(MaxFrameSize));
        if (SubscriptionBufferSize < 1)
            throw new ArgumentException($"SubscriptionBufferSize must be at least 1 (was {SubscriptionBufferSize}).", nameof(SubscriptionBufferSize));
        if (MaxHeaderSize < 64 || MaxHeaderSize > MaxFrameSize)
            throw new ArgumentException($"MaxHeaderSize must be between 64 bytes and MaxFrameSize (was {MaxHeaderSize}).", nameof(MaxHeaderSize));
    }

    private static void Positive(TimeSpan value, string name)
    {
        if (value <= TimeSpan.Zero)
            throw new ArgumentException($"{name} must be positive (was {value}).", name);
    }

    private static int ReadPortFromEnvironment()
    {
        var text = Environment.GetEnvironmentVariable(PortEnvironmentVariable);
        return int.TryParse(text, System.Globalization.NumberStyles.Integer, System.Globalization.CultureInfo.InvariantCulture, out var port)
            ? port : DefaultPort;
    }

    private static bool ReadSingleModeFromEnvironment()
    {
        var text = Environment.GetEnvironmentVariable(SingleModeEnvironmentVariable);
        return text is not null && (text == "1" || text.Equals("true", StringComparison.OrdinalIgnoreCase));
    }
}
