// A hostile local client for the multi-user tests: run as another user, it attacks a ClusterClient cluster with
// hand-written frames and prints what happened as one JSON object per line on stdout. Every mode is bounded in time.
//
//   join PORT CHANNEL          handshake, answer a challenge with a forged proof, register CHANNEL, invoke: did anything run?
//   bigframe PORT COUNT        COUNT connections each announce a 15.9 MiB frame and send up to 2 MiB of it
//   squat PORT SECONDS         listen on PORT as a fake leader: accept the handshake, registrations and invokes
//   epoch PORT                 a handshake with epoch long.MaxValue
//   junk PORT COUNT            COUNT connections that each send one garbage frame
//   oracle PORT SECONDS STYLE  a fake leader fishing for a proof to attack offline: STYLE spake (a share, then a forged
//                              leader proof) or nonce (the older 32-byte challenge); what did the victims send back?
//   pulse PORT SECONDS         hold the UDP pulse port: echo every pulse back and answer it with a guessed token
using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using System.Text.Json;
using ClusterSharing.Protocol;
using ClusterSharing.Transport;

var mode = args.Length > 0 ? args[0] : "";
int port = args.Length > 1 ? int.Parse(args[1], System.Globalization.CultureInfo.InvariantCulture) : 0;
using var deadline = new CancellationTokenSource(TimeSpan.FromSeconds(90));
switch (mode)
{
    case "join": await JoinAsync(port, args[2], deadline.Token); break;
    case "bigframe": await BigFrameAsync(port, int.Parse(args[2], System.Globalization.CultureInfo.InvariantCulture), deadline.Token); break;
    case "squat": await SquatAsync(port, int.Parse(args[2], System.Globalization.CultureInfo.InvariantCulture)); break;
    case "epoch": await EpochAsync(port, deadline.Token); break;
    case "junk": await JunkAsync(port, int.Parse(args[2], System.Globalization.CultureInfo.InvariantCulture), deadline.Token); break;
    case "oracle": await OracleAsync(port, int.Parse(args[2], System.Globalization.CultureInfo.InvariantCulture), args[3]); break;
    case "pulse": await PulseSquatAsync(port, int.Parse(args[2], System.Globalization.CultureInfo.InvariantCulture)); break;
    default:
        Console.Error.WriteLine("usage: join|bigframe|squat|epoch|junk|oracle|pulse PORT ...");
        return 2;
}
return 0;

static void Emit(object value) => Console.Out.WriteLine(JsonSerializer.Serialize(value));

// Tries everything a stranger could: the handshake, a forged proof, a registration and an invoke.
static async Task JoinAsync(int port, string channel, CancellationToken cancellationToken)
{
    await using var connection = await FrameConnection.ConnectAsync(new IPEndPoint(IPAddress.Loopback, port), null, cancellationToken);
    var seen = new List<string>();
    bool challenged = false, registered = false, invokeAnswered = false;
    string? goodbye = null;
    var run = connection.RunAsync(frame =>
    {
        lock (seen) seen.Add(frame.Type.ToString());
        switch (frame.Type)
        {
            case PacketType.AuthChallenge:
                challenged = true;
                // A forged proof: 32-byte nonce and 32 bytes of guess.
                connection.Send(PacketType.AuthResponse, frame.RequestId, new AuthHeader(0, new byte[64]));
                break;
            case PacketType.RegisterChannelResult:
                registered = frame.ReadHeader<RegisterChannelResultHeader>().Ok;
                break;
            case PacketType.InvokeResult:
                invokeAnswered = true;
                break;
            case PacketType.Goodbye:
                goodbye = frame.ReadHeader<GoodbyeHeader>().Reason;
                break;
        }
        return default;
    }, cancellationToken);
    connection.Send(PacketType.Heartbeat, 1, new HeartbeatHeader(0, 1));
    await Task.Delay(500, cancellationToken);
    connection.Send(PacketType.RegisterChannel, 2, new RegisterChannelHeader(0, channel, 0, Environment.ProcessId));
    connection.Send(PacketType.Invoke, 3, new CallHeader(0, 1, 1), [0x90]);
    var closed = await Task.WhenAny(run, Task.Delay(TimeSpan.FromSeconds(10), cancellationToken)) == run;
    lock (seen) Emit(new { mode = "join", challenged, registered, invokeAnswered, goodbye, closed, seen = string.Join(",", seen) });
}

// Many connections each announce a frame just under 16 MiB and trickle it: how much did the leader take before closing?
static async Task BigFrameAsync(int port, int count, CancellationToken cancellationToken)
{
    var tasks = Enumerable.Range(0, count).Select(async _ =>
    {
        using var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        await socket.ConnectAsync(new IPEndPoint(IPAddress.Loopback, port), cancellationToken);
        var header = new byte[FrameHeader.Size];
        new FrameHeader(PacketType.Invoke, 1, 0, 8, 16_000_000).Write(header);
        long sent = 0;
        try
        {
            await socket.SendAsync(header, SocketFlags.None, cancellationToken);
            var chunk = new byte[64 * 1024];
            for (int i = 0; i < 32; i++)
            {
                sent += await socket.SendAsync(chunk, SocketFlags.None, cancellationToken);
                await Task.Delay(20, cancellationToken);
            }
            // Still open after 2 MiB? Wait for the leader's verdict a little.
            var buffer = new byte[1];
            using var wait = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
            wait.CancelAfter(TimeSpan.FromSeconds(3));
            int read = await socket.ReceiveAsync(buffer, SocketFlags.None, wait.Token);
            return (sent, closed: read == 0);
        }
        catch (Exception e) when (e is SocketException or OperationCanceledException)
        {
            return (sent, closed: e is SocketException);
        }
    }).ToArray();
    var results = await Task.WhenAll(tasks);
    Emit(new { mode = "bigframe", connections = count, closed = results.Count(r => r.closed), maxSentBeforeClose = results.Max(r => r.sent) });
}

// A fake leader on the victims' port: answers the handshake, accepts every registration and returns forged results.
static async Task SquatAsync(int port, int seconds)
{
    using var listener = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
    listener.Bind(new IPEndPoint(IPAddress.Loopback, port));
    listener.Listen(64);
    Emit(new { mode = "squat", listening = port });
    using var stop = new CancellationTokenSource(TimeSpan.FromSeconds(seconds));
    int registrations = 0, invokes = 0, handshakes = 0;
    var connections = new List<Task>();
    try
    {
        for (int i = 0; i < 1000 && !stop.IsCancellationRequested; i++)
        {
            var socket = await listener.AcceptAsync(stop.Token);
            var connection = new FrameConnection(socket);
            connections.Add(connection.RunAsync(frame =>
            {
                switch (frame.Type)
                {
                    case PacketType.Heartbeat when frame.RequestId != 0:
                        Interlocked.Increment(ref handshakes);
                        connection.Send(PacketType.HeartbeatResponse, frame.RequestId, new HeartbeatHeader(1, frame.ReadHeader<HeartbeatHeader>().SentAtTicks));
                        break;
                    case PacketType.RegisterChannel:
                        Interlocked.Increment(ref registrations);
                        connection.Send(PacketType.RegisterChannelResult, frame.RequestId, new RegisterChannelResultHeader(1, 1, true, null));
                        break;
                    case PacketType.Invoke:
                        Interlocked.Increment(ref invokes);
                        connection.Send(PacketType.InvokeResult, frame.RequestId, new ResultHeader(1, ResultStatus.Ok), [0xC0]);
                        break;
                }
                return default;
            }, stop.Token));
        }
    }
    catch (OperationCanceledException)
    {
        // The squat is over.
    }
    Emit(new { mode = "squat", handshakes, registrations, invokes });
}

// A handshake whose epoch would overflow the leader's "epoch + 1".
static async Task EpochAsync(int port, CancellationToken cancellationToken)
{
    await using var connection = await FrameConnection.ConnectAsync(new IPEndPoint(IPAddress.Loopback, port), null, cancellationToken);
    long answeredEpoch = -1;
    var run = connection.RunAsync(frame =>
    {
        if (frame.Type == PacketType.HeartbeatResponse) answeredEpoch = frame.ReadHeader<HeartbeatHeader>().Epoch;
        return default;
    }, cancellationToken);
    connection.Send(PacketType.Heartbeat, 1, new HeartbeatHeader(long.MaxValue, 1));
    bool closed = await Task.WhenAny(run, Task.Delay(TimeSpan.FromSeconds(10), cancellationToken)) == run;
    Emit(new { mode = "epoch", closed, answeredEpoch });
}

// Connections that each send one garbage frame (unknown version) and go away.
static async Task JunkAsync(int port, int count, CancellationToken cancellationToken)
{
    var watch = Stopwatch.StartNew();
    int done = 0;
    await Parallel.ForEachAsync(Enumerable.Range(0, count), new ParallelOptions { MaxDegreeOfParallelism = 16, CancellationToken = cancellationToken }, async (_, token) =>
    {
        try
        {
            using var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
            await socket.ConnectAsync(new IPEndPoint(IPAddress.Loopback, port), token);
            await socket.SendAsync(new byte[] { 9, 0, 0, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20 }, SocketFlags.None, token);
            var buffer = new byte[256];
            using var wait = CancellationTokenSource.CreateLinkedTokenSource(token);
            wait.CancelAfter(TimeSpan.FromSeconds(5));
            while (await socket.ReceiveAsync(buffer, SocketFlags.None, wait.Token) > 0) { }
            Interlocked.Increment(ref done);
        }
        catch (Exception e) when (e is SocketException or OperationCanceledException)
        {
            Interlocked.Increment(ref done);
        }
    });
    Emit(new { mode = "junk", connections = done, ms = watch.ElapsedMilliseconds });
}

// A fake leader that tries to make victims hand over something to test passphrase guesses against offline: the
// handshake's first message (a share that is a valid group element, or the older 32-byte nonce), then, to whatever
// comes back, a forged leader proof. Counts what the victims answered: a share (256 bytes, random to the attacker),
// and anything after the forged proof (a victim proof would be an offline oracle).
static async Task OracleAsync(int port, int seconds, string style)
{
    using var listener = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
    listener.Bind(new IPEndPoint(IPAddress.Loopback, port));
    listener.Listen(64);
    Emit(new { mode = "oracle", listening = port });
    using var stop = new CancellationTokenSource(TimeSpan.FromSeconds(seconds));
    int handshakes = 0, shares = 0, proofs = 0, otherResponses = 0;
    var random = new Random(17);
    var connections = new List<Task>();
    try
    {
        for (int i = 0; i < 1000 && !stop.IsCancellationRequested; i++)
        {
            var socket = await listener.AcceptAsync(stop.Token);
            var connection = new FrameConnection(socket);
            int responses = 0;
            connections.Add(connection.RunAsync(frame =>
            {
                switch (frame.Type)
                {
                    case PacketType.Heartbeat when frame.RequestId != 0:
                        Interlocked.Increment(ref handshakes);
                        byte[] challenge = new byte[style == "nonce" ? 32 : 256];
                        lock (random) random.NextBytes(challenge);
                        challenge[0] = 0x7F; // below the group's prime: a valid share
                        connection.Send(PacketType.AuthChallenge, frame.RequestId, new AuthHeader(1, challenge));
                        break;
                    case PacketType.AuthResponse:
                        var data = frame.ReadHeader<AuthHeader>().Data;
                        if (Interlocked.Increment(ref responses) == 1 && data.Length == 256)
                        {
                            Interlocked.Increment(ref shares);
                            byte[] forged = new byte[32];
                            lock (random) random.NextBytes(forged);
                            connection.Send(PacketType.AuthChallenge, frame.RequestId, new AuthHeader(1, forged));
                        }
                        else if (data.Length == 32)
                        {
                            Interlocked.Increment(ref proofs);
                        }
                        else
                        {
                            Interlocked.Increment(ref otherResponses);
                        }
                        break;
                }
                return default;
            }, stop.Token));
        }
    }
    catch (OperationCanceledException)
    {
        // The squat is over.
    }
    Emit(new { mode = "oracle", style, handshakes, shares, proofs, otherResponses });
}

// Holds the victims' UDP pulse port (so their leader cannot bind it): answers every pulse twice, with an exact echo
// and with a guessed token, as a squatter keeping a stopped leader looking alive would.
static async Task PulseSquatAsync(int port, int seconds)
{
    using var socket = new Socket(AddressFamily.InterNetwork, SocketType.Dgram, ProtocolType.Udp);
    socket.Bind(new IPEndPoint(IPAddress.Loopback, port));
    Emit(new { mode = "pulse", listening = port });
    using var stop = new CancellationTokenSource(TimeSpan.FromSeconds(seconds));
    var buffer = new byte[64];
    int received = 0;
    try
    {
        while (!stop.IsCancellationRequested)
        {
            var result = await socket.ReceiveFromAsync(buffer, SocketFlags.None, new IPEndPoint(IPAddress.Any, 0), stop.Token);
            if (++received == 1) Emit(new { mode = "pulse", firstPulse = true });
            int length = result.ReceivedBytes;
            await socket.SendToAsync(buffer.AsMemory(0, length), SocketFlags.None, result.RemoteEndPoint, stop.Token);
            if (length >= 24)
            {
                var forged = buffer.AsSpan(0, length).ToArray();
                BitConverter.TryWriteBytes(forged.AsSpan(16, 8), received);
                await socket.SendToAsync(forged, SocketFlags.None, result.RemoteEndPoint, stop.Token);
            }
        }
    }
    catch (OperationCanceledException)
    {
        // The squat is over.
    }
    Emit(new { mode = "pulse", received });
}
