using System.Buffers;
using System.IO.Pipelines;
using System.Net;
using System.Net.Security;
using System.Net.Sockets;
using System.Runtime.InteropServices;
using ClusterSharing.Protocol;
using ClusterSharing.Serialization;
using ClusterSharing.Diagnostics;
using MessagePack;
using MessagePack.Formatters;

namespace ClusterSharing.Transport;

/// <summary>
/// A connected stream socket (TCP or Unix domain) that carries frames: a read loop hands complete frames to a
/// handler, and thread-safe <c>Send</c> calls queue frames that a send loop writes out in batches.
/// </summary>
/// <remarks>
/// <para>Receiving uses a <see cref="PipeReader"/> over a <see cref="NetworkStream"/>: the stream reader rents its
/// buffers and receives straight into them, and the socket is only read when the handler has finished with the
/// previous frames, so a slow handler slows the peer down through TCP instead of growing memory.</para>
/// <para>Sending uses a <see cref="Pipe"/> and its own loop rather than a stream writer, because a stream writer is
/// single-threaded and writes segment by segment. <c>Send</c> serializes the frame into the pipe under a short lock
/// (memory only, never a syscall). While the loop is inside a socket send, new frames are only appended; when the
/// send returns, everything that arrived meanwhile goes out in one gathered send. Many small frames from many threads
/// therefore cost one syscall per batch, and an idle connection sends a single frame at once.</para>
/// </remarks>
public sealed partial class FrameConnection : IAsyncDisposable
{
    private const int MaxSegmentsPerSend = 64;

    private readonly Socket _socket;
    private readonly Stream _stream;
    private readonly SslStream? _tls; // null on the plain path, which sends straight to the socket
    private readonly PipeReader _input;
    private readonly Pipe _output;
    private readonly FrameConnectionOptions _options;
    private readonly ProtocolLimits _limits;
    private ProtocolLimits _receiveLimits;
    private long _budgetHeld; // written by the read loop only
    private readonly PeerIdentity? _unixPeer;
    private readonly string _name;
    private readonly object _sendLock = new();
    private readonly Queue<(long Target, TaskCompletionSource Waiter)> _flushWaiters = new();
    private readonly List<ArraySegment<byte>> _segments = new();
    private readonly TaskCompletionSource<ConnectionCloseInfo> _closed = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly Task _sendLoop;

    // Guarded by _sendLock.
    private bool _sendClosed;
    private bool _writingFrame;
    private bool _tornDown;
    private bool _sendLoopBusy;
    private bool _unflushed;
    private long _bytesQueued;
    private long _bytesSent;
    private long _framesSent;

    private long _socketSends;
    private long _framesReceived;
    private int _closeState;   // 0 open, 1 closing
    private int _readState;    // 0 not started, 1 running, 2 closed without a read loop
    private ConnectionCloseInfo? _closeInfo;

    /// <summary>Wraps an accepted (or otherwise connected) stream socket; the connection owns it from now on.</summary>
    /// <exception cref="ArgumentException">The socket is not a connected stream socket.</exception>
    public FrameConnection(Socket socket, FrameConnectionOptions? options = null)
        : this(socket, tls: null, options)
    {
    }

    /// <summary>Wraps a socket whose TLS session is established (see <see cref="TlsTransport"/>); owns both from now on.</summary>
    internal FrameConnection(Socket socket, SslStream? tls, FrameConnectionOptions? options)
    {
        ArgumentNullException.ThrowIfNull(socket);
        if (socket.SocketType != SocketType.Stream || !socket.Connected)
            throw new ArgumentException("FrameConnection needs a connected stream socket (TCP or Unix domain).", nameof(socket));
        _options = options ?? FrameConnectionOptions.Default;
        _options.Validate();
        _limits = _options.Limits;
        _receiveLimits = _options.ReceiveLimits ?? _limits;
        _socket = socket;
        if (socket.ProtocolType == ProtocolType.Tcp) socket.NoDelay = true; // batching is ours; Nagle would only add latency
        RemoteEndPoint = socket.RemoteEndPoint;
        if (socket.AddressFamily == AddressFamily.Unix) _unixPeer = PeerIdentity.Of(socket);
        LocalEndPoint = socket.LocalEndPoint;
        _name = _options.Name ?? RemoteEndPoint?.ToString() ?? "(unnamed)";
        _tls = tls;
        _stream = tls ?? (Stream)new NetworkStream(socket, ownsSocket: false);
        _input = PipeReader.Create(_stream, new StreamPipeReaderOptions(
            bufferSize: _options.ReceiveBufferSize, minimumReadSize: Math.Min(4096, _options.ReceiveBufferSize), leaveOpen: true));
        // The pipe never pauses the writer: Send must not block, and the bound is MaxPendingSendBytes instead.
        _output = new Pipe(new PipeOptions(
            pauseWriterThreshold: 0, resumeWriterThreshold: 0, minimumSegmentSize: 16 * 1024,
            readerScheduler: PipeScheduler.ThreadPool, writerScheduler: PipeScheduler.Inline, useSynchronizationContext: false));
        _sendLoop = Task.Run(SendLoopAsync);
    }

    /// <summary>
    /// Connects to <paramref name="endPoint"/> (an <see cref="IPEndPoint"/> or a <see cref="UnixDomainSocketEndPoint"/>;
    /// a TLS endpoint runs the TLS handshake, see <see cref="TlsTransport"/>).
    /// </summary>
    /// <exception cref="SocketException">Nothing listens there, or the connection failed.</exception>
    /// <exception cref="ClusterClientException">TLS only: the peer is not a TLS leader or its certificate is not the pinned one.</exception>
    public static async Task<FrameConnection> ConnectAsync(EndPoint endPoint, FrameConnectionOptions? options = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(endPoint);
        if (endPoint is TlsEndPoint tls)
            return await TlsTransport.ConnectAsync(tls.Inner, tls.CertificateFingerprint, options, Timeout.InfiniteTimeSpan, cancellationToken).ConfigureAwait(false);
        var socket = endPoint is UnixDomainSocketEndPoint
            ? new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified)
            : new Socket(endPoint.AddressFamily, SocketType.Stream, ProtocolType.Tcp);
        try
        {
            await socket.ConnectAsync(endPoint, cancellationToken).ConfigureAwait(false);
            return new FrameConnection(socket, options);
        }
        catch
        {
            socket.Dispose();
            throw;
        }
    }

    /// <summary>The peer's address.</summary>
    public EndPoint? RemoteEndPoint { get; }

    /// <summary>This side's address.</summary>
    public EndPoint? LocalEndPoint { get; }

    /// <summary>The negotiated TLS protocol, or null on a plain connection.</summary>
    internal System.Security.Authentication.SslProtocols? TlsProtocol => _tls?.SslProtocol;

    /// <summary>The limits frames are checked against.</summary>
    public ProtocolLimits Limits => _limits;

    /// <summary>
    /// The limits received frames are checked against (initially <see cref="FrameConnectionOptions.ReceiveLimits"/>). May be
    /// changed at any time, typically from the frame handler once the peer authenticated; the next frame is read with it.
    /// </summary>
    public ProtocolLimits ReceiveLimits
    {
        get => Volatile.Read(ref _receiveLimits);
        set
        {
            ArgumentNullException.ThrowIfNull(value);
            value.Validate();
            Volatile.Write(ref _receiveLimits, value);
        }
    }

    /// <summary>Who is at the other end (user id, and process id on Unix sockets), for logs; "unknown user" where the OS does not say.</summary>
    internal string DescribePeer() => Peer?.ToString() ?? "unknown user";

    /// <summary>
    /// The peer's identity where the OS gives it: read from the socket when it was accepted (Unix sockets), or looked
    /// up by address while the peer's socket exists (loopback TCP).
    /// </summary>
    internal PeerIdentity? Peer => _unixPeer ?? PeerIdentity.OfTcp(RemoteEndPoint, LocalEndPoint);

    /// <summary>Bytes of an incomplete frame buffered right now (counted only with a <see cref="FrameConnectionOptions.ReceiveBudget"/>).</summary>
    internal long IncompleteFrameBytes => Volatile.Read(ref _budgetHeld);

    /// <summary>Completes once the connection is closed, with the first reason it closed for. Never faults.</summary>
    public Task<ConnectionCloseInfo> Closed => _closed.Task;

    /// <summary>True once closing has begun; <c>Send</c> then returns false.</summary>
    public bool IsClosed => Volatile.Read(ref _closeState) != 0;

    /// <summary>Bytes queued by <c>Send</c> that the socket has not taken yet. A peer that stops reading makes this grow.</summary>
    public long PendingSendBytes { get { lock (_sendLock) return _bytesQueued - _bytesSent; } }

    /// <summary>Frames queued by <c>Send</c> since the connection opened.</summary>
    public long FramesSent { get { lock (_sendLock) return _framesSent; } }

    /// <summary>Bytes the socket has taken since the connection opened.</summary>
    public long BytesSent { get { lock (_sendLock) return _bytesSent; } }

    /// <summary>Socket send operations so far; far below <see cref="FramesSent"/> when frames are batched.</summary>
    public long SocketSends => Interlocked.Read(ref _socketSends);

    /// <summary>Frames handed to the read loop's handler so far.</summary>
    public long FramesReceived => Interlocked.Read(ref _framesReceived);

    /// <summary>Queues a frame whose body is already-encoded MessagePack (possibly empty).</summary>
    /// <returns>False when the connection is closed or the frame was refused for <see cref="FrameConnectionOptions.MaxPendingSendBytes"/>; nothing was queued then.</returns>
    /// <exception cref="ProtocolException">The frame exceeds the limits; nothing was queued and the connection stays open.</exception>
    public bool Send<THeader>(PacketType type, long requestId, in THeader header, ReadOnlySpan<byte> body = default,
        int timeoutMilliseconds = 0, PacketFlags flags = PacketFlags.None)
        where THeader : struct, IPacketHeader<THeader>
        => SendCore(type, requestId, header, new RawFrameBody(body), timeoutMilliseconds, flags);

    /// <summary>Queues a frame whose body is <paramref name="body"/> serialized (with <paramref name="options"/>) straight into the send buffer.</summary>
    /// <returns>False when the connection is closed or the frame was refused for <see cref="FrameConnectionOptions.MaxPendingSendBytes"/>; nothing was queued then.</returns>
    /// <exception cref="ProtocolException">The frame exceeds the limits; nothing was queued and the connection stays open.</exception>
    /// <remarks>An exception from <paramref name="bodyFormatter"/> propagates and nothing is queued.</remarks>
    public bool Send<THeader, TBody>(PacketType type, long requestId, in THeader header, in TBody body,
        IMessagePackFormatter<TBody> bodyFormatter, MessagePackSerializerOptions options, int timeoutMilliseconds = 0, PacketFlags flags = PacketFlags.None)
        where THeader : struct, IPacketHeader<THeader>
        => SendCore(type, requestId, header, new FormattedFrameBody<TBody>(in body, bodyFormatter, options), timeoutMilliseconds, flags);

    /// <summary>Queues a frame whose body <paramref name="bodyWriter"/> writes straight into the send buffer.</summary>
    /// <returns>False when the connection is closed or the frame was refused for <see cref="FrameConnectionOptions.MaxPendingSendBytes"/>; nothing was queued then.</returns>
    /// <exception cref="ProtocolException">The frame exceeds the limits; nothing was queued and the connection stays open.</exception>
    /// <remarks>The callback runs under the connection's send lock: keep it to serialization.</remarks>
    public bool Send<THeader, TState>(PacketType type, long requestId, in THeader header, in TState state,
        FrameBodyWriter<TState> bodyWriter, int timeoutMilliseconds = 0, PacketFlags flags = PacketFlags.None)
        where THeader : struct, IPacketHeader<THeader>
        => SendCore(type, requestId, header, new CallbackFrameBody<TState>(in state, bodyWriter), timeoutMilliseconds, flags);

    private bool SendCore<THeader, TBody>(PacketType type, long requestId, in THeader header, scoped in TBody body,
        int timeoutMilliseconds, PacketFlags flags)
        where THeader : struct, IPacketHeader<THeader>
        where TBody : IFrameBody, allows ref struct
    {
        if (!TryEnterSend()) return false;
        int written = 0;
        try
        {
            written = FrameWriter.WriteFrameCore(_output.Writer, type, requestId, header, body, _limits, timeoutMilliseconds, flags);
        }
        finally
        {
            ExitSend(written);
        }
        return true;
    }

    /// <summary>
    /// Queues one complete frame that was encoded earlier (for example once for many followers). The frame header is
    /// validated and must describe exactly <paramref name="frame"/>.
    /// </summary>
    /// <returns>False when the connection is closed or the frame was refused for <see cref="FrameConnectionOptions.MaxPendingSendBytes"/>.</returns>
    /// <exception cref="ProtocolException">The bytes are not exactly one valid frame within the limits.</exception>
    public bool SendEncoded(ReadOnlySpan<byte> frame)
    {
        if (frame.Length < FrameHeader.Size)
            throw new ProtocolException(ProtocolErrorReason.TruncatedFrame, $"An encoded frame needs at least {FrameHeader.Size} bytes; {frame.Length} were given.");
        var header = FrameHeader.Parse(frame, _limits);
        if (header.FrameLength != frame.Length)
            throw new ProtocolException(ProtocolErrorReason.InvalidField,
                $"The frame header describes {header.FrameLength} bytes but {frame.Length} were given; pass exactly one frame.");
        if (!TryEnterSend()) return false;
        int written = 0;
        try
        {
            frame.CopyTo(_output.Writer.GetSpan(frame.Length));
            _output.Writer.Advance(frame.Length);
            written = frame.Length;
        }
        finally
        {
            ExitSend(written);
        }
        return true;
    }

    /// <summary>Completes when every frame queued before the call has been handed to the socket.</summary>
    /// <exception cref="ClusterClientException">The connection closed before those bytes were sent.</exception>
    public ValueTask FlushAsync(CancellationToken cancellationToken = default)
    {
        TaskCompletionSource waiter;
        lock (_sendLock)
        {
            if (_bytesSent >= _bytesQueued) return default;
            if (_tornDown) return ValueTask.FromException(NotSent(_closeInfo!));
            waiter = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            _flushWaiters.Enqueue((_bytesQueued, waiter));
        }
        return new ValueTask(waiter.Task.WaitAsync(cancellationToken));
    }

    /// <summary>
    /// Reads frames until the connection closes, handing each to <paramref name="onFrame"/> in order. A frame's slices
    /// are valid until the handler's task completes; the next frame is not read before that. Call once.
    /// </summary>
    /// <returns>Why the connection closed (the same value as <see cref="Closed"/>). Never throws for connection problems.</returns>
    /// <remarks>
    /// A <see cref="ProtocolException"/> from the frame parser or from the handler closes this connection with
    /// <see cref="ConnectionCloseReason.ProtocolViolation"/>; any other handler exception closes it with
    /// <see cref="ConnectionCloseReason.HandlerFailed"/>. Cancelling <paramref name="cancellationToken"/> aborts the connection.
    /// </remarks>
    public async Task<ConnectionCloseInfo> RunAsync(Func<Frame, ValueTask> onFrame, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(onFrame);
        int state = Interlocked.CompareExchange(ref _readState, 1, 0);
        if (state == 1) throw new InvalidOperationException("RunAsync was already called on this connection.");
        if (state == 2) return await _closed.Task.ConfigureAwait(false);

        using var registration = cancellationToken.Register(static s => ((FrameConnection)s!).Abort("the read loop was cancelled"), this);
        try
        {
            while (true)
            {
                var result = await _input.ReadAsync().ConfigureAwait(false);
                var buffer = result.Buffer;
                try
                {
                    while (!IsClosed && FrameReader.TryReadFrame(ref buffer, ReceiveLimits, out var frame))
                    {
                        Interlocked.Increment(ref _framesReceived);
                        ClusterClientMetrics.BytesReceived(frame.Header.FrameLength);
                        var pending = onFrame(frame);
                        if (!pending.IsCompletedSuccessfully) await pending.ConfigureAwait(false);
                    }
                    if (_options.ReceiveBudget is { } budget && !IsClosed && !budget.TryResize(ref _budgetHeld, buffer.Length))
                    {
                        throw new ProtocolException(ProtocolErrorReason.FrameTooLarge,
                            $"{buffer.Length} bytes of an incomplete frame would take the buffered bytes of all connections past their budget ({budget.Capacity} bytes); the connection is closed to protect the process.");
                    }
                }
                catch (ProtocolException e)
                {
                    Close(new ConnectionCloseInfo(ConnectionCloseReason.ProtocolViolation, e.Message, e));
                    break;
                }
                catch (Exception e)
                {
                    if (!IsClosed)
                    {
                        Close(new ConnectionCloseInfo(ConnectionCloseReason.HandlerFailed,
                            $"The frame handler threw {e.GetType().Name}: {e.Message}", e));
                    }
                    break;
                }

                if (IsClosed) break;
                if (result.IsCompleted)
                {
                    if (buffer.IsEmpty)
                    {
                        Close(new ConnectionCloseInfo(ConnectionCloseReason.RemoteClosed, _tls is not null && FramesReceived == 0
                            ? "The peer closed the TLS connection before sending a frame; a follower does this when it rejects the leader's certificate (the fingerprint it pinned differs)."
                            : "The peer closed the connection."));
                    }
                    else
                    {
                        var e = new ProtocolException(ProtocolErrorReason.TruncatedFrame,
                            $"The peer closed the connection in the middle of a frame ({buffer.Length} bytes of it received).");
                        Close(new ConnectionCloseInfo(ConnectionCloseReason.ProtocolViolation, e.Message, e));
                    }
                    break;
                }
                // Everything was examined: wait for more bytes rather than re-parsing the same partial frame.
                _input.AdvanceTo(buffer.Start, buffer.End);
            }
        }
        catch (Exception e) when (e is IOException or SocketException or ObjectDisposedException or OperationCanceledException)
        {
            if (!IsClosed)
            {
                Close(e is IOException { InnerException: SocketException { SocketErrorCode: SocketError.ConnectionReset } }
                    ? new ConnectionCloseInfo(ConnectionCloseReason.RemoteClosed, "The peer reset the connection.", e)
                    : new ConnectionCloseInfo(ConnectionCloseReason.SocketError, $"Receiving failed: {e.Message}", e));
            }
        }
        finally
        {
            _options.ReceiveBudget?.TryResize(ref _budgetHeld, 0);
            await _input.CompleteAsync().ConfigureAwait(false);
        }
        return await _closed.Task.ConfigureAwait(false);
    }

    /// <summary>
    /// Closes gracefully: no more frames are accepted, frames already queued are sent (for at most
    /// <see cref="FrameConnectionOptions.CloseDrainTimeout"/>, or until <paramref name="cancellationToken"/> fires), then
    /// the socket is shut down. If closing has already begun, waits for it to finish.
    /// </summary>
    /// <param name="reason">Why, for logs and <see cref="Closed"/>.</param>
    /// <param name="cancellationToken">Stops waiting for queued frames; the socket is then closed at once.</param>
    public async Task CloseAsync(string reason, CancellationToken cancellationToken = default)
    {
        var info = new ConnectionCloseInfo(ConnectionCloseReason.LocalClose, reason);
        if (!BeginClose(info))
        {
            await _closed.Task.ConfigureAwait(false);
            return;
        }
        try
        {
            await _sendLoop.WaitAsync(_options.CloseDrainTimeout, cancellationToken).ConfigureAwait(false);
        }
        catch (Exception e) when (e is OperationCanceledException or TimeoutException)
        {
            // The peer is not reading or the caller stopped waiting: the teardown below drops what is still queued.
        }
        Teardown(info);
    }

    /// <summary>Closes at once, dropping queued frames.</summary>
    public void Abort(string reason) => Close(new ConnectionCloseInfo(ConnectionCloseReason.LocalClose, reason));

    /// <summary>Same as <see cref="CloseAsync"/> with the reason "disposed".</summary>
    public ValueTask DisposeAsync() => new(CloseAsync("disposed"));

    /// <inheritdoc/>
    public override string ToString() => $"FrameConnection {_name}";

    /// <summary>Closes at once with <paramref name="info"/>, unless closing has already begun.</summary>
    private void Close(ConnectionCloseInfo info)
    {
        if (BeginClose(info)) Teardown(info);
    }

    private bool BeginClose(ConnectionCloseInfo info)
    {
        if (Interlocked.CompareExchange(ref _closeState, 1, 0) != 0) return false;
        lock (_sendLock)
        {
            _closeInfo = info;
            // Publish frames held back while the send loop was busy, then let the loop finish the queue and end.
            PublishLocked();
            _sendClosed = true;
            _output.Writer.Complete();
        }
        return true;
    }

    private void Teardown(ConnectionCloseInfo info)
    {
        try { _socket.Shutdown(SocketShutdown.Both); }
        catch (Exception e) when (e is SocketException or ObjectDisposedException) { /* already gone */ }
        _socket.Dispose();
        _stream.Dispose();
        if (Interlocked.CompareExchange(ref _readState, 2, 0) == 0) _input.Complete();

        lock (_sendLock)
        {
            _tornDown = true;
            while (_flushWaiters.TryDequeue(out var w))
            {
                if (w.Target <= _bytesSent) w.Waiter.TrySetResult();
                else w.Waiter.TrySetException(NotSent(info));
            }
        }

        if (_options.Logger is { } logger)
        {
            switch (info.Reason)
            {
                case ConnectionCloseReason.LocalClose or ConnectionCloseReason.RemoteClosed:
                    TransportLog.Closed(logger, _name, info);
                    break;
                case ConnectionCloseReason.ProtocolViolation:
                    TransportLog.ProtocolViolation(logger, _name, info, info.Exception);
                    break;
                default:
                    TransportLog.ClosedAbnormally(logger, _name, info, info.Exception);
                    break;
            }
        }
        _closed.TrySetResult(info);
    }

    private static ClusterClientException NotSent(ConnectionCloseInfo info) =>
        new($"The connection closed before the queued frames were sent ({info}).", info.Exception);
}
