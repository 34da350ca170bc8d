using System.Globalization;

namespace ClusterSharing.TestHost;

/// <summary>The command line of one worker process; <see cref="Usage"/> lists the flags.</summary>
internal sealed class HostArguments
{
    public int? Port { get; private set; }
    public string? Name { get; private set; }
    public ClusterRole Role { get; private set; } = ClusterRole.Auto;
    public int? MaxWaitMs { get; private set; }
    public int? HeartbeatMs { get; private set; }
    public int? ResponseTimeoutMs { get; private set; }
    public int? ConnectTimeoutMs { get; private set; }
    public int ReadyTimeoutMs { get; private set; } = 60_000;
    public int FactoryFails { get; private set; }
    public string FactoryError { get; private set; } = "The test factory failed on purpose.";
    public string? FactoryFailFile { get; private set; }
    public int? FactoryDelayMs { get; private set; }
    public string? FactoryCode { get; private set; }
    public int? MaxFrameSize { get; private set; }
    public LeaderCallMode? LeaderCalls { get; private set; }
    public bool SingleMode { get; private set; }
    public ProxyGenerationMode? ProxyGeneration { get; private set; }
    public bool Log { get; private set; }
    public bool SecondChannel { get; private set; }
    public string? Secret { get; private set; }
    public ClusterTransport? Transport { get; private set; }
    public string? SocketPath { get; private set; }
    public string? StateDirectory { get; private set; }
    public int? SubscriptionBuffer { get; private set; }
    public string? Etcd { get; private set; }
    public int? EtcdTtlSeconds { get; private set; }
    public string? Redis { get; private set; }
    public int? RedisTtlMs { get; private set; }
    public int? Weight { get; private set; }
    public bool Ineligible { get; private set; }
    public int? Masters { get; private set; }
    public string? ClusterName { get; private set; }
    public System.Net.IPAddress? Bind { get; private set; }
    public bool Open { get; private set; }
    public RemoteErrorDetail? RemoteError { get; private set; }

    public const string Usage =
        "ClusterClient.TestHost --port N [--name S] [--role auto|leader|follower] [--max-wait-ms N] [--heartbeat-ms N] " +
        "[--response-timeout-ms N] [--connect-timeout-ms N] [--ready-timeout-ms N] [--factory-fails N] [--factory-error MSG] " +
        "[--factory-fail-file PATH] [--factory-delay-ms N] [--factory-code CODE] [--max-frame-size N] [--leader-calls direct|same] [--single] [--proxy generated|dynamic|prefer] [--second-channel] [--subscription-buffer N] [--log] " +
        "[--secret S] [--open] [--remote-error typeonly|message|full] [--transport tcp|unix] [--socket-path PATH] [--state-dir DIR] [--etcd URLS] [--etcd-ttl SECONDS] [--redis ENDPOINTS] [--redis-ttl-ms N] [--weight N] [--ineligible] [--masters N] [--cluster NAME] [--bind ADDRESS]";

    public static HostArguments Parse(string[] args)
    {
        var result = new HostArguments();
        for (int i = 0; i < args.Length; i++)
        {
            string flag = args[i];
            string Value() => i + 1 < args.Length ? args[++i] : throw new ArgumentException($"{flag} needs a value. Usage: {Usage}");
            int Number() => int.Parse(Value(), NumberStyles.Integer, CultureInfo.InvariantCulture);
            switch (flag)
            {
                case "--port": result.Port = Number(); break;
                case "--name": result.Name = Value(); break;
                case "--role": result.Role = Enum.Parse<ClusterRole>(Value(), ignoreCase: true); break;
                case "--max-wait-ms": result.MaxWaitMs = Number(); break;
                case "--heartbeat-ms": result.HeartbeatMs = Number(); break;
                case "--response-timeout-ms": result.ResponseTimeoutMs = Number(); break;
                case "--connect-timeout-ms": result.ConnectTimeoutMs = Number(); break;
                case "--ready-timeout-ms": result.ReadyTimeoutMs = Number(); break;
                case "--factory-fails": result.FactoryFails = Number(); break;
                case "--factory-error": result.FactoryError = Value(); break;
                case "--factory-fail-file": result.FactoryFailFile = Value(); break;
                case "--factory-delay-ms": result.FactoryDelayMs = Number(); break;
                case "--factory-code": result.FactoryCode = Value(); break;
                case "--max-frame-size": result.MaxFrameSize = Number(); break;
                case "--leader-calls":
                    result.LeaderCalls = Value().ToLowerInvariant() switch
                    {
                        "direct" => LeaderCallMode.Direct,
                        "same" => LeaderCallMode.SameAsFollowers,
                        var other => throw new ArgumentException($"--leader-calls {other} is not direct or same."),
                    };
                    break;
                case "--single": result.SingleMode = true; break;
                case "--proxy":
                    result.ProxyGeneration = Value().ToLowerInvariant() switch
                    {
                        "generated" => ProxyGenerationMode.AlwaysGenerated,
                        "dynamic" => ProxyGenerationMode.AlwaysDynamic,
                        "prefer" => ProxyGenerationMode.PreferGenerated,
                        var other => throw new ArgumentException($"--proxy {other} is not generated, dynamic or prefer."),
                    };
                    break;
                case "--log": result.Log = true; break;
                case "--second-channel": result.SecondChannel = true; break;
                case "--secret": result.Secret = Value(); break;
                case "--open": result.Open = true; break;
                case "--remote-error": result.RemoteError = Enum.Parse<RemoteErrorDetail>(Value(), ignoreCase: true); break;
                case "--transport":
                    result.Transport = Value().ToLowerInvariant() switch
                    {
                        "tcp" => ClusterTransport.Tcp,
                        "unix" => ClusterTransport.UnixSocket,
                        var other => throw new ArgumentException($"--transport {other} is not tcp or unix."),
                    };
                    break;
                case "--socket-path": result.SocketPath = Value(); break;
                case "--state-dir": result.StateDirectory = Value(); break;
                case "--subscription-buffer": result.SubscriptionBuffer = Number(); break;
                case "--etcd": result.Etcd = Value(); break;
                case "--etcd-ttl": result.EtcdTtlSeconds = Number(); break;
                case "--redis": result.Redis = Value(); break;
                case "--redis-ttl-ms": result.RedisTtlMs = Number(); break;
                case "--weight": result.Weight = Number(); break;
                case "--ineligible": result.Ineligible = true; break;
                case "--masters": result.Masters = Number(); break;
                case "--cluster": result.ClusterName = Value(); break;
                case "--bind": result.Bind = System.Net.IPAddress.Parse(Value()); break;
                default: throw new ArgumentException($"Unknown argument '{flag}'. Usage: {Usage}");
            }
        }
        if (result.Port is null && !result.SingleMode)
            throw new ArgumentException($"--port is required (or --single). Usage: {Usage}");
        return result;
    }

    public void Apply(ClusterClientOptions options) => Apply(options, Name);

    /// <summary>Options for the second channel: the same cluster settings under the contract's own name.</summary>
    public void ApplySecondChannel(ClusterClientOptions options) => Apply(options, name: null);

    private void Apply(ClusterClientOptions options, string? name)
    {
        if (Port is { } port) options.Port = port;
        if (name is not null) options.Name = name;
        options.Role = Role;
        if (MaxWaitMs is { } maxWait) options.MaxWaitTime = TimeSpan.FromMilliseconds(maxWait);
        if (HeartbeatMs is { } heartbeat) options.HeartbeatInterval = TimeSpan.FromMilliseconds(heartbeat);
        if (ResponseTimeoutMs is { } response) options.ResponseTimeout = TimeSpan.FromMilliseconds(response);
        if (ConnectTimeoutMs is { } connect) options.ConnectTimeout = TimeSpan.FromMilliseconds(connect);
        if (ProxyGeneration is { } mode) options.ProxyGeneration = mode;
        options.SingleMode = SingleMode;
        if (Secret is not null) options.UseSecret(Secret);
        if (Open) options.Security = ClusterSecurity.Open;
        if (RemoteError is { } detail) options.RemoteErrorDetail = detail;
        if (LeaderCalls is { } leaderCalls) options.LeaderCalls = leaderCalls;
        if (MaxFrameSize is { } maxFrame)
        {
            options.MaxFrameSize = maxFrame;
            options.MaxHeaderSize = Math.Min(options.MaxHeaderSize, maxFrame / 2);
        }
        if (Transport is { } transport) options.Transport = transport;
        if (SocketPath is not null) options.SocketPath = SocketPath;
        if (StateDirectory is not null) options.StateDirectory = StateDirectory;
        if (SubscriptionBuffer is { } buffer) options.SubscriptionBufferSize = buffer;
        if (Bind is not null) options.BindAddress = Bind;
        if (Weight is { } weight) options.Weight = weight;
        if (Ineligible) options.Eligible = false;
        if (Masters is { } masters) options.MastersRequired = masters;
        if (Etcd is not null)
        {
            options.UseEtcd(Etcd, e =>
            {
                if (ClusterName is not null) e.ClusterName = ClusterName;
                if (EtcdTtlSeconds is { } ttl) e.LeaseTtl = TimeSpan.FromSeconds(ttl);
            });
        }
        if (Redis is not null)
        {
            options.UseRedis(Redis, r =>
            {
                if (ClusterName is not null) r.ClusterName = ClusterName;
                if (RedisTtlMs is { } ttl) r.LeaseTtl = TimeSpan.FromMilliseconds(ttl);
            });
        }
        if (Log) options.Logger = new StderrLogger();
    }
}
