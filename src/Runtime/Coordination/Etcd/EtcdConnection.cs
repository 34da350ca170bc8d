using System.Net.Security;
using System.Security.Cryptography.X509Certificates;
using Etcdserverpb;
using Grpc.Core;
using Grpc.Net.Client;

namespace ClusterSharing.Coordination.Etcd;

/// <summary>
/// The gRPC channel to etcd (dotnet-etcd's generated clients) with failover between the configured endpoints and the
/// authentication token when a user is configured. Every unary call gets <see cref="EtcdElectionSettings.RequestTimeout"/>
/// as its deadline, so nothing waits on a silent etcd for longer.
/// </summary>
internal sealed class EtcdConnection : IDisposable
{
    private readonly EtcdElectionSettings _settings;
    private readonly object _gate = new();
    private int _endpointIndex;
    private Channel? _current;
    private bool _disposed;

    public EtcdConnection(EtcdElectionSettings settings) => _settings = settings;

    /// <summary>Which endpoint the next call goes to (for messages).</summary>
    public Uri CurrentEndpoint
    {
        get { lock (_gate) return _settings.Endpoints[_endpointIndex]; }
    }

    /// <summary>Options for a unary call: the request deadline, the caller's token, and the auth token.</summary>
    public async ValueTask<(Channel Channel, CallOptions Options)> UnaryAsync(CancellationToken cancellationToken)
    {
        var channel = GetChannel();
        var headers = await channel.HeadersAsync(_settings, cancellationToken).ConfigureAwait(false);
        return (channel, new CallOptions(headers, DateTime.UtcNow + _settings.RequestTimeout, cancellationToken));
    }

    /// <summary>Options for a stream (keep-alive, watch): no deadline, the caller's token ends it.</summary>
    public async ValueTask<(Channel Channel, CallOptions Options)> StreamAsync(CancellationToken cancellationToken)
    {
        var channel = GetChannel();
        var headers = await channel.HeadersAsync(_settings, cancellationToken).ConfigureAwait(false);
        return (channel, new CallOptions(headers, deadline: null, cancellationToken));
    }

    /// <summary>
    /// A call through <paramref name="channel"/> failed: the next call uses the next endpoint (when there are several),
    /// and the token is fetched again when etcd rejected it.
    /// </summary>
    public void Failed(Channel channel, Exception exception)
    {
        lock (_gate)
        {
            if (!ReferenceEquals(_current, channel)) return; // someone already moved on
            if (exception is RpcException { StatusCode: StatusCode.Unauthenticated }
                || (exception is RpcException r && r.Status.Detail.Contains("token", StringComparison.OrdinalIgnoreCase)))
            {
                channel.ForgetToken();
                return;
            }
            if (_settings.Endpoints.Count == 1) return;
            _endpointIndex = (_endpointIndex + 1) % _settings.Endpoints.Count;
            _current = null;
        }
        channel.Dispose();
    }

    public void Dispose()
    {
        Channel? current;
        lock (_gate)
        {
            _disposed = true;
            current = _current;
            _current = null;
        }
        current?.Dispose();
    }

    private Channel GetChannel()
    {
        lock (_gate)
        {
            ObjectDisposedException.ThrowIf(_disposed, this);
            return _current ??= new Channel(_settings.Endpoints[_endpointIndex], CreateHandler(_settings));
        }
    }

    private static SocketsHttpHandler CreateHandler(EtcdElectionSettings settings)
    {
        var handler = new SocketsHttpHandler
        {
            ConnectTimeout = settings.RequestTimeout,
            // A dead etcd host (no RST) is noticed by HTTP/2 pings, not only by call deadlines.
            KeepAlivePingDelay = Max(settings.RenewEvery, TimeSpan.FromSeconds(1)),
            KeepAlivePingTimeout = Max(settings.RequestTimeout, TimeSpan.FromSeconds(1)),
            KeepAlivePingPolicy = HttpKeepAlivePingPolicy.Always,
            EnableMultipleHttp2Connections = true,
        };
        if (settings.ClientCertificate is { } client) handler.SslOptions.ClientCertificates = new X509CertificateCollection { client };
        if (settings.TrustedCertificateAuthority is { } authority)
        {
            handler.SslOptions.RemoteCertificateValidationCallback = (_, certificate, _, errors) =>
            {
                if (certificate is null) return false;
                if (errors == SslPolicyErrors.None) return true;
                if ((errors & SslPolicyErrors.RemoteCertificateNameMismatch) != 0) return false;
                using var chain = new X509Chain();
                chain.ChainPolicy.TrustMode = X509ChainTrustMode.CustomRootTrust;
                chain.ChainPolicy.CustomTrustStore.Add(authority);
                chain.ChainPolicy.RevocationMode = X509RevocationMode.NoCheck;
                return chain.Build(new X509Certificate2(certificate));
            };
        }
        return handler;
    }

    private static TimeSpan Max(TimeSpan a, TimeSpan b) => a > b ? a : b;

    /// <summary>One gRPC channel to one endpoint, with dotnet-etcd's clients and the cached auth token.</summary>
    internal sealed class Channel : IDisposable
    {
        private readonly GrpcChannel _grpc;
        private readonly SemaphoreSlim _authLock = new(1, 1);
        private Metadata? _headers;

        public Channel(Uri endpoint, SocketsHttpHandler handler)
        {
            Endpoint = endpoint;
            _grpc = GrpcChannel.ForAddress(endpoint, new GrpcChannelOptions { HttpHandler = handler, DisposeHttpClient = true });
            var invoker = _grpc.CreateCallInvoker();
            KV = new KV.KVClient(invoker);
            Lease = new Lease.LeaseClient(invoker);
            Watch = new Watch.WatchClient(invoker);
            Auth = new Auth.AuthClient(invoker);
        }

        public Uri Endpoint { get; }
        public KV.KVClient KV { get; }
        public Lease.LeaseClient Lease { get; }
        public Watch.WatchClient Watch { get; }
        private Auth.AuthClient Auth { get; }

        public async ValueTask<Metadata?> HeadersAsync(EtcdElectionSettings settings, CancellationToken cancellationToken)
        {
            if (settings.Username is null) return null;
            if (Volatile.Read(ref _headers) is { } cached) return cached;
            await _authLock.WaitAsync(cancellationToken).ConfigureAwait(false);
            try
            {
                if (_headers is { } again) return again;
                var response = await Auth.AuthenticateAsync(
                    new AuthenticateRequest { Name = settings.Username, Password = settings.Password ?? "" },
                    deadline: DateTime.UtcNow + settings.RequestTimeout, cancellationToken: cancellationToken).ConfigureAwait(false);
                var headers = new Metadata { { "token", response.Token } };
                Volatile.Write(ref _headers, headers);
                return headers;
            }
            finally
            {
                _authLock.Release();
            }
        }

        public void ForgetToken() => Volatile.Write(ref _headers, null);

        public void Dispose()
        {
            _grpc.Dispose();
            _authLock.Dispose();
        }
    }
}
