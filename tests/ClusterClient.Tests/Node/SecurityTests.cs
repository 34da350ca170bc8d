using System.Buffers;
using System.Buffers.Binary;
using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using ClusterSharing.Coordination.Local;
using ClusterSharing.Leader;
using ClusterSharing.Protocol;
using ClusterSharing.Proxies;
using ClusterSharing.Serialization;
using ClusterSharing.Transport;
using ClusterSharing.Tests.Leader;
using MessagePack;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace ClusterSharing.Tests.Node;

/// <summary>
/// Secure defaults in one process (docs/security.md): the verified state directory and per-user secret, socket cleanup,
/// remote error detail, subscription limits keyed like the hub, the pre-authentication frame limit and the receive
/// budget, epoch range checks and rate-limited rejection logs. The multi-user suite repeats the attacks as another user.
/// </summary>
[System.Runtime.Versioning.UnsupportedOSPlatform("windows")]
public sealed class SecurityTests
{
    private static readonly TimeSpan Wait = TimeSpan.FromSeconds(20);

    private static string NewDirectory() => Directory.CreateTempSubdirectory("cc-sec-").FullName;

    private static ClusterClientOptions OptionsIn(string directory) => new() { Port = TestCluster.FreePort(), SingleMode = false, StateDirectory = directory };

    [Fact]
    public void A_state_directory_that_is_a_link_or_writable_by_others_is_refused_naming_it()
    {
        string root = NewDirectory();
        try
        {
            string target = Directory.CreateDirectory(Path.Combine(root, "target")).FullName;
            string link = Path.Combine(root, "link");
            Directory.CreateSymbolicLink(link, target);
            var linked = Assert.Throws<ClusterClientException>(() => new global::ClusterSharing.Node.ClusterNode(OptionsIn(link)));
            Assert.Contains(link, linked.Message);
            Assert.Contains("symbolic link", linked.Message);

            File.SetUnixFileMode(target, (UnixFileMode)0x1FF); // 0777
            var open = Assert.Throws<ClusterClientException>(() => new global::ClusterSharing.Node.ClusterNode(OptionsIn(target)));
            Assert.Contains(target, open.Message);
            Assert.Contains("0777", open.Message);
        }
        finally
        {
            Directory.Delete(root, recursive: true);
        }
    }

    [RootFact]
    public void A_state_directory_owned_by_another_user_is_refused_naming_it_and_its_owner()
    {
        string planted = NewDirectory();
        try
        {
            Chown(planted, 54321);
            var error = Assert.Throws<ClusterClientException>(() => new global::ClusterSharing.Node.ClusterNode(OptionsIn(planted)));
            Assert.Contains(planted, error.Message);
            Assert.Contains("belongs to uid 54321", error.Message);
        }
        finally
        {
            Directory.Delete(planted, recursive: true);
        }
    }

    [Fact]
    public async Task Two_nodes_of_one_user_authenticate_with_the_per_user_secret_created_once_with_mode_0600()
    {
        await using var cluster = new TestCluster();
        var (_, leader) = cluster.Start();
        await leader.ReadyAsync();
        var (_, follower) = cluster.Start();
        await follower.ReadyAsync();
        Assert.Equal(await leader.Client.WhoAmIAsync(), await follower.Client.WhoAmIAsync());

        string path = Path.Combine(cluster.StateDirectory, StateDirectory.SecretFileName);
        Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(path));
        byte[] secret = File.ReadAllBytes(path);
        Assert.Equal(32, secret.Length);
        Assert.Equal(secret, StateDirectory.PeerSecret(cluster.Options()));
        Assert.Null(StateDirectory.PeerSecret(cluster.Options(o => o.Security = ClusterSecurity.Open)));
        Assert.Single(Directory.GetFiles(cluster.StateDirectory, "secret*")); // no temporary file left behind
    }

    [Fact]
    public void A_secret_file_other_users_can_read_or_a_link_in_its_place_is_refused()
    {
        string directory = NewDirectory();
        try
        {
            var options = OptionsIn(directory);
            string path = Path.Combine(directory, StateDirectory.SecretFileName);
            StateDirectory.UserSecret(options);
            File.SetUnixFileMode(path, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.OtherRead);
            var readable = Assert.Throws<ClusterClientException>(() => StateDirectory.UserSecret(options));
            Assert.Contains(path, readable.Message);
            Assert.Contains("lets other users read it", readable.Message);

            File.Delete(path);
            File.CreateSymbolicLink(path, "/etc/hostname");
            var linked = Assert.Throws<ClusterClientException>(() => StateDirectory.UserSecret(options));
            Assert.Contains("not a regular file", linked.Message);
        }
        finally
        {
            Directory.Delete(directory, recursive: true);
        }
    }

    [Fact]
    public void Passphrases_are_stretched_and_short_ones_refused()
    {
        var options = new ClusterClientOptions().UseSecret("a passphrase of reasonable length");
        Assert.Equal(32, options.Secret!.Length);
        Assert.Equal(options.Secret, new ClusterClientOptions().UseSecret("a passphrase of reasonable length").Secret);
        Assert.NotEqual(System.Text.Encoding.UTF8.GetBytes("a passphrase of reasonable length")[..32], options.Secret);
        Assert.Contains("at least 16 bytes", Assert.Throws<ArgumentException>(() => new ClusterClientOptions().UseSecret("short")).Message);
        var contradiction = new ClusterClientOptions { Security = ClusterSecurity.Open, Secret = new byte[32] };
        Assert.Contains("Security is Open but a Secret is set", Assert.Throws<ArgumentException>(contradiction.Validate).Message);
    }

    [Fact]
    public async Task A_regular_file_at_SocketPath_survives_and_is_not_mistaken_for_a_stale_socket()
    {
        await using var cluster = new TestCluster();
        string path = Path.Combine(cluster.StateDirectory, "data.sock");
        File.WriteAllText(path, "precious data");
        var (_, node) = cluster.Start(configure: o =>
        {
            o.Transport = ClusterTransport.UnixSocket;
            o.SocketPath = path;
            o.MaxWaitTime = TimeSpan.FromMilliseconds(1500);
        });
        await Assert.ThrowsAsync<ClusterClientException>(() => node.ReadyAsync());
        Assert.Equal("precious data", File.ReadAllText(path));
    }

    [Theory]
    [InlineData(RemoteErrorDetail.TypeOnly)]
    [InlineData(RemoteErrorDetail.Message)]
    [InlineData(RemoteErrorDetail.Full)]
    public async Task Remote_errors_carry_only_what_RemoteErrorDetail_allows(RemoteErrorDetail detail)
    {
        await using var cluster = new TestCluster();
        var (_, leader) = cluster.Start(configure: o => o.RemoteErrorDetail = detail);
        await leader.ReadyAsync();
        var (_, follower) = cluster.Start();
        await follower.ReadyAsync();

        var error = await Assert.ThrowsAsync<ClusterRemoteException>(() => follower.Client.FailAsync("secret internals"));
        Assert.Equal(typeof(InvalidOperationException).FullName, error.RemoteType);
        Assert.Equal(detail == RemoteErrorDetail.TypeOnly ? RemoteError.WithheldMessage : "secret internals", error.RemoteMessage);
        if (detail == RemoteErrorDetail.Full) Assert.Contains(nameof(Calculator), error.RemoteStackTrace);
        else Assert.Null(error.RemoteStackTrace);
    }

    [Fact]
    public async Task One_topic_in_four_encodings_is_one_real_subscription_and_a_reused_id_with_new_bytes_is_refused()
    {
        Calculator? real = null;
        await using var cluster = new TestCluster();
        var (_, leader) = cluster.Start(() => real = new Calculator());
        await leader.ReadyAsync();
        await using var raw = await LimitsTests.RawFollower.ConnectAndRegisterAsync(cluster, leader.Name);

        // "t1" as fixstr, str8, str16 and str32: four byte strings, one value.
        byte[][] encodings = [[0xa2, .. "t1"u8], [0xd9, 2, .. "t1"u8], [0xda, 0, 2, .. "t1"u8], [0xdb, 0, 0, 0, 2, .. "t1"u8]];
        for (int i = 0; i < encodings.Length; i++)
            raw.Connection.Send(PacketType.Subscribe, 0, new SubscriptionHeader(1, 1, CalculatorContract.SubscribeTopic.Id, i + 1), encodings[i]);
        await TestCluster.WaitUntilAsync(() => real!.ListenerCount("t1") == 1, "the real subscription");
        await Task.Delay(500); // the later encodings had time to make more real subscriptions: they did not
        Assert.Equal(1, real!.ListenerCount("t1"));

        raw.Subscribe(PacketType.Subscribe, 1, "t2"); // id 1 is live with "t1"
        Assert.Contains("already live with another registration", await raw.SubscriptionFaultAsync(1));
        Assert.Equal(0, real!.ListenerCount("t2"));
    }

    [Fact]
    public async Task A_cancelled_call_that_keeps_running_keeps_its_in_flight_slot_until_it_finishes()
    {
        await using var cluster = new TestCluster();
        var (_, leader) = cluster.Start(configure: o => o.MaxInflightCallsPerFollower = 1);
        await leader.ReadyAsync();
        await using var raw = await LimitsTests.RawFollower.ConnectAndRegisterAsync(cluster, leader.Name);

        // SlowWhoAmIAsync(2000) ignores cancellation: after the cancel packet the real call still runs for 2 s.
        raw.Connection.Send(PacketType.Invoke, 10, new CallHeader(1, 1, CalculatorContract.SlowWhoAmI.Id), [0x91, 0xcd, 0x07, 0xd0]);
        await Task.Delay(200);
        raw.Connection.Send(PacketType.Cancel, 10, new EpochHeader(1));
        raw.Connection.Send(PacketType.Invoke, 11, new CallHeader(1, 1, CalculatorContract.Add.Id), [0x92, 0x01, 0x02]);
        Assert.Contains("MaxInflightCallsPerFollower (1)", await raw.ReplyToAsync(11));

        string answer = "";
        for (int attempt = 0; attempt < 300 && answer != "ok"; attempt++)
        {
            await Task.Delay(50);
            raw.Connection.Send(PacketType.Invoke, 100 + attempt, new CallHeader(1, 1, CalculatorContract.Add.Id), [0x92, 0x01, 0x02]);
            answer = await raw.ReplyToAsync(100 + attempt);
        }
        Assert.Equal("ok", answer); // once the real call finished, its slot was given back
    }

    [Fact]
    public async Task Registration_bytes_per_follower_are_capped()
    {
        await using var cluster = new TestCluster();
        var (_, leader) = cluster.Start(configure: o => o.MaxRegistrationBytesPerFollower = 1024);
        await leader.ReadyAsync();
        await using var raw = await LimitsTests.RawFollower.ConnectAndRegisterAsync(cluster, leader.Name);
        raw.Subscribe(PacketType.Subscribe, 1, new string('a', 600));
        raw.Subscribe(PacketType.Subscribe, 2, new string('b', 600));
        Assert.Contains("MaxRegistrationBytesPerFollower (1024)", await raw.SubscriptionFaultAsync(2));
    }

    [Fact]
    public void Idle_keys_are_bounded_per_channel_and_charged_to_their_creator()
    {
        var method = new ClusterMethod(1, "Subscribe", "void Subscribe(System.String,System.Action<System.Int32>)", ClusterMethodKind.Subscribe);
        // A listener subscription with no paired unsubscribe: the real listener cannot be removed, so its key stays idle.
        var hub = new SubscriptionHub("test", id => id == 1 ? method : null, (_, _, _) => new Action<int>(_ => { }), (_, _, _) => false, (_, _) => false, NullLogger.Instance);
        hub.Activate();
        object creator = new(), other = new();
        Assert.True(hub.Add(1, [0xa1, (byte)'a'], new Probe(creator, 1), maxIdleKeys: 1));
        Assert.True(hub.Remove(1, [0xa1, (byte)'a'], creator, 1)); // idle, and charged to its creator
        Assert.Equal(1, hub.IdleCount);

        var refused = new Probe(other, 7);
        Assert.False(hub.Add(1, [0xa1, (byte)'b'], refused, maxIdleKeys: 1)); // a second idle-prone key: refused
        Assert.Contains("MaxIdleSubscriptionsPerChannel 1", refused.Error!.Message);
        Assert.True(hub.Add(1, [0xa1, (byte)'a'], new Probe(other, 8), maxIdleKeys: 1)); // reusing the idle key is fine
        Assert.Equal(0, hub.IdleCount);

        var quota = new SubscriptionQuota(maxSubscriptions: 2, maxBytes: 1024);
        Assert.Null(quota.TryAdd(1, 1, 1, [0xa1, (byte)'a']));
        quota.ChargeIdle(quota.Remove(1, 1, 1)!);
        Assert.Null(quota.TryAdd(1, 1, 2, [0xa1, (byte)'b']));
        Assert.Contains("MaxSubscriptionsPerFollower (2)", quota.TryAdd(1, 1, 3, [0xa1, (byte)'c']));
    }

    private sealed class Probe(object owner, long id) : ISubscriber
    {
        public Exception? Error;

        public object? Owner => owner;

        public long SubscriptionId => id;

        public void Deliver(ReadOnlySpan<byte> value)
        {
        }

        public void Complete(Exception? error) => Error = error;

        public void Attached()
        {
        }
    }

    [Fact]
    public void Canonical_registration_re_encodes_every_value_in_its_smallest_form()
    {
        byte[] wide = [0x93, 0xcd, 0x00, 0x05, 0xda, 0x00, 0x01, (byte)'x', 0xd7, 0xff, 0, 0, 0, 0, 0, 0, 0, 9];
        byte[] canonical = CanonicalRegistration.Of(wide);
        Assert.Equal(new byte[] { 0x93, 0x05, 0xa1, (byte)'x', 0xd6, 0xff, 0, 0, 0, 9 }, canonical);
        Assert.Throws<MessagePackSerializationException>(() => CanonicalRegistration.Of(new byte[] { 0xc1 }));
    }

    [Fact]
    public async Task Before_authentication_a_frame_over_4_KiB_closes_the_connection_but_followers_send_large_ones()
    {
        await using var cluster = new TestCluster();
        var (_, leader) = cluster.Start();
        await leader.ReadyAsync();

        using var stranger = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        await stranger.ConnectAsync(IPAddress.Loopback, cluster.Port);
        var header = new byte[FrameHeader.Size];
        new FrameHeader(PacketType.Heartbeat, 1, 0, 8, 1_000_000).Write(header);
        await stranger.SendAsync(header);
        await AssertClosedAsync(stranger);

        var (_, follower) = cluster.Start();
        await follower.ReadyAsync();
        string large = new('x', 200_000);
        Assert.Equal(large, await follower.Client.EchoAsync(large));
    }

    [Fact]
    public async Task A_connection_whose_partial_frame_would_pass_the_receive_budget_is_closed()
    {
        await using var cluster = new TestCluster();
        // Open, so plain sockets can register; the budget applies to every connection alike.
        var (_, leader) = cluster.Start(configure: o => { o.Security = ClusterSecurity.Open; o.MaxFrameSize = 1024 * 1024; o.MaxBufferedReceiveBytes = 1024 * 1024; o.HeartbeatInterval = TimeSpan.FromSeconds(5); });
        await leader.ReadyAsync();
        using var first = await RegisteredSocketAsync(cluster.Port, leader.Name);
        using var second = await RegisteredSocketAsync(cluster.Port, leader.Name);

        // Each announces a 900 KB invoke and sends 600 KB of it: the two together do not fit in 1 MiB.
        var partial = new byte[FrameHeader.Size + 600_000];
        new FrameHeader(PacketType.Invoke, 5, 0, 8, 900_000).Write(partial);
        await first.SendAsync(partial);
        await Task.Delay(1000);
        try
        {
            await second.SendAsync(partial);
        }
        catch (SocketException)
        {
            // Reset while sending: closed.
        }
        await AssertClosedAsync(second);
        Assert.True(first.Connected);
        Assert.False(first.Poll(0, SelectMode.SelectRead)); // no EOF: the first is still open
    }

    private static async Task<Socket> RegisteredSocketAsync(int port, string channel)
    {
        var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        await socket.ConnectAsync(IPAddress.Loopback, port);
        var frame = new ArrayBufferWriter<byte>();
        uint fingerprint = CalculatorContract.Instance.Fingerprint;
        FrameWriter.WriteFrame(frame, PacketType.RegisterChannel, 1, new RegisterChannelHeader(0, channel, fingerprint, 1), ReadOnlySpan<byte>.Empty, ProtocolLimits.Default);
        await socket.SendAsync(frame.WrittenMemory);
        var buffer = new byte[4096];
        using var timeout = new CancellationTokenSource(Wait);
        await socket.ReceiveAsync(buffer, SocketFlags.None, timeout.Token); // the registration result
        return socket;
    }

    [Fact]
    public async Task A_handshake_epoch_outside_the_range_closes_the_connection_and_the_epoch_stays_sane()
    {
        Assert.Throws<ProtocolException>(() => Epochs.Check(long.MaxValue, "test"));
        Assert.Throws<ProtocolException>(() => Epochs.Check(-1, "test"));
        Assert.Equal(8, Epochs.Next(7));

        await using var cluster = new TestCluster();
        var (node, leader) = cluster.Start(configure: o => o.Security = ClusterSecurity.Open);
        await leader.ReadyAsync();
        await using var forger = await FrameConnection.ConnectAsync(new IPEndPoint(IPAddress.Loopback, cluster.Port));
        var run = forger.RunAsync(_ => default);
        forger.Send(PacketType.Heartbeat, 1, new HeartbeatHeader(long.MaxValue, 1));
        await run.WaitAsync(Wait);
        Assert.InRange(node.Epoch, 1, Epochs.Max);
        Assert.Equal(3, await leader.Client.AddAsync(1, 2));
    }

    [Fact]
    public async Task Rejection_warnings_are_rate_limited_and_name_the_peer_user()
    {
        var log = new CountingLogger();
        await using var cluster = new TestCluster();
        var (_, leader) = cluster.Start(configure: o => o.Logger = log);
        await leader.ReadyAsync();
        for (int i = 0; i < 60; i++)
        {
            await using var forger = await FrameConnection.ConnectAsync(new IPEndPoint(IPAddress.Loopback, cluster.Port));
            var run = forger.RunAsync(frame =>
            {
                if (frame.Type == PacketType.AuthChallenge) forger.Send(PacketType.AuthResponse, frame.RequestId, new AuthHeader(0, new byte[64]));
                return default;
            });
            forger.Send(PacketType.Heartbeat, 1, new HeartbeatHeader(0, 1));
            await run.WaitAsync(Wait);
        }
        await TestCluster.WaitUntilAsync(() => log.Warnings.Count >= RejectionLimiter.Burst, "the first rejections to be logged");
        await Task.Delay(200);
        Assert.InRange(log.Warnings.Count, RejectionLimiter.Burst, RejectionLimiter.Burst + 1);
        if (OperatingSystem.IsLinux()) Assert.Contains(log.Warnings, w => w.Contains("uid ", StringComparison.Ordinal));
    }

    [Fact]
    public async Task A_leader_that_cannot_bind_its_pulse_port_says_so()
    {
        var log = new CountingLogger();
        await using var cluster = new TestCluster();
        using var squatter = new Socket(AddressFamily.InterNetwork, SocketType.Dgram, ProtocolType.Udp);
        squatter.Bind(new IPEndPoint(IPAddress.Loopback, cluster.Port));
        var (_, leader) = cluster.Start(configure: o => o.Logger = log);
        await leader.ReadyAsync();
        await TestCluster.WaitUntilAsync(() => { lock (log.Warnings) return log.Warnings.Any(w => w.Contains($"UDP pulse port {cluster.Port} is taken", StringComparison.Ordinal)); }, "the pulse warning");
    }

    private sealed class CountingLogger : ILogger
    {
        public List<string> Warnings { get; } = new();

        public IDisposable? BeginScope<TState>(TState state) where TState : notnull => null;

        public bool IsEnabled(LogLevel logLevel) => true;

        public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
        {
            if (logLevel < LogLevel.Warning) return;
            lock (Warnings) Warnings.Add(formatter(state, exception));
        }
    }

    private static async Task AssertClosedAsync(Socket socket)
    {
        var buffer = new byte[256];
        using var timeout = new CancellationTokenSource(Wait);
        try
        {
            while (await socket.ReceiveAsync(buffer, SocketFlags.None, timeout.Token) > 0) { }
        }
        catch (SocketException)
        {
            // Reset: closed as well.
        }
    }

    private static void Chown(string path, int uid)
    {
        using var chown = Process.Start(new ProcessStartInfo("chown", [uid.ToString(System.Globalization.CultureInfo.InvariantCulture), path]) { UseShellExecute = false })!;
        Assert.True(chown.WaitForExit(10_000) && chown.ExitCode == 0, $"chown {uid} {path} failed");
    }
}

/// <summary>A fact that needs root (it changes file owners); skipped with that reason otherwise.</summary>
public sealed class RootFactAttribute : FactAttribute
{
    public RootFactAttribute()
    {
        if (!OperatingSystem.IsLinux() || !Environment.IsPrivilegedProcess) Skip = "needs root on Linux to give a directory to another uid (CI runs as root)";
    }
}
