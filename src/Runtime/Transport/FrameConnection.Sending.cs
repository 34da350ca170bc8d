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
/// The sending half: <c>Send</c> serializes into the output pipe under a short lock, and one send loop writes what
/// accumulated in gathered socket sends (or TLS writes), so many frames from many threads cost one syscall per batch.
/// </summary>
public sealed partial class FrameConnection
{
    private bool TryEnterSend()
    {
        Monitor.Enter(_sendLock);
        if (_writingFrame)
        {
            // The lock is re-entrant, but the outer frame is still half-written in the pipe: refuse rather than corrupt it.
            Monitor.Exit(_sendLock);
            throw new InvalidOperationException("Send was called on a connection from inside a body serializer of the same connection. Serialize first, then send.");
        }
        if (_sendClosed)
        {
            Monitor.Exit(_sendLock);
            return false;
        }
        long pending = _bytesQueued - _bytesSent;
        if (pending < _options.MaxPendingSendBytes)
        {
            _writingFrame = true;
            return true;
        }
        Monitor.Exit(_sendLock);

        if (_options.OverflowPolicy == SendOverflowPolicy.RejectFrame)
        {
            if (_options.Logger is { } logger) TransportLog.FrameRejected(logger, _name, pending, _options.MaxPendingSendBytes);
        }
        else
        {
            Close(new ConnectionCloseInfo(ConnectionCloseReason.SendBufferOverflow,
                $"{pending} bytes were waiting for the peer to read, above MaxPendingSendBytes ({_options.MaxPendingSendBytes}); the peer is too slow or stuck."));
        }
        return false;
    }

    private void ExitSend(int written)
    {
        _writingFrame = false;
        try
        {
            if (written > 0)
            {
                _bytesQueued += written;
                _framesSent++;
                if (_sendLoopBusy) _unflushed = true; // the send loop publishes it when its current send returns
                else PublishLocked();
            }
        }
        finally
        {
            Monitor.Exit(_sendLock);
        }
    }

    private void PublishLocked()
    {
        _unflushed = false;
        // Never pauses (pauseWriterThreshold is 0), so this completes synchronously: it only wakes the send loop.
        var flush = _output.Writer.FlushAsync();
        if (flush.IsCompleted) flush.GetAwaiter().GetResult();
        else _ = flush.AsTask();
    }

    private async Task SendLoopAsync()
    {
        var reader = _output.Reader;
        try
        {
            while (true)
            {
                var result = await reader.ReadAsync().ConfigureAwait(false);
                var buffer = result.Buffer;
                if (!buffer.IsEmpty)
                {
                    lock (_sendLock) _sendLoopBusy = true;
                    await SendToSocketAsync(buffer).ConfigureAwait(false);
                    long sent = buffer.Length;
                    ClusterClientMetrics.BytesSent(sent);
                    reader.AdvanceTo(buffer.End);
                    lock (_sendLock)
                    {
                        _bytesSent += sent;
                        _sendLoopBusy = false;
                        if (_unflushed && !_sendClosed) PublishLocked();
                        while (_flushWaiters.TryPeek(out var w) && w.Target <= _bytesSent)
                        {
                            _flushWaiters.Dequeue();
                            w.Waiter.TrySetResult();
                        }
                    }
                }
                if (result.IsCompleted) break;
            }
        }
        catch (Exception e) when (e is IOException or SocketException or ObjectDisposedException or OperationCanceledException)
        {
            if (!IsClosed)
            {
                Close(new ConnectionCloseInfo(
                    e is SocketException { SocketErrorCode: SocketError.ConnectionReset or SocketError.Shutdown } ? ConnectionCloseReason.RemoteClosed : ConnectionCloseReason.SocketError,
                    $"Sending failed: {e.Message}", e));
            }
        }
        finally
        {
            await reader.CompleteAsync().ConfigureAwait(false);
        }
    }

    private async ValueTask SendToSocketAsync(ReadOnlySequence<byte> buffer)
    {
        if (_tls is not null)
        {
            await SendToTlsAsync(buffer).ConfigureAwait(false);
            return;
        }
        if (buffer.IsSingleSegment)
        {
            var memory = buffer.First;
            while (!memory.IsEmpty)
            {
                int n = await _socket.SendAsync(memory, SocketFlags.None).ConfigureAwait(false);
                Interlocked.Increment(ref _socketSends);
                memory = memory.Slice(n);
            }
            return;
        }

        // Several pipe segments: gather them into one send (one sendmsg) instead of one syscall each.
        var position = buffer.Start;
        while (true)
        {
            _segments.Clear();
            long batchBytes = 0;
            while (_segments.Count < MaxSegmentsPerSend && buffer.TryGet(ref position, out var memory))
            {
                if (memory.IsEmpty) continue;
                if (!MemoryMarshal.TryGetArray(memory, out var segment))
                {
                    // Not array-backed (a custom pool): fall back to sending what was gathered, then this segment alone.
                    await SendGatheredAsync(batchBytes).ConfigureAwait(false);
                    _segments.Clear();
                    batchBytes = 0;
                    var rest = memory;
                    while (!rest.IsEmpty)
                    {
                        int n = await _socket.SendAsync(rest, SocketFlags.None).ConfigureAwait(false);
                        Interlocked.Increment(ref _socketSends);
                        rest = rest.Slice(n);
                    }
                    continue;
                }
                _segments.Add(segment);
                batchBytes += segment.Count;
            }
            if (_segments.Count == 0) return;
            await SendGatheredAsync(batchBytes).ConfigureAwait(false);
        }
    }

    /// <summary>TLS: one write (one record when it fits) per batch, gathering small segments into a pooled buffer first.</summary>
    private async ValueTask SendToTlsAsync(ReadOnlySequence<byte> buffer)
    {
        const int GatherLimit = 64 * 1024;
        if (!buffer.IsSingleSegment && buffer.Length <= GatherLimit)
        {
            byte[] gathered = ArrayPool<byte>.Shared.Rent((int)buffer.Length);
            try
            {
                buffer.CopyTo(gathered);
                await _tls!.WriteAsync(gathered.AsMemory(0, (int)buffer.Length)).ConfigureAwait(false);
                Interlocked.Increment(ref _socketSends);
            }
            finally
            {
                ArrayPool<byte>.Shared.Return(gathered);
            }
            return;
        }
        foreach (var segment in buffer)
        {
            await _tls!.WriteAsync(segment).ConfigureAwait(false);
            Interlocked.Increment(ref _socketSends);
        }
    }

    private async ValueTask SendGatheredAsync(long bytes)
    {
        if (_segments.Count == 0) return;
        long sent = await _socket.SendAsync(_segments, SocketFlags.None).ConfigureAwait(false);
        Interlocked.Increment(ref _socketSends);
        if (sent != bytes)
        {
            // Stream sockets send everything an async send is given; anything else means the socket is broken.
            throw new IOException($"The socket took {sent} of {bytes} bytes.");
        }
    }
}
