using System.Buffers.Binary;
using System.Net;
using System.Net.Sockets;

namespace ClusterSharing.Harness;

/// <summary>
/// The floor: a length-prefixed echo over a plain async socket (TCP with NoDelay, or a Unix socket), no framing
/// library, no serialization. The payload has the size of an EchoAsync(long) invoke frame so the bytes moved match.
/// </summary>
internal static class RawEcho
{
    public const int PayloadSize = 40;

    public static EndPoint EndPointOf(string transport, string address) => transport == "uds"
        ? new UnixDomainSocketEndPoint(address)
        : new IPEndPoint(IPAddress.Loopback, int.Parse(address));

    private static Socket NewSocket(EndPoint endPoint) => endPoint is UnixDomainSocketEndPoint
        ? new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified)
        : new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };

    /// <summary>Serves echo connections until stdin closes or says "exit".</summary>
    public static async Task<int> ServeAsync(string transport, string address)
    {
        var endPoint = EndPointOf(transport, address);
        if (endPoint is UnixDomainSocketEndPoint && File.Exists(address)) File.Delete(address);
        using var listener = NewSocket(endPoint);
        listener.Bind(endPoint);
        listener.Listen(512);
        _ = Task.Run(async () =>
        {
            while (true)
            {
                Socket client;
                try
                {
                    client = await listener.AcceptAsync().ConfigureAwait(false);
                }
                catch (ObjectDisposedException)
                {
                    return;
                }
                catch (SocketException)
                {
                    return;
                }
                if (client.ProtocolType == ProtocolType.Tcp) client.NoDelay = true;
                _ = EchoConnectionAsync(client);
            }
        });
        StdoutLines.WriteLine("ready 0 1 " + Environment.ProcessId);
        await LineHost.RunAsync(c => c[0] == "mem" ? Task.FromResult(Worker.Memory()) : throw new ArgumentException($"unknown command '{c[0]}'")).ConfigureAwait(false);
        return 0;
    }

    private static async Task EchoConnectionAsync(Socket socket)
    {
        var buffer = new byte[64 * 1024];
        int filled = 0;
        try
        {
            while (true)
            {
                int n = await socket.ReceiveAsync(buffer.AsMemory(filled), SocketFlags.None).ConfigureAwait(false);
                if (n == 0) return;
                filled += n;
                // Echo every complete message received so far in one send (what any decent server does).
                int complete = 0;
                while (filled - complete >= 4)
                {
                    int length = BinaryPrimitives.ReadInt32BigEndian(buffer.AsSpan(complete));
                    if (length < 0 || length > buffer.Length - 4) return;
                    if (filled - complete < 4 + length) break;
                    complete += 4 + length;
                }
                if (complete > 0)
                {
                    await SendAllAsync(socket, buffer.AsMemory(0, complete)).ConfigureAwait(false);
                    buffer.AsSpan(complete, filled - complete).CopyTo(buffer);
                    filled -= complete;
                }
            }
        }
        catch (SocketException)
        {
        }
        finally
        {
            socket.Dispose();
        }
    }

    private static async ValueTask SendAllAsync(Socket socket, ReadOnlyMemory<byte> data)
    {
        while (!data.IsEmpty)
        {
            int n = await socket.SendAsync(data, SocketFlags.None).ConfigureAwait(false);
            data = data[n..];
        }
    }

    /// <summary>A client process: "seq" and "tput" like a worker, over one raw connection.</summary>
    public static async Task<int> ClientAsync(string transport, string address)
    {
        var endPoint = EndPointOf(transport, address);
        using var socket = NewSocket(endPoint);
        await socket.ConnectAsync(endPoint).ConfigureAwait(false);
        var client = new PipelinedClient(socket);
        StdoutLines.WriteLine("ready 0 0 " + Environment.ProcessId);
        await LineHost.RunAsync(async c => c[0] switch
        {
            "seq" => await LineHost.SequentialAsync(client.DirectCallAsync, int.Parse(c[1]), int.Parse(c[2]), c[3]).ConfigureAwait(false),
            "tput" => await LineHost.ThroughputAsync(client.CallAsync, double.Parse(c[1], System.Globalization.CultureInfo.InvariantCulture), int.Parse(c[2])).ConfigureAwait(false),
            _ => throw new ArgumentException($"unknown command '{c[0]}'"),
        }).ConfigureAwait(false);
        return 0;
    }

    /// <summary>
    /// Many callers on one connection: each call sends its message under a lock and waits for its reply; replies
    /// come back in order, so a FIFO of waiters matches them. Pooled completions keep the floor allocation-free.
    /// </summary>
    private sealed class PipelinedClient
    {
        private readonly Socket _socket;
        private readonly SemaphoreSlim _sendLock = new(1, 1);
        private readonly Queue<Waiter> _waiters = new();
        private readonly Lock _gate = new();
        private readonly byte[] _message = new byte[4 + PayloadSize];
        private readonly byte[] _reply = new byte[4 + PayloadSize];
        private int _receiving;

        public PipelinedClient(Socket socket)
        {
            _socket = socket;
            BinaryPrimitives.WriteInt32BigEndian(_message, PayloadSize);
        }

        /// <summary>The sequential floor: send, then receive the reply on the same task (no receive loop, no hop).</summary>
        public async ValueTask DirectCallAsync(long value)
        {
            if (Volatile.Read(ref _receiving) != 0) throw new InvalidOperationException("Direct calls need the receive loop stopped.");
            await SendAllAsync(_socket, _message).ConfigureAwait(false);
            int got = 0;
            while (got < _reply.Length)
            {
                int n = await _socket.ReceiveAsync(_reply.AsMemory(got), SocketFlags.None).ConfigureAwait(false);
                if (n == 0) throw new IOException("The echo server closed the connection.");
                got += n;
            }
        }

        public async ValueTask CallAsync(long value)
        {
            if (Interlocked.Exchange(ref _receiving, 1) == 0) _ = Task.Run(ReceiveLoopAsync);
            var waiter = Waiter.Rent();
            await _sendLock.WaitAsync().ConfigureAwait(false);
            try
            {
                lock (_gate) _waiters.Enqueue(waiter);
                await SendAllAsync(_socket, _message).ConfigureAwait(false);
            }
            finally
            {
                _sendLock.Release();
            }
            await waiter.Task.ConfigureAwait(false);
        }

        private async Task ReceiveLoopAsync()
        {
            var buffer = new byte[64 * 1024];
            int filled = 0;
            int messageSize = 4 + PayloadSize;
            while (true)
            {
                int n = await _socket.ReceiveAsync(buffer.AsMemory(filled), SocketFlags.None).ConfigureAwait(false);
                if (n == 0) return;
                filled += n;
                int complete = filled / messageSize;
                for (int i = 0; i < complete; i++)
                {
                    Waiter w;
                    lock (_gate) w = _waiters.Dequeue();
                    w.Complete();
                }
                int rest = filled - complete * messageSize;
                buffer.AsSpan(complete * messageSize, rest).CopyTo(buffer);
                filled = rest;
            }
        }
    }

    /// <summary>A reusable awaitable completed by the receive loop.</summary>
    private sealed class Waiter : System.Threading.Tasks.Sources.IValueTaskSource
    {
        private static readonly System.Collections.Concurrent.ConcurrentBag<Waiter> Pool = new();
        private System.Threading.Tasks.Sources.ManualResetValueTaskSourceCore<bool> _core = new() { RunContinuationsAsynchronously = true };

        public static Waiter Rent() => Pool.TryTake(out var w) ? w : new Waiter();

        public ValueTask Task => new(this, _core.Version);

        public void Complete() => _core.SetResult(true);

        public void GetResult(short token)
        {
            _core.GetResult(token);
            _core.Reset();
            Pool.Add(this);
        }

        public System.Threading.Tasks.Sources.ValueTaskSourceStatus GetStatus(short token) => _core.GetStatus(token);

        public void OnCompleted(Action<object?> continuation, object? state, short token, System.Threading.Tasks.Sources.ValueTaskSourceOnCompletedFlags flags) =>
            _core.OnCompleted(continuation, state, token, flags);
    }
}
