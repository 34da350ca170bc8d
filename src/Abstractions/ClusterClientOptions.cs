using System.Net;
using System.Text;
using MessagePack;
using Microsoft.Extensions.Logging;

namespace ClusterSharing;

/// <summary>Options for <c>ClusterClient.Create</c>. Validated when the client is created.</summary>
public sealed partial class ClusterClientOptions
{
    /// <summary>Environment variable that overrides the default <see cref="Port"/>.</summary>
    public const string PortEnvironmentVariable = "CLUSTER_CLIENT_PORT";

    /// <summary>Environment variable that turns on <see cref="SingleMode"/> when set to <c>1</c> or <c>true</c>.</summary>
    public const string SingleModeEnvironmentVariable = "CLUSTER_CLIENT_SINGLE_MODE";

    /// <summary>The default port when neither the option nor <see cref="PortEnvironmentVariable"/> is set.</summary>
    public const int DefaultPort = 7777;

    /// <summary>Environment variable holding the default <see cref="Secret"/> (its UTF-8 bytes).</summary>
    public const string SecretEnvironmentVariable = "CLUSTER_CLIENT_SECRET";

    /// <summary>Shortest accepted <see cref="Secret"/>, in bytes.</summary>
    public const int MinSecretLength = 16;

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

    /// <summary>
    /// Most follower connections one leader serves. A connection beyond it is told why (a goodbye naming this limit)
    /// and closed; its process keeps retrying and fails its ReadyAsync after <see cref="MaxWaitTime"/> with that reason.
    /// Default 1024.
    /// </summary>
    public int MaxFollowers { get; set; } = 1024;

    /// <summary>
    /// Most invokes one follower may have running on the leader at once. An invoke beyond it gets an error reply
    /// (a <see cref="ClusterRemoteException"/> naming this limit) at once; it is never queued. Default 4096.
    /// </summary>
    public int MaxInflightCallsPerFollower { get; set; } = 4096;

    /// <summary>
    /// Most live subscriptions one follower may hold on the leader. A subscription beyond it is faulted with an error
    /// naming this limit. Default 4096.
    /// </summary>
    public int MaxSubscriptionsPerFollower { get; set; } = 4096;

    /// <summary>
    /// How long the leader waits for a new connection to register its first channel. A connection that has not
    /// (a port scanner, a half-open or slowloris connection) is closed with a logged reason. Default 10 seconds.
    /// </summary>
    public TimeSpan RegistrationTimeout { get; set; } = TimeSpan.FromSeconds(10);

    /// <summary>
    /// Your MessagePack-CSharp settings for arguments, results and subscription values: their <c>Resolver</c> is asked after
    /// the contract's generated formatters and before MessagePack's standard resolver, so custom formatters and resolvers
    /// work in contracts. Security is always <see cref="MessagePackSecurity.UntrustedData"/> (with ClusterClient's own
    /// depth and length limits) and compression is never applied, whatever these options say. Every process sharing the
    /// port must use formatters that agree. Null (the default) means the standard resolver only.
    /// </summary>
    public MessagePackSerializerOptions? SerializerOptions { get; set; }

    /// <summary>Logger for lifecycle events and rejected connections; none by default.</summary>
    public ILogger? Logger { get; set; }

    /// <summary>
    /// Optional shared secret (at least <see cref="MinSecretLength"/> bytes). When set, a follower must prove it knows the
    /// secret before the leader accepts anything from it, and the leader must prove it too (HMAC-SHA256 over fresh nonces;
    /// the secret itself never travels). Every process sharing the port needs the same secret. Defaults to the UTF-8 bytes
    /// of <see cref="SecretEnvironmentVariable"/>; <see cref="UseSecret(string)"/> sets it from a string.
    /// </summary>
    public byte[]? Secret { get; set; } = ReadSecretFromEnvironment();

    /// <summary>How followers reach the leader: loopback TCP (default) or a Unix domain socket.</summary>
    public ClusterTransport Transport { get; set; } = ClusterTransport.Tcp;

    /// <summary>
    /// Path of the Unix domain socket when <see cref="Transport"/> is <see cref="ClusterTransport.UnixSocket"/>. Defaults to
    /// <c>cc-{Port}.sock</c> in <see cref="StateDirectory"/>. Every process sharing the port must use the same path.
    /// </summary>
    public string? SocketPath { get; set; }

    /// <summary>
    /// Directory for the leader lease file (hung-leader replacement) and the default socket path. Defaults to a
    /// per-user directory (mode 0700) under the system temp path. Every process sharing the port must use the same one.
    /// </summary>
    public string? StateDirectory { get; set; }

    /// <summary>
    /// Address the leader listens on with TCP. Loopback by default, so no other machine can connect. Any other address
    /// exposes the leader to the network and therefore requires a <see cref="Secret"/>; it authenticates peers but does
    /// not encrypt the traffic.
    /// </summary>
    public IPAddress BindAddress { get; set; } = IPAddress.Loopback;

    /// <summary>Sets <see cref="Secret"/> to the UTF-8 bytes of <paramref name="secret"/>.</summary>
    /// <param name="secret">The shared secret; at least <see cref="MinSecretLength"/> bytes of UTF-8.</param>
    /// <returns>These options.</returns>
    public ClusterClientOptions UseSecret(string secret)
    {
        ArgumentNullException.ThrowIfNull(secret);
        Secret = Encoding.UTF8.GetBytes(secret);
        return this;
    }

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
        if (Secret is not null && Secret.Length < MinSecretLength)
            throw new ArgumentException($"Secret must be at least {MinSecretLength} bytes (was {Secret.Length}); use a long random value in every process (for example from {SecretEnvironmentVariable}).", nameof(Secret));
        if (!Enum.IsDefined(Transport))
            throw new ArgumentException($"Transport {(int)Transport} is not a ClusterTransport.", nameof(Transport));
        if (Transport == ClusterTransport.UnixSocket && OperatingSystem.IsWindows() && SocketPath is null && StateDirectory is null)
            throw new ArgumentException("Transport UnixSocket on Windows needs an explicit SocketPath or StateDirectory.", nameof(Transport));
        if (SocketPath is not null && (SocketPath.Length == 0 || Encoding.UTF8.GetByteCount(SocketPath) > 100))
            throw new ArgumentException($"SocketPath must be 1 to 100 bytes (Unix socket paths are limited to about 104 bytes); was \"{SocketPath}\".", nameof(SocketPath));
        if (StateDirectory is not null && StateDirectory.Length == 0)
            throw new ArgumentException("StateDirectory must not be empty; leave it null for the per-user default.", nameof(StateDirectory));
        if (BindAddress is null)
            throw new ArgumentException("BindAddress must not be null; use IPAddress.Loopback (the default).", nameof(BindAddress));
        if (!IPAddress.IsLoopback(BindAddress) && Secret is null)
            throw new ArgumentException($"BindAddress {BindAddress} is not a loopback address, so other machines could connect to the leader; set a Secret (or {SecretEnvironmentVariable}) to allow it, or keep the loopback default.", nameof(BindAddress));
        if (MaxFollowers is < 1 or > 65535)
            throw new ArgumentException($"MaxFollowers must be between 1 and 65535 (was {MaxFollowers}).", nameof(MaxFollowers));
        if (MaxInflightCallsPerFollower is < 1 or > 1_000_000)
            throw new ArgumentException($"MaxInflightCallsPerFollower must be between 1 and 1,000,000 (was {MaxInflightCallsPerFollower}).", nameof(MaxInflightCallsPerFollower));
        if (MaxSubscriptionsPerFollower is < 1 or > 1_000_000)
            throw new ArgumentException($"MaxSubscriptionsPerFollower must be between 1 and 1,000,000 (was {MaxSubscriptionsPerFollower}).", nameof(MaxSubscriptionsPerFollower));
        Positive(RegistrationTimeout, nameof(RegistrationTimeout));
        ValidateCluster();
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

    private static byte[]? ReadSecretFromEnvironment()
    {
        var text = Environment.GetEnvironmentVariable(SecretEnvironmentVariable);
        return string.IsNullOrEmpty(text) ? null : Encoding.UTF8.GetBytes(text);
    }

    private static bool ReadSingleModeFromEnvironment()
    {
        var text = Environment.GetEnvironmentVariable(SingleModeEnvironmentVariable);
        return text is not null && (text == "1" || text.Equals("true", StringComparison.OrdinalIgnoreCase));
    }
}
