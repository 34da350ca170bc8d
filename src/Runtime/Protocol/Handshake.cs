namespace ClusterSharing.Protocol;

// The connection handshake, both halves in one file so its order can change in one place.
//
//   follower                                   leader
//   Heartbeat (request id != 0, known epoch) ->
//                                            <- AuthChallenge (leader share, 256 bytes)    } only when a secret is set
//   AuthResponse (follower share, 256 bytes) ->                                            } (SPAKE2, see AuthProof)
//                                            <- AuthChallenge (leader proof, 32 bytes)     }
//   (the follower checks it, else closes)
//   AuthResponse (follower proof, 32 bytes)  ->                                            }
//                                            <- HeartbeatResponse (request id, epoch)     the handshake's answer
//
// The leader proves itself first: a squatter on the port gets the follower's share (a random group element) and
// nothing else. The halves decide; the connections send (the epoch stamped on each packet is theirs) and log.

/// <summary>What the leader does with a frame that arrived before the follower authenticated.</summary>
internal enum LeaderHandshakeStep
{
    /// <summary>Nothing to do (a heartbeat while waiting, or anything after a rejection).</summary>
    Ignore,

    /// <summary>Send <see cref="PacketType.AuthChallenge"/> with the reply (the leader's share, then its proof).</summary>
    Challenge,

    /// <summary>The follower proved the secret: answer the handshake.</summary>
    Authenticated,

    /// <summary>Refuse the follower (goodbye with the reason, then close).</summary>
    Reject,
}

/// <summary>The leader's half of the handshake, one per follower connection.</summary>
internal sealed class LeaderHandshake
{
    private const int Authenticated = 0, WaitingForHello = 1, ShareSent = 2, ProofSent = 3, Rejected = 4;

    private readonly byte[]? _secret;
    private readonly int _port;
    private int _state;
    private AuthExchange? _exchange;
    private byte[]? _transcript;

    /// <param name="secret">The shared secret, or null when the cluster uses none (the follower is authenticated at once).</param>
    /// <param name="port">The election port, bound into the transcript.</param>
    public LeaderHandshake(byte[]? secret, int port)
    {
        _secret = secret;
        _port = port;
        _state = secret is null ? Authenticated : WaitingForHello;
    }

    /// <summary>True once the follower proved the secret (at once without one).</summary>
    public bool IsAuthenticated => Volatile.Read(ref _state) == Authenticated;

    /// <summary>The epoch the follower knew when it started the handshake.</summary>
    public long HelloEpoch { get; private set; }

    /// <summary>The session's liveness-pulse tokens once authenticated with a secret; zeros without one.</summary>
    public PulseTokens PulseTokens { get; private set; }

    /// <summary>
    /// Handles a frame received before <see cref="IsAuthenticated"/>. <paramref name="reply"/> is the auth data to send
    /// for <see cref="LeaderHandshakeStep.Challenge"/>; <paramref name="rejection"/> says why for <see cref="LeaderHandshakeStep.Reject"/>.
    /// </summary>
    public LeaderHandshakeStep Receive(in Frame frame, out byte[]? reply, out string? rejection)
    {
        reply = null;
        rejection = null;
        int state = Volatile.Read(ref _state);
        if (state == Rejected) return LeaderHandshakeStep.Ignore; // the connection is closing
        switch (frame.Type)
        {
            case PacketType.Heartbeat when frame.RequestId != 0 && state == WaitingForHello:
                HelloEpoch = frame.ReadHeader<HeartbeatHeader>().Epoch;
                _exchange = AuthProof.Start(_secret!, leader: true);
                Volatile.Write(ref _state, ShareSent);
                reply = _exchange.Share;
                return LeaderHandshakeStep.Challenge;
            case PacketType.Heartbeat:
            case PacketType.HeartbeatResponse:
                return LeaderHandshakeStep.Ignore;
            case PacketType.AuthResponse when state == ShareSent:
                return OnFollowerShare(frame.ReadHeader<AuthHeader>().Data, out reply, out rejection);
            case PacketType.AuthResponse when state == ProofSent:
                return OnFollowerProof(frame.ReadHeader<AuthHeader>().Data, out rejection);
            case PacketType.Goodbye:
                rejection = state == ProofSent
                    ? "it refused this leader's proof (it uses another secret)"
                    : "it said goodbye before authenticating (it has no secret or another one)";
                return LeaderHandshakeStep.Reject;
            default:
                rejection = $"it sent {frame.Type} before authenticating";
                return LeaderHandshakeStep.Reject;
        }
    }

    private LeaderHandshakeStep OnFollowerShare(byte[] share, out byte[]? reply, out string? rejection)
    {
        reply = null;
        rejection = null;
        _transcript = AuthProof.Transcript(_exchange!, share, _port);
        if (_transcript is null)
        {
            rejection = share.Length == AuthProof.ShareLength
                ? "its key-exchange share is not a valid group element"
                : $"its key-exchange share has {share.Length} bytes instead of {AuthProof.ShareLength} (an older ClusterClient version?)";
            return LeaderHandshakeStep.Reject;
        }
        Volatile.Write(ref _state, ProofSent);
        reply = AuthProof.LeaderProof(_transcript);
        return LeaderHandshakeStep.Challenge;
    }

    private LeaderHandshakeStep OnFollowerProof(byte[] proof, out string? rejection)
    {
        rejection = null;
        if (!AuthProof.Matches(AuthProof.FollowerProof(_transcript!), proof))
        {
            rejection = "its proof does not match this leader's secret (the processes use different secrets)";
            return LeaderHandshakeStep.Reject;
        }
        PulseTokens = AuthProof.PulseTokens(_transcript!);
        Volatile.Write(ref _state, Authenticated);
        return LeaderHandshakeStep.Authenticated;
    }

    /// <summary>
    /// Why a follower that closed mid-handshake failed to authenticate (it refused this leader's proof, or could not
    /// answer its share: another secret or none, or an attacker's online guess), or null when it did not get that far.
    /// </summary>
    public string? Abandoned => Volatile.Read(ref _state) switch
    {
        ShareSent => "it closed the connection during authentication without answering this leader's share (it has no secret)",
        ProofSent => "it closed the connection after this leader proved itself, without proving the secret (it uses another secret, or it is guessing)",
        _ => null,
    };

    /// <summary>Marks the follower rejected; false when it already was (so it is refused once).</summary>
    public bool TryReject() => Interlocked.Exchange(ref _state, Rejected) != Rejected;
}

/// <summary>The follower's half of the handshake, one per connection to a leader.</summary>
internal sealed class FollowerHandshake
{
    private const int NothingSeen = 0, ShareSent = 1, LeaderProved = 2;

    private readonly byte[]? _secret;
    private readonly int _port;
    private readonly Func<string> _describePeer;
    private int _state;
    private byte[]? _transcript;
    private volatile string? _failure;

    /// <param name="secret">This process's shared secret, or null when it has none.</param>
    /// <param name="port">The election port, bound into the transcript.</param>
    /// <param name="describePeer">Names the process at the other end ("uid 1001 (alice), pid 4242") for failure messages.</param>
    public FollowerHandshake(byte[]? secret, int port, Func<string>? describePeer = null)
    {
        _secret = secret;
        _port = port;
        _describePeer = describePeer ?? (static () => "unknown user");
    }

    /// <summary>Why authentication failed (the connection is then closed), or null.</summary>
    public string? Failure => _failure;

    /// <summary>The session's liveness-pulse tokens once the leader proved the secret; zeros without a secret.</summary>
    public PulseTokens PulseTokens { get; private set; }

    /// <summary>
    /// Handles the leader's <see cref="PacketType.AuthChallenge"/>: the first carries its share, the second its proof.
    /// Returns the <see cref="PacketType.AuthResponse"/> data to send (this side's share, then, only once the leader's
    /// proof checked out, this side's proof), or null: (with <see cref="Failure"/> set) close the connection.
    /// </summary>
    /// <exception cref="ProtocolException">The challenge is malformed or comes after the handshake completed.</exception>
    public byte[]? OnChallenge(byte[] data)
    {
        if (_secret is null)
        {
            _failure = $"authentication failed: the leader (port {_port}; {_describePeer()}) requires a shared secret and this process has none (Security is Open); " +
                $"set ClusterClientOptions.Secret (or {ClusterClientOptions.SecretEnvironmentVariable}) to the cluster's secret";
            return null;
        }
        switch (Volatile.Read(ref _state))
        {
            case NothingSeen:
                if (data.Length != AuthProof.ShareLength)
                {
                    if (data.Length != 32)
                        throw new ProtocolException(ProtocolErrorReason.MalformedHeaderObject, $"An auth challenge share must be {AuthProof.ShareLength} bytes (was {data.Length}).");
                    _failure = $"authentication failed: the process at port {_port} ({_describePeer()}) sent a 32-byte challenge, the handshake of ClusterClient " +
                        "versions before the leader proved itself first; it is not followed and was sent nothing. If it is an older ClusterClient, run the same version " +
                        "in every process; otherwise another program or user holds the port: choose another Port";
                    return null;
                }
                var exchange = AuthProof.Start(_secret, leader: false);
                _transcript = AuthProof.Transcript(exchange, data, _port);
                if (_transcript is null)
                {
                    _failure = $"authentication failed: the process at port {_port} ({_describePeer()}) sent an invalid key-exchange share, so it is not followed; " +
                        "something other than a ClusterClient leader holds the port: choose another Port";
                    return null;
                }
                Volatile.Write(ref _state, ShareSent);
                return exchange.Share;
            case ShareSent:
                if (!AuthProof.Matches(AuthProof.LeaderProof(_transcript!), data))
                {
                    // Nothing of this process's proof left it: the peer got a random share only.
                    _failure = $"authentication failed: the process at port {_port} ({_describePeer()}) could not prove it knows this process's secret, so it is not followed " +
                        "and was sent no proof; the processes use different secrets (another user's cluster, another StateDirectory, or another Secret) or something else holds the port";
                    return null;
                }
                PulseTokens = AuthProof.PulseTokens(_transcript!);
                Volatile.Write(ref _state, LeaderProved);
                return AuthProof.FollowerProof(_transcript!);
            default:
                throw new ProtocolException(ProtocolErrorReason.UnexpectedPacket, "The leader sent an auth challenge after authentication completed.");
        }
    }

    /// <summary>The leader said goodbye; after the leader proved itself and this process sent its proof, that means the proof was rejected.</summary>
    public void OnGoodbye(string reason)
    {
        if (Volatile.Read(ref _state) == LeaderProved)
            _failure = $"authentication failed: the leader (port {_port}; {_describePeer()}) rejected this process's proof ({reason}); the processes use different secrets (another user's cluster, another StateDirectory, or another Secret)";
    }

    /// <summary>
    /// The leader answered the handshake heartbeat. With a secret the leader must have proved itself by now; false (and
    /// <see cref="Failure"/> set) when it did not, because it runs without a secret.
    /// </summary>
    public bool TryComplete(string where)
    {
        if (_secret is null || Volatile.Read(ref _state) == LeaderProved) return true;
        _failure = $"authentication failed: the process listening at {where} (port {_port}; {_describePeer()}) does not use a shared secret " +
            "but this process has one, so it cannot prove it is a genuine leader and is not followed. If it is yours, give every process the same " +
            $"ClusterClientOptions.Secret (or {ClusterClientOptions.SecretEnvironmentVariable}) or run them as the same user with the same StateDirectory; " +
            "otherwise another program or user holds the port: choose another Port";
        return false;
    }
}
