namespace ClusterSharing.Protocol;

// The connection handshake, both halves in one file so its order can change in one place.
//
//   follower                                   leader
//   Heartbeat (request id != 0, known epoch) ->
//                                            <- AuthChallenge (leader nonce)              } only when a secret is set
//   AuthResponse (follower nonce || proof)   ->                                            }
//                                            <- AuthChallenge (leader proof)              }
//                                            <- HeartbeatResponse (request id, epoch)     the handshake's answer
//
// The halves decide; the connections send (the epoch stamped on each packet is theirs) and log. Proofs: AuthProof.

/// <summary>What the leader does with a frame that arrived before the follower authenticated.</summary>
internal enum LeaderHandshakeStep
{
    /// <summary>Nothing to do (a heartbeat while waiting, or anything after a rejection).</summary>
    Ignore,

    /// <summary>Send <see cref="PacketType.AuthChallenge"/> with the leader's nonce.</summary>
    Challenge,

    /// <summary>The follower proved the secret: send <see cref="PacketType.AuthChallenge"/> with the leader's proof, then answer the handshake.</summary>
    Authenticated,

    /// <summary>Refuse the follower (goodbye with the reason, then close).</summary>
    Reject,
}

/// <summary>The leader's half of the handshake, one per follower connection.</summary>
internal sealed class LeaderHandshake
{
    private const int Authenticated = 0, WaitingForHello = 1, ChallengeSent = 2, Rejected = 3;

    private readonly byte[]? _secret;
    private readonly int _port;
    private int _state;
    private byte[]? _leaderNonce;

    /// <param name="secret">The shared secret, or null when the cluster uses none (the follower is authenticated at once).</param>
    /// <param name="port">The election port, bound into the proofs.</param>
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

    /// <summary>
    /// Handles a frame received before <see cref="IsAuthenticated"/>. <paramref name="reply"/> is the auth data to send
    /// for <see cref="LeaderHandshakeStep.Challenge"/> and <see cref="LeaderHandshakeStep.Authenticated"/>;
    /// <paramref name="rejection"/> says why for <see cref="LeaderHandshakeStep.Reject"/>.
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
                _leaderNonce = AuthProof.NewNonce();
                Volatile.Write(ref _state, ChallengeSent);
                reply = _leaderNonce;
                return LeaderHandshakeStep.Challenge;
            case PacketType.Heartbeat:
            case PacketType.HeartbeatResponse:
                return LeaderHandshakeStep.Ignore;
            case PacketType.AuthResponse when state == ChallengeSent:
                return CheckProof(frame.ReadHeader<AuthHeader>().Data, out reply, out rejection);
            case PacketType.Goodbye:
                rejection = "it said goodbye before authenticating (it has no secret or another one)";
                return LeaderHandshakeStep.Reject;
            default:
                rejection = $"it sent {frame.Type} before authenticating";
                return LeaderHandshakeStep.Reject;
        }
    }

    private LeaderHandshakeStep CheckProof(byte[] data, out byte[]? reply, out string? rejection)
    {
        reply = null;
        rejection = null;
        if (data.Length != AuthProof.NonceLength + AuthProof.ProofLength)
        {
            rejection = $"its auth response has {data.Length} bytes instead of {AuthProof.NonceLength + AuthProof.ProofLength}";
            return LeaderHandshakeStep.Reject;
        }
        var followerNonce = data.AsSpan(0, AuthProof.NonceLength);
        var expected = AuthProof.FollowerProof(_secret!, _port, _leaderNonce, followerNonce);
        if (!AuthProof.Matches(expected, data.AsSpan(AuthProof.NonceLength)))
        {
            rejection = "its proof does not match this leader's secret (the processes use different secrets)";
            return LeaderHandshakeStep.Reject;
        }
        Volatile.Write(ref _state, Authenticated);
        reply = AuthProof.LeaderProof(_secret!, _port, _leaderNonce, followerNonce);
        return LeaderHandshakeStep.Authenticated;
    }

    /// <summary>Marks the follower rejected; false when it already was (so it is refused once).</summary>
    public bool TryReject() => Interlocked.Exchange(ref _state, Rejected) != Rejected;
}

/// <summary>The follower's half of the handshake, one per connection to a leader.</summary>
internal sealed class FollowerHandshake
{
    private const int NothingSeen = 0, ProofSent = 1, LeaderProved = 2;

    private readonly byte[]? _secret;
    private readonly int _port;
    private readonly Func<string> _describePeer;
    private int _state;
    private byte[]? _nonces; // leader nonce || follower nonce, once the challenge was answered
    private volatile string? _failure;

    /// <param name="secret">This process's shared secret, or null when it has none.</param>
    /// <param name="port">The election port, bound into the proofs.</param>
    /// <param name="describePeer">Names the process at the other end ("uid 1001 (alice)") for failure messages.</param>
    public FollowerHandshake(byte[]? secret, int port, Func<string>? describePeer = null)
    {
        _secret = secret;
        _port = port;
        _describePeer = describePeer ?? (static () => "unknown user");
    }

    /// <summary>Why authentication failed (the connection is then closed), or null.</summary>
    public string? Failure => _failure;

    /// <summary>
    /// Handles the leader's <see cref="PacketType.AuthChallenge"/>: the first carries its nonce, the second its proof.
    /// Returns the <see cref="PacketType.AuthResponse"/> data to send, or null: nothing to send, or (with
    /// <see cref="Failure"/> set) close the connection.
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
                if (data.Length != AuthProof.NonceLength)
                    throw new ProtocolException(ProtocolErrorReason.MalformedHeaderObject, $"An auth challenge nonce must be {AuthProof.NonceLength} bytes (was {data.Length}).");
                byte[] followerNonce = AuthProof.NewNonce();
                byte[] proof = AuthProof.FollowerProof(_secret, _port, data, followerNonce);
                _nonces = [.. data, .. followerNonce];
                Volatile.Write(ref _state, ProofSent);
                return [.. followerNonce, .. proof];
            case ProofSent:
                var nonces = _nonces!;
                byte[] expected = AuthProof.LeaderProof(_secret, _port, nonces.AsSpan(0, AuthProof.NonceLength), nonces.AsSpan(AuthProof.NonceLength));
                if (!AuthProof.Matches(expected, data))
                {
                    _failure = $"authentication failed: the process at port {_port} ({_describePeer()}) could not prove it knows this process's secret, so it is not followed; " +
                        "the processes use different secrets (another user's cluster, another StateDirectory, or another Secret) or something else holds the port";
                    return null;
                }
                Volatile.Write(ref _state, LeaderProved);
                return null;
            default:
                throw new ProtocolException(ProtocolErrorReason.UnexpectedPacket, "The leader sent an auth challenge after authentication completed.");
        }
    }

    /// <summary>The leader said goodbye; right after this process sent its proof that means the proof was rejected.</summary>
    public void OnGoodbye(string reason)
    {
        if (Volatile.Read(ref _state) == ProofSent)
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
