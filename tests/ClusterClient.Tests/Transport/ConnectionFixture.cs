using System.Net;
using System.Net.Sockets;
using ClusterSharing.Transport;
using Microsoft.Extensions.Logging;

namespace ClusterSharing.Tests.Transport;

/// <summary>Loopback and Unix-socket connection pairs for transport tests.</summary>
internal static class ConnectionFixture
{
    public static readonly TimeSpan TestTimeout = TimeSpan.FromSeconds(20);

    public sealed class Listener : IDisposable
    {
        private readonly string? _directory;

        public Listener(string kind)
        {
            if (kind == "unix")
            {
                _directory = Directory.CreateTempSubdirectory("cc-transport-").FullName;
                EndPoint = new UnixDomainSocketEndPoint(Path.Combine(_directory, "s.sock"));
                Socket = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
            }
            else
            {
                EndPoint = new IPEndPoint(kind == "tcp6" ? IPAddress.IPv6Loopback : IPAddress.Loopback, 0);
                Socket = new Socket(EndPoint.AddressFamily, SocketType.Stream, ProtocolType.Tcp);
            }
            Socket.Bind(EndPoint);
            Socket.Listen(16);
            EndPoint = Socket.LocalEndPoint!;
        }

        public Socket Socket { get; }

        public EndPoint EndPoint { get; }

        public async Task<Socket> AcceptAsync() => await Socket.AcceptAsync().WaitAsync(TestTimeout);

        public async Task<Socket> ConnectRawAsync()
        {
            var socket = EndPoint is UnixDomainSocketEndPoint
                ? new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified)
                : new Socket(EndPoint.AddressFamily, SocketType.Stream, ProtocolType.Tcp);
            await socket.ConnectAsync(EndPoint).WaitAsync(TestTimeout);
            return socket;
        }

        public void Dispose()
        {
            Socket.Dispose();
            if (_directory is not null) Directory.Delete(_directory, recursive: true);
        }
    }

    /// <summary>A connected pair: <c>Client</c> made by <see cref="FrameConnection.ConnectAsync"/>, <c>Server</c> from an accepted socket.</summary>
    public static async Task<(FrameConnection Client, FrameConnection Server, Listener Listener)> PairAsync(
        string kind, FrameConnectionOptions? clientOptions = null, FrameConnectionOptions? serverOptions = null)
    {
        var listener = new Listener(kind);
        var accept = listener.AcceptAsync();
        var client = await FrameConnection.ConnectAsync(listener.EndPoint, clientOptions).WaitAsync(TestTimeout);
        var server = new FrameConnection(await accept, serverOptions);
        return (client, server, listener);
    }

    /// <summary>127.0.0.1 and a Unix socket always; ::1 too where this machine has IPv6 loopback.</summary>
    public static TheoryData<string> Kinds()
    {
        var kinds = new TheoryData<string> { "tcp", "unix" };
        if (HasIPv6Loopback.Value) kinds.Add("tcp6");
        return kinds;
    }

    private static readonly Lazy<bool> HasIPv6Loopback = new(() =>
    {
        if (!Socket.OSSupportsIPv6) return false;
        try
        {
            using var probe = new Socket(AddressFamily.InterNetworkV6, SocketType.Stream, ProtocolType.Tcp);
            probe.Bind(new IPEndPoint(IPAddress.IPv6Loopback, 0));
            return true;
        }
        catch (SocketException)
        {
            return false;
        }
    });

    /// <summary>Collects log entries, to check that close reasons are logged.</summary>
    public sealed class ListLogger : ILogger
    {
        public List<(LogLevel Level, EventId Id, string Message)> Entries { get; } = new();

        public IDisposable? BeginScope<TState>(TState state) where TState : notnull => null;

        public bool IsEnabled(LogLevel logLevel) => true;

        public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
        {
            lock (Entries) Entries.Add((logLevel, eventId, formatter(state, exception)));
        }
    }
}
