using System.Buffers.Binary;
using System.Collections.Concurrent;
using System.Net.Sockets;
using System.Text;
using ClusterSharing.Protocol;
using ClusterSharing.Serialization;
using MessagePack;
using ClusterSharing.Tests.Protocol;
using ClusterSharing.Transport;
using Microsoft.Extensions.Logging;
using Xunit.Abstractions;
using static ClusterSharing.Tests.Transport.ConnectionFixture;

namespace ClusterSharing.Tests.Transport;

public class FrameConnectionTests(ITestOutputHelper output)
{
    [Theory]
    [MemberData(nameof(Kinds), MemberType = typeof(ConnectionFixture))]
    public async Task Every_packet_type_round_trips_in_both_directions(string kind)
    {
        var (client, server, listener) = await PairAsync(kind);
        using var _ = listener;
        await using var c = client;
        await using var s = server;
        var samples = PacketSamples.All();

        int received = 0;
        var done = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var errors = new ConcurrentQueue<Exception>();
        var serverRun = server.RunAsync(frame =>
        {
            try { samples[received].Verify(frame); }
            catch (Exception e) { errors.Enqueue(e); }
            if (++received == samples.Count) done.TrySetResult();
            return default;
        });
        foreach (var sample in samples) Assert.True(sample.Send(client));
        await client.FlushAsync().AsTask().WaitAsync(TestTimeout);
        await done.Task.WaitAsync(TestTimeout);
        Assert.Empty(errors);
        Assert.Equal(samples.Count, server.FramesReceived);

        // Reverse direction: the client's read loop.
        int back = 0;
        var backDone = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var clientRun = client.RunAsync(frame =>
        {
            try { samples[back].Verify(frame); }
            catch (Exception e) { errors.Enqueue(e); }
            if (++back == samples.Count) backDone.TrySetResult();
            return default;
        });
        foreach (var sample in samples) Assert.True(sample.Send(server));
        await backDone.Task.WaitAsync(TestTimeout);
        Assert.Empty(errors);
    }

    [Theory]
    [MemberData(nameof(Kinds), MemberType = typeof(ConnectionFixture))]
    public async Task Many_sends_from_many_threads_are_batched_into_fewer_socket_sends_and_arrive_in_order(string kind)
    {
        var (client, server, listener) = await PairAsync(kind);
        using var _ = listener;
        await using var c = client;
        await using var s = server;
        const int threads = 4, perThread = 5000;
        var next = new long[threads];
        int total = 0, outOfOrder = 0;
        var done = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var run = server.RunAsync(frame =>
        {
            var header = frame.ReadHeader<CallHeader>();
            int thread = header.ChannelId;
            if (frame.RequestId != next[thread]++) outOfOrder++;
            if (++total == threads * perThread) done.TrySetResult();
            return default;
        });

        var body = PacketSamples.Arguments(1, "x");
        var senders = Enumerable.Range(0, threads).Select(t => Task.Run(() =>
        {
            for (int i = 0; i < perThread; i++)
                if (!client.Send(PacketType.Invoke, i, new CallHeader(1, t, 5), body)) throw new InvalidOperationException("send refused");
        })).ToArray();
        await Task.WhenAll(senders).WaitAsync(TestTimeout);
        await client.FlushAsync().AsTask().WaitAsync(TestTimeout);
        await done.Task.WaitAsync(TestTimeout);

        output.WriteLine($"{kind}: {client.FramesSent} frames, {client.BytesSent} bytes, {client.SocketSends} socket sends");
        Assert.Equal(0, outOfOrder);
        Assert.Equal(threads * perThread, client.FramesSent);
        Assert.True(client.SocketSends < client.FramesSent,
            $"{client.FramesSent} frames took {client.SocketSends} socket sends; expected batching.");
        Assert.Equal(0, client.PendingSendBytes);
    }

    private static async Task<ConnectionCloseInfo> ServerClosedByRawPeerAsync(string kind, Func<Socket, Task> peer, FrameConnectionOptions? options = null)
    {
        using var listener = new Listener(kind);
        var accept = listener.AcceptAsync();
        using var raw = await listener.ConnectRawAsync();
        await using var server = new FrameConnection(await accept, options);
        int frames = 0;
        var run = server.RunAsync(_ => { frames++; return default; });
        await peer(raw);
        var info = await run.WaitAsync(TestTimeout);
        Assert.Same(info, await server.Closed);
        // The peer sees its connection closed (end of stream or reset), not a hang.
        var buffer = new byte[64];
        try
        {
            using var cts = new CancellationTokenSource(TestTimeout);
            while (await raw.ReceiveAsync(buffer, SocketFlags.None, cts.Token) > 0) { }
        }
        catch (SocketException) { }
        return info;
    }

    [Theory]
    [MemberData(nameof(Kinds), MemberType = typeof(ConnectionFixture))]
    public async Task A_peer_sending_garbage_is_closed_with_a_protocol_violation_and_the_reason_is_logged(string kind)
    {
        var logger = new ListLogger();
        var info = await ServerClosedByRawPeerAsync(kind,
            async raw => await raw.SendAsync(Encoding.ASCII.GetBytes("GET / HTTP/1.1\r\nHost: localhost\r\n\r\n")),
            new FrameConnectionOptions { Logger = logger, Name = "garbage peer" });
        Assert.Equal(ConnectionCloseReason.ProtocolViolation, info.Reason);
        Assert.Equal(ProtocolErrorReason.UnsupportedVersion, info.ProtocolError);
        lock (logger.Entries)
        {
            var entry = Assert.Single(logger.Entries);
            Assert.Equal(LogLevel.Warning, entry.Level);
            Assert.Contains("garbage peer", entry.Message);
            Assert.Contains("UnsupportedVersion", entry.Message);
        }
    }

    [Fact]
    public async Task A_cluster_client_v1_peer_is_told_it_is_not_supported_yet()
    {
        var frame = new byte[FrameHeader.Size + 2];
        frame[0] = 1;
        BinaryPrimitives.WriteInt32BigEndian(frame.AsSpan(16), 2);
        "{}"u8.CopyTo(frame.AsSpan(24));
        var info = await ServerClosedByRawPeerAsync("tcp", async raw => await raw.SendAsync(frame));
        Assert.Equal(ProtocolErrorReason.LegacyVersion, info.ProtocolError);
        Assert.Contains("not supported yet", info.Message);
    }

    [Theory]
    [MemberData(nameof(Kinds), MemberType = typeof(ConnectionFixture))]
    public async Task An_oversized_length_is_rejected_without_allocating_it(string kind)
    {
        var header = new byte[FrameHeader.Size];
        new FrameHeader(PacketType.Invoke, 1, 0, 4, int.MaxValue - 100).Write(header);
        long before = GC.GetTotalAllocatedBytes(precise: true);
        var info = await ServerClosedByRawPeerAsync(kind, async raw => await raw.SendAsync(header));
        long allocated = GC.GetTotalAllocatedBytes(precise: true) - before;
        Assert.Equal(ProtocolErrorReason.FrameTooLarge, info.ProtocolError);
        // Process-wide (other tests run in parallel), yet still far below the 2 GiB the peer claimed.
        Assert.True(allocated < 256L * 1024 * 1024, $"{allocated} bytes were allocated.");
    }

    [Fact]
    public async Task A_peer_that_stops_in_the_middle_of_a_frame_is_reported_as_truncated()
    {
        var bytes = PacketSamples.All()[3].Encode();
        var info = await ServerClosedByRawPeerAsync("tcp", async raw =>
        {
            await raw.SendAsync(bytes.AsMemory(0, bytes.Length - 3));
            raw.Shutdown(SocketShutdown.Send);
        });
        Assert.Equal(ProtocolErrorReason.TruncatedFrame, info.ProtocolError);
    }

    [Theory]
    [MemberData(nameof(Kinds), MemberType = typeof(ConnectionFixture))]
    public async Task Frames_trickled_a_few_bytes_at_a_time_are_reassembled(string kind)
    {
        using var listener = new Listener(kind);
        var accept = listener.AcceptAsync();
        using var raw = await listener.ConnectRawAsync();
        if (raw.ProtocolType == ProtocolType.Tcp) raw.NoDelay = true;
        await using var server = new FrameConnection(await accept);
        var samples = PacketSamples.All();
        var all = samples.SelectMany(s => s.Encode()).ToArray();
        int received = 0;
        var errors = new ConcurrentQueue<Exception>();
        var done = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var run = server.RunAsync(frame =>
        {
            try { samples[received].Verify(frame); }
            catch (Exception e) { errors.Enqueue(e); }
            if (++received == samples.Count) done.TrySetResult();
            return default;
        });
        var random = new Random(1234);
        for (int offset = 0; offset < all.Length;)
        {
            int n = Math.Min(random.Next(1, 6), all.Length - offset);
            await raw.SendAsync(all.AsMemory(offset, n));
            offset += n;
            if (random.Next(8) == 0) await Task.Delay(1);
        }
        await done.Task.WaitAsync(TestTimeout);
        Assert.Empty(errors);
        Assert.False(server.IsClosed);
    }

    [Theory]
    [MemberData(nameof(Kinds), MemberType = typeof(ConnectionFixture))]
    public async Task CloseAsync_sends_what_was_queued_and_the_peer_sees_a_clean_close(string kind)
    {
        var (client, server, listener) = await PairAsync(kind);
        using var _ = listener;
        await using var s = server;
        const int count = 2000;
        int received = 0, outOfOrder = 0;
        var run = server.RunAsync(frame =>
        {
            if (frame.RequestId != received++) outOfOrder++;
            return default;
        });
        // 1 KiB bodies: several MiB, so the send loop is still busy (holding frames back) when closing starts.
        var body = new byte[1024];
        body[0] = 0xc4; body[1] = 0xff; // a bin8 header followed by padding; the transport does not decode bodies
        for (int i = 0; i < count; i++)
        {
            if (i % 2 == 0) Assert.True(client.Send(PacketType.Publish, i, new CallHeader(1, 1, 1), body));
            else Assert.True(client.Send(PacketType.Heartbeat, i, new HeartbeatHeader(1, i)));
        }
        await client.CloseAsync("test done").WaitAsync(TestTimeout);

        var info = await run.WaitAsync(TestTimeout);
        Assert.Equal(ConnectionCloseReason.RemoteClosed, info.Reason);
        Assert.Equal(count, received);
        Assert.Equal(0, outOfOrder);
        var local = await client.Closed;
        Assert.Equal(ConnectionCloseReason.LocalClose, local.Reason);
        Assert.Equal("test done", local.Message);
        Assert.False(client.Send(PacketType.Heartbeat, 1, new HeartbeatHeader(1, 1)));
    }

    [Fact]
    public async Task A_slow_reader_makes_the_sender_close_the_connection_once_the_send_queue_is_full()
    {
        using var listener = new Listener("tcp");
        var accept = listener.AcceptAsync();
        await using var client = await FrameConnection.ConnectAsync(listener.EndPoint,
            new FrameConnectionOptions { MaxPendingSendBytes = 1024 * 1024 });
        using var stuck = await accept; // never reads
        var body = new byte[64 * 1024];
        long maxPending = 0;
        bool refused = false;
        for (int i = 0; i < 100_000 && !refused; i++)
        {
            refused = !client.Send(PacketType.Publish, i, new CallHeader(1, 1, 1), body);
            maxPending = Math.Max(maxPending, client.PendingSendBytes);
            if (i % 64 == 0) await Task.Yield();
        }
        Assert.True(refused);
        var info = await client.Closed.WaitAsync(TestTimeout);
        Assert.Equal(ConnectionCloseReason.SendBufferOverflow, info.Reason);
        Assert.True(maxPending >= 1024 * 1024);
        Assert.True(maxPending < 2 * 1024 * 1024, $"pending reached {maxPending}");
    }

    [Fact]
    public async Task With_the_reject_policy_a_full_send_queue_refuses_frames_but_keeps_the_connection()
    {
        using var listener = new Listener("unix");
        var accept = listener.AcceptAsync();
        await using var client = await FrameConnection.ConnectAsync(listener.EndPoint,
            new FrameConnectionOptions { MaxPendingSendBytes = 512 * 1024, OverflowPolicy = SendOverflowPolicy.RejectFrame });
        using var peer = await accept; // does not read until the queue is full
        var body = new byte[32 * 1024];
        bool refused = false;
        for (int i = 0; i < 100_000 && !refused; i++)
        {
            refused = !client.Send(PacketType.Publish, i, new CallHeader(1, 1, 1), body);
            if (i % 64 == 0) await Task.Yield();
        }
        Assert.True(refused);
        Assert.False(client.IsClosed);

        // Once the peer reads again, the same connection accepts frames again.
        using var cts = new CancellationTokenSource(TestTimeout);
        var drain = Task.Run(async () =>
        {
            var buffer = new byte[64 * 1024];
            while (await peer.ReceiveAsync(buffer, SocketFlags.None, cts.Token) > 0) { }
        });
        bool accepted = false;
        for (int i = 0; i < 10_000 && !accepted && !cts.IsCancellationRequested; i++)
        {
            accepted = client.Send(PacketType.Heartbeat, i, new HeartbeatHeader(1, i));
            if (!accepted) await Task.Delay(10);
        }
        Assert.True(accepted);
        await client.FlushAsync().AsTask().WaitAsync(TestTimeout);
        Assert.False(client.IsClosed);
        Assert.Equal(0, client.PendingSendBytes);
    }

    [Fact]
    public async Task A_handler_exception_closes_only_that_connection_with_the_reason()
    {
        var (client, server, listener) = await PairAsync("tcp");
        using var _ = listener;
        await using var c = client;
        await using var s = server;
        var run = server.RunAsync(frame => frame.Type == PacketType.Goodbye
            ? throw new InvalidOperationException("handler bug")
            : default);
        client.Send(PacketType.Heartbeat, 1, new HeartbeatHeader(1, 1));
        client.Send(PacketType.Goodbye, 2, new GoodbyeHeader(1, "bye"));
        var info = await run.WaitAsync(TestTimeout);
        Assert.Equal(ConnectionCloseReason.HandlerFailed, info.Reason);
        Assert.Contains("handler bug", info.Message);
        Assert.Equal(2, server.FramesReceived);
    }

    [Fact]
    public async Task A_protocol_exception_from_the_handler_is_a_protocol_violation()
    {
        var (client, server, listener) = await PairAsync("unix");
        using var _ = listener;
        await using var c = client;
        await using var s = server;
        var run = server.RunAsync(async frame =>
        {
            await Task.Yield();
            throw new ProtocolException(ProtocolErrorReason.UnexpectedPacket, "not registered");
        });
        client.Send(PacketType.Invoke, 1, new CallHeader(1, 1, 1));
        var info = await run.WaitAsync(TestTimeout);
        Assert.Equal(ConnectionCloseReason.ProtocolViolation, info.Reason);
        Assert.Equal(ProtocolErrorReason.UnexpectedPacket, info.ProtocolError);
        // The peer learns that its connection closed.
        var clientInfo = await client.RunAsync(_ => default).WaitAsync(TestTimeout);
        Assert.Contains(clientInfo.Reason, new[] { ConnectionCloseReason.RemoteClosed, ConnectionCloseReason.SocketError });
    }

    [Fact]
    public async Task Cancelling_the_read_loop_closes_the_connection_locally()
    {
        var (client, server, listener) = await PairAsync("tcp");
        using var _ = listener;
        await using var c = client;
        await using var s = server;
        using var cts = new CancellationTokenSource();
        var run = server.RunAsync(_ => default, cts.Token);
        cts.Cancel();
        var info = await run.WaitAsync(TestTimeout);
        Assert.Equal(ConnectionCloseReason.LocalClose, info.Reason);
        await Assert.ThrowsAsync<InvalidOperationException>(() => server.RunAsync(_ => default));
    }

    [Fact]
    public async Task FlushAsync_completes_once_queued_frames_reached_the_socket_and_fails_after_an_abort()
    {
        var (client, server, listener) = await PairAsync("tcp");
        using var _ = listener;
        await using var s = server;
        client.Send(PacketType.Heartbeat, 1, new HeartbeatHeader(1, 1));
        await client.FlushAsync().AsTask().WaitAsync(TestTimeout);
        Assert.Equal(0, client.PendingSendBytes);
        Assert.True(client.BytesSent > 0);
        client.Abort("done");
        Assert.Equal(ConnectionCloseReason.LocalClose, (await client.Closed.WaitAsync(TestTimeout)).Reason);
        await client.FlushAsync().AsTask().WaitAsync(TestTimeout); // nothing pending: completes
    }

    [Fact]
    public async Task SendEncoded_relays_a_frame_encoded_once_and_validates_it()
    {
        var (client, server, listener) = await PairAsync("tcp");
        using var _ = listener;
        await using var c = client;
        await using var s = server;
        var sample = PacketSamples.All()[10];
        var bytes = sample.Encode();
        var got = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var run = server.RunAsync(frame => { sample.Verify(frame); got.TrySetResult(); return default; });
        Assert.True(client.SendEncoded(bytes));
        await got.Task.WaitAsync(TestTimeout);
        Assert.Throws<ProtocolException>(() => client.SendEncoded(bytes.AsSpan(0, bytes.Length - 1)));
        Assert.Throws<ProtocolException>(() => client.SendEncoded(bytes.AsSpan(0, 10)));
    }

    [Fact]
    public async Task Sending_from_inside_a_body_serializer_of_the_same_connection_is_refused_and_leaves_the_stream_intact()
    {
        var (client, server, listener) = await PairAsync("tcp");
        using var _ = listener;
        await using var c = client;
        await using var s = server;
        var types = new ConcurrentQueue<PacketType>();
        var got = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var run = server.RunAsync(frame =>
        {
            types.Enqueue(frame.Type);
            if (frame.Type == PacketType.Goodbye) got.TrySetResult();
            return default;
        });
        Assert.Throws<InvalidOperationException>(() => client.Send(PacketType.Invoke, 1, new CallHeader(1, 1, 1), client,
            static (ref MessagePackWriter w, in FrameConnection self) =>
            {
                w.WriteArrayHeader(0);
                self.Send(PacketType.Heartbeat, 2, new HeartbeatHeader(1, 1));
            }));
        Assert.True(client.Send(PacketType.Goodbye, 3, new GoodbyeHeader(1, "after")));
        await got.Task.WaitAsync(TestTimeout);
        Assert.Equal(new[] { PacketType.Goodbye }, types.ToArray());
        Assert.False(server.IsClosed);
    }

    [Fact]
    public async Task A_peer_that_resets_the_connection_is_reported_as_remote_closed()
    {
        using var listener = new Listener("tcp");
        var accept = listener.AcceptAsync();
        var raw = await listener.ConnectRawAsync();
        await using var server = new FrameConnection(await accept);
        var run = server.RunAsync(_ => default);
        raw.LingerState = new LingerOption(true, 0); // close with RST instead of FIN
        raw.Close();
        var info = await run.WaitAsync(TestTimeout);
        Assert.Equal(ConnectionCloseReason.RemoteClosed, info.Reason);
    }

    [Fact]
    public async Task Connecting_to_a_port_nobody_listens_on_fails_fast()
    {
        var listener = new Listener("tcp");
        var endPoint = listener.EndPoint;
        listener.Dispose();
        await Assert.ThrowsAsync<SocketException>(() => FrameConnection.ConnectAsync(endPoint).WaitAsync(TestTimeout));
    }
}
