using System.Collections.Concurrent;
using System.Net;
using System.Security.Cryptography;
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

    /// <summary>Shortest accepted <see cref="Secret"/>, in bytes (and shortest passphrase for <see cref="UseSecret(string)"/>).</summary>
    public const int MinSecretLength = 16;

    /// <summary>
    /// PBKDF2-HMAC-SHA256 iterations applied to a passphrase (<see cref="UseSecret(string)"/>, <see cref="SecretEnvironmentVariable"/>),
    /// so a guess costs an attacker this many HMACs instead of one.
    /// </summary>
    public const int PassphraseIterations = 600_000;

    private static readonly ConcurrentDictionary<string, byte[]> StretchedPassphrases = new(StringComparer.Ordinal);

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

    /// <summary>Logger for lifecycle events and rejected connections; none by default. See also <see cref="LoggerFactory"/>.</summary>
    public ILogger? Logger { get; set; }

    /// <summary>
    /// Optional logger factory: when set (and <see cref="Logger"/> is not), each room of the runtime logs under its own
    /// category, so log filters can tell them apart: <c>ClusterSharing.Node</c> (election loop, roles, channels),
    /// <c>ClusterSharing.Coordination</c> (the election engine), <c>ClusterSharing.Leader</c> (the server and its
    /// follower sessions), <c>ClusterSharing.Follower</c> (the connection to the leader) and
    /// <c>ClusterSharing.Proxies</c>. When <see cref="Logger"/> is set it is used for every room. ClusterClient.Hosting
    /// sets this from DI's <c>ILoggerFactory</c>.
    /// </summary>
    public ILoggerFactory? LoggerFactory { get; set; }

    /// <summary>The logger for one room: <see cref="Logger"/> when set, else a logger of <see cref="LoggerFactory"/> with that room's category, else null.</summary>
    /// <param name="room">The room's name, e.g. <c>Leader</c>; the category is <c>ClusterSharing.</c> followed by it.</param>
    public ILogger? LoggerFor(string room) => Logger ?? LoggerFactory?.CreateLogger("ClusterSharing." + room);

    /// <summary>
    /// Optional shared secret: at least <see cref="MinSecretLength"/> random bytes, used as the HMAC key as given. Every peer
    /// must prove it knows the secret, the leader first (HMAC-SHA256 over fresh nonces; the secret itself never travels).
    /// Every process sharing the port needs the same secret. When null (and <see cref="Security"/> is
    /// <see cref="ClusterSecurity.Authenticated"/>), a random per-user secret in <see cref="StateDirectory"/> is used, so
    /// processes of one user need no configuration. Defaults to <see cref="SecretEnvironmentVariable"/>, read as a passphrase
    /// (see <see cref="UseSecret(string)"/>).
    /// </summary>
    public byte[]? Secret { get; set; } = ReadSecretFromEnvironment();

    /// <summary>
    /// Whether peers must authenticate (the default) or anyone reaching the port may join (<see cref="ClusterSecurity.Open"/>,
    /// Node cluster-client's behaviour). See docs/security.md before opening it.
    /// </summary>
    public ClusterSecurity Security { get; set; } = ClusterSecurity.Authenticated;

    /// <summary>
    /// How this process's own calls reach the real client while it leads. Default <see cref="LeaderCallMode.Direct"/>
    /// (the real client is called directly; its exceptions arrive as thrown). <see cref="LeaderCallMode.SameAsFollowers"/>
    /// gives every role one shape: a real-client exception is a <see cref="ClusterRemoteException"/> everywhere and
    /// values come back as a follower receives them. A channel takes it from the first handle opened on it.
    /// </summary>
    public LeaderCallMode LeaderCalls { get; set; } = LeaderCallMode.Direct;

    /// <summary>How much of a real client's exception a follower receives. Default <see cref="RemoteErrorDetail.Message"/> (no stack trace).</summary>
    public RemoteErrorDetail RemoteErrorDetail { get; set; } = RemoteErrorDetail.Message;

    /// <summary>
    /// Registration bytes (the encoded first argument of subscriptions) one follower may hold on the leader in total.
    /// A subscription beyond it is faulted with an error naming this limit. Default 4 MiB.
    /// </summary>
    public int MaxRegistrationBytesPerFollower { get; set; } = 4 * 1024 * 1024;

    /// <summary>
    /// Idle subscription keys a channel keeps on the leader: keys whose last subscriber left but whose real subscription
    /// cannot be undone (a listener subscribe with no paired unsubscribe member). Each also counts against its creator's
    /// <see cref="MaxSubscriptionsPerFollower"/> while it is connected. Past this bound a follower's subscription that would
    /// add such a key is faulted. Default 1024.
    /// </summary>
    public int MaxIdleSubscriptionsPerChannel { get; set; } = 1024;

    /// <summary>
    /// Bytes of incomplete frames the leader buffers across all its connections at once. A connection whose partial frame
    /// would exceed it is closed with a logged reason. Before a connection has authenticated and registered a channel,
    /// its frames are further limited to <see cref="PreAuthenticationFrameSize"/>. Default 256 MiB.
    /// </summary>
    public long MaxBufferedReceiveBytes { get; set; } = 256L * 1024 * 1024;

    /// <summary>Largest frame the leader accepts from a connection that has not authenticated and registered yet (4 KiB).</summary>
    public const int PreAuthenticationFrameSize = 4096;

    /// <summary>How followers reach the leader: loopback TCP (default) or a Unix domain socket.</summary>
    public ClusterTransport Transport { get; set; } = ClusterTransport.Tcp;

    /// <summary>
    /// Path of the Unix domain socket when <see cref="Transport"/> is <see cref="ClusterTransport.UnixSocket"/>. Defaults to
    /// <c>cc-{Port}.sock</c> in <see cref="StateDirectory"/>. Every process sharing the port must use the same path.
    /// </summary>
    public string? SocketPath { get; set; }

    /// <summary>
    /// Directory for the leader lease file (hung-leader replacement), the per-user secret and the default socket path.
    /// Defaults to <c>$XDG_RUNTIME_DIR/clusterclient</c>, else <c>clusterclient-{uid}</c> under the system temp path. It
    /// must be a real directory (not a symbolic link) owned by this user with no access for others (0700, set when it
    /// is created); anything else fails <c>Create</c> with an error naming it. Every process sharing the port must use the same one.
    /// </summary>
    public string? StateDirectory { get; set; }

    /// <summary>
    /// Address the leader listens on with TCP. Loopback by default, so no other machine can connect. Any other address
    /// exposes the leader to the network and therefore requires a <see cref="Secret"/>; it authenticates peers but does
    /// not encrypt the traffic.
    /// </summary>
    public IPAddress BindAddress { get; set; } = IPAddress.Loopback;

    /// <summary>
    /// Sets <see cref="Secret"/> from a passphrase, stretched with PBKDF2-HMAC-SHA256 (<see cref="PassphraseIterations"/>
    /// iterations, a fixed ClusterClient salt) into a 32-byte key, so an attacker who observes a handshake pays that many
    /// HMACs per guess. Every process must use the same passphrase. Stretching takes a fraction of a second once per
    /// process and passphrase.
    /// </summary>
    /// <param name="secret">The passphrase; at least <see cref="MinSecretLength"/> bytes of UTF-8.</param>
    /// <returns>These options.</returns>
    /// <exception cref="ArgumentException">The passphrase is shorter than <see cref="MinSecretLength"/> bytes.</exception>
    public ClusterClientOptions UseSecret(string secret)
    {
        ArgumentNullException.ThrowIfNull(secret);
        if (Encoding.UTF8.GetByteCount(secret) < MinSecretLength)
            throw new ArgumentException($"A secret passphrase must be at least {MinSecretLength} bytes of UTF-8 (was {Encoding.UTF8.GetByteCount(secret)}); use a long random value in every process.", nameof(secret));
        Secret = Stretch(secret);
        return this;
    }

    /// <summary>PBKDF2 of a passphrase, computed once per process and passphrase.</summary>
    private static byte[] Stretch(string passphrase) =>
        (byte[])StretchedPassphrases.GetOrAdd(passphrase, static p =>
            Rfc2898DeriveBytes.Pbkdf2(Encoding.UTF8.GetBytes(p), "ClusterClient/2 passphrase"u8, PassphraseIterations, HashAlgorithmName.SHA256, 32)).Clone();

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
        // A frame holds the 24-byte frame header plus the header object, so the header object must leave room for it.
        if (MaxHeaderSize < 64 || MaxHeaderSize > MaxFrameSize - 24)
            throw new ArgumentException($"MaxHeaderSize must be between 64 bytes and MaxFrameSize minus the 24-byte frame header ({MaxFrameSize - 24}) (was {MaxHeaderSize}); lower it when you lower MaxFrameSize.", nameof(MaxHeaderSize));
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
        if (!Enum.IsDefined(Security))
            throw new ArgumentException($"Security {(int)Security} is not a ClusterSecurity.", nameof(Security));
        if (Security == ClusterSecurity.Open && Secret is not null)
            throw new ArgumentException($"Security is Open but a Secret is set (perhaps from {SecretEnvironmentVariable}); an open cluster uses no secret. Remove one of them.", nameof(Security));
        if (!Enum.IsDefined(LeaderCalls))
            throw new ArgumentException($"LeaderCalls {(int)LeaderCalls} is not a LeaderCallMode.", nameof(LeaderCalls));
        if (!Enum.IsDefined(RemoteErrorDetail))
            throw new ArgumentException($"RemoteErrorDetail {(int)RemoteErrorDetail} is not a RemoteErrorDetail.", nameof(RemoteErrorDetail));
        if (!IPAddress.IsLoopback(BindAddress) && Secret is null)
            throw new ArgumentException($"BindAddress {BindAddress} is not a loopback address, so other machines could connect to the leader; set a Secret (or {SecretEnvironmentVariable}) shared by every machine, or keep the loopback default.", nameof(BindAddress));
        if (MaxRegistrationBytesPerFollower < 1024)
            throw new ArgumentException($"MaxRegistrationBytesPerFollower must be at least 1024 (was {MaxRegistrationBytesPerFollower}).", nameof(MaxRegistrationBytesPerFollower));
        if (MaxIdleSubscriptionsPerChannel < 0)
            throw new ArgumentException($"MaxIdleSubscriptionsPerChannel must not be negative (was {MaxIdleSubscriptionsPerChannel}).", nameof(MaxIdleSubscriptionsPerChannel));
        if (MaxBufferedReceiveBytes < MaxFrameSize)
            throw new ArgumentException($"MaxBufferedReceiveBytes must be at least MaxFrameSize ({MaxFrameSize}) (was {MaxBufferedReceiveBytes}).", nameof(MaxBufferedReceiveBytes));
        if (MaxFollowers is < 1 or > 65535)
            throw new ArgumentException($"MaxFollowers must be between 1 and 65535 (was {MaxFollowers}).", nameof(MaxFollowers));
        if (MaxInflightCallsPerFollower is < 1 or > 1_000_000)
            throw new ArgumentException($"MaxInflightCallsPerFollower must be between 1 and 1,000,000 (was {MaxInflightCallsPerFollower}).", nameof(MaxInflightCallsPerFollower));
        if (MaxSubscriptionsPerFollower is < 1 or > 1_000_000)
            throw new ArgumentException($"MaxSubscriptionsPerFollower must be between 1 and 1,000,000 (was {MaxSubscriptionsPerFollower}).", nameof(MaxSubscriptionsPerFollower));
        if (MastersRequired is < 1 or > 1000)
            throw new ArgumentException($"MastersRequired must be between 1 and 1000 (was {MastersRequired}).", nameof(MastersRequired));
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
        if (string.IsNullOrEmpty(text)) return null;
        // Too short to stretch: kept as is, so Validate names the problem.
        return Encoding.UTF8.GetByteCount(text) < MinSecretLength ? Encoding.UTF8.GetBytes(text) : Stretch(text);
    }

    private static bool ReadSingleModeFromEnvironment()
    {
        var text = Environment.GetEnvironmentVariable(SingleModeEnvironmentVariable);
        return text is not null && (text == "1" || text.Equals("true", StringComparison.OrdinalIgnoreCase));
    }
}
