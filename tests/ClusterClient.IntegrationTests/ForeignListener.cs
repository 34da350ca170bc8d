using System.Net;
using System.Net.Sockets;

namespace ClusterSharing.IntegrationTests;

/// <summary>A process on the port that is not a ClusterClient leader: it accepts and then stays silent, writes garbage, or hangs up.</summary>
public sealed class ForeignListener : IAsyncDisposable
{
    private readonly TcpListener _listener = new(IPAddress.Loopback, 0);
    private readonly CancellationTokenSource _stop = new();
    private readonly List<TcpClient> _accepted = new();
    private readonly Task _acceptLoop;

    public ForeignListener(string behaviour)
    {
        _listener.Start();
        Port = ((IPEndPoint)_listener.LocalEndpoint).Port;
        _acceptLoop = Task.Run(() => AcceptAsync(behaviour));
    }

    public int Port { get; }

    public int AcceptedCount
    {
        get { lock (_accepted) return _accepted.Count; }
    }

    private async Task AcceptAsync(string behaviour)
    {
        // Bounded: a runaway reconnect loop in the client must not make the test grow without limit.
        for (int i = 0; i < 10_000 && !_stop.IsCancellationRequested; i++)
        {
            TcpClient client;
            try
            {
                client = await _listener.AcceptTcpClientAsync(_stop.Token);
            }
            catch (Exception e) when (e is OperationCanceledException or ObjectDisposedException or SocketException)
            {
                return;
            }
            lock (_accepted) _accepted.Add(client);
            try
            {
                switch (behaviour)
                {
                    case "silent":
                        break;
                    case "garbage":
                        // Looks like a frame header with an absurd version and lengths, then text.
                        var junk = new byte[512];
                        new Random(42).NextBytes(junk);
                        "HTTP/1.1 400 Bad Request\r\n\r\n"u8.CopyTo(junk);
                        await client.GetStream().WriteAsync(junk, _stop.Token);
                        break;
                    case "hangup":
                        client.Close();
                        break;
                    default:
                        throw new ArgumentException($"Unknown behaviour {behaviour}.");
                }
            }
            catch (Exception e) when (e is IOException or SocketException or OperationCanceledException or ObjectDisposedException)
            {
                // The client went away first; fine.
            }
        }
    }

    public async ValueTask DisposeAsync()
    {
        _stop.Cancel();
        _listener.Stop();
        await Task.WhenAny(_acceptLoop, Task.Delay(TimeSpan.FromSeconds(5)));
        lock (_accepted)
            foreach (var c in _accepted) c.Dispose();
        _stop.Dispose();
    }
}
