using System.Buffers.Binary;
using System.Collections.Concurrent;
using System.Globalization;
using System.Numerics;
using System.Runtime.CompilerServices;
using System.Security.Cryptography;

namespace ClusterSharing.Protocol;

/// <summary>
/// The shared-secret handshake: SPAKE2 (RFC 9382) over the 2048-bit MODP group of RFC 3526 (group 14, a safe prime,
/// generator 2), with key confirmation. Each side sends a blinded share (<c>g^x·M^w</c> from the follower,
/// <c>g^y·N^w</c> from the leader, <c>w</c> derived from the secret); both derive the same transcript hash only if
/// they used the same secret. The leader proves it first (HMAC over the transcript), the follower checks that proof
/// before it sends its own. A peer that does not know the secret learns nothing it can test offline: a share is a
/// uniformly random group element, and a proof can be checked against one guess only, the one the attacker committed
/// to in its own share (one online guess per connection, which the leader logs and rate-limits).
/// </summary>
/// <remarks>
/// <c>M</c> and <c>N</c> are hashed into the group (squares of SHA-512 expansions of fixed labels), so nobody knows
/// their discrete logarithms. Scalars are 320-bit (well above the 256 bits that 128-bit security needs in this group);
/// received shares must lie in 2..p-2 and the shared secret is raised with cofactor 2, so it always lies in the
/// prime-order subgroup. A process computes <c>M^w</c>, <c>N^w</c> and their inverses once per secret.
/// </remarks>
internal static class AuthProof
{
    /// <summary>Bytes of a share on the wire (big-endian, left-padded).</summary>
    public const int ShareLength = 256;

    /// <summary>Bytes of a key-confirmation proof (HMAC-SHA256).</summary>
    public const int ProofLength = 32;

    private const string Group14 =
        "00FFFFFFFFFFFFFFFFC90FDAA22168C234C4C6628B80DC1CD129024E088A67CC74020BBEA63B139B22514A08798E3404DD" +
        "EF9519B3CD3A431B302B0A6DF25F14374FE1356D6D51C245E485B576625E7EC6F44C42E9A637ED6B0BFF5CB6F406B7ED" +
        "EE386BFB5A899FA5AE9F24117C4B1FE649286651ECE45B3DC2007CB8A163BF0598DA48361C55D39A69163FA8FD24CF5F" +
        "83655D23DCA3AD961C62F356208552BB9ED529077096966D670C354E4ABC9804F1746C08CA18217C32905E462E36CE3B" +
        "E39E772C180E86039B2783A2EC07A28FB5C55DF06F4C52C9DE2BCBF6955817183995497CEA956AE515D2261898FA0510" +
        "15728E5A8AACAA68FFFFFFFFFFFFFFFF";

    private static readonly BigInteger P = BigInteger.Parse(Group14, NumberStyles.HexNumber, CultureInfo.InvariantCulture);
    private static readonly BigInteger G = 2;
    private static readonly MontgomeryModulus? Fast = BitConverter.IsLittleEndian ? new MontgomeryModulus(P) : null;
    private static readonly BigInteger M = HashToGroup("ClusterClient/2 SPAKE2 M");
    private static readonly BigInteger N = HashToGroup("ClusterClient/2 SPAKE2 N");
    private static readonly ConditionalWeakTable<byte[], Password> Passwords = new();

    private static ReadOnlySpan<byte> TranscriptLabel => "ClusterClient/2 SPAKE2 transcript"u8;
    private static ReadOnlySpan<byte> LeaderLabel => "ClusterClient/2 leader"u8;
    private static ReadOnlySpan<byte> FollowerLabel => "ClusterClient/2 follower"u8;
    private static ReadOnlySpan<byte> FollowerPulseLabel => "ClusterClient/2 follower pulse"u8;
    private static ReadOnlySpan<byte> LeaderPulseLabel => "ClusterClient/2 leader pulse"u8;

    /// <summary>Constant-time comparison, so timing reveals nothing about how much of a forged proof was right.</summary>
    public static bool Matches(ReadOnlySpan<byte> expected, ReadOnlySpan<byte> actual) =>
        expected.Length == actual.Length && CryptographicOperations.FixedTimeEquals(expected, actual);

    /// <summary>
    /// Starts one side of an exchange with a fresh random scalar: one prepared in the background when there is one (so
    /// a connection pays one modular exponentiation instead of two on its critical path), else computed now. Each
    /// prepared share is handed out once.
    /// </summary>
    public static AuthExchange Start(byte[] secret, bool leader)
    {
        var password = Passwords.GetValue(secret, static s => new Password(s));
        if (!password.Prepared(leader).TryDequeue(out var exchange)) exchange = Compute(password, leader);
        password.Refill();
        return exchange;
    }

    /// <summary>Computes an exchange's scalar and share now.</summary>
    internal static AuthExchange Compute(Password password, bool leader)
    {
        BigInteger scalar = RandomScalar();
        var share = Pow(G, scalar) * (leader ? password.NW : password.MW) % P;
        return new AuthExchange(password, leader, scalar, ToBytes(share));
    }

    /// <summary>
    /// The transcript hash of an exchange, or null when <paramref name="peerShare"/> is not a valid share (the caller
    /// refuses the peer). Both sides get the same bytes exactly when they used the same secret.
    /// </summary>
    internal static byte[]? Transcript(AuthExchange own, ReadOnlySpan<byte> peerShare, int port)
    {
        if (peerShare.Length != ShareLength) return null;
        var peer = new BigInteger(peerShare, isUnsigned: true, isBigEndian: true);
        if (peer <= BigInteger.One || peer >= P - BigInteger.One) return null;
        // Remove the peer's blinding (N^w from a leader, M^w from a follower), then raise with cofactor 2.
        var unblinded = peer * (own.IsLeader ? own.Password.MWInverse : own.Password.NWInverse) % P;
        var shared = Pow(unblinded, own.Scalar << 1);
        if (shared.IsOne) return null;
        byte[] followerShare = own.IsLeader ? peerShare.ToArray() : own.Share;
        byte[] leaderShare = own.IsLeader ? own.Share : peerShare.ToArray();
        using var hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        Span<byte> portBytes = stackalloc byte[4];
        BinaryPrimitives.WriteInt32BigEndian(portBytes, port);
        hash.AppendData(TranscriptLabel);
        hash.AppendData(portBytes);
        hash.AppendData(followerShare);
        hash.AppendData(leaderShare);
        hash.AppendData(ToBytes(shared));
        hash.AppendData(own.Password.WBytes);
        return hash.GetHashAndReset();
    }

    /// <summary>The leader's key confirmation for <paramref name="transcript"/>.</summary>
    public static byte[] LeaderProof(byte[] transcript) => HMACSHA256.HashData(transcript, LeaderLabel);

    /// <summary>The follower's key confirmation for <paramref name="transcript"/>.</summary>
    public static byte[] FollowerProof(byte[] transcript) => HMACSHA256.HashData(transcript, FollowerLabel);

    /// <summary>The session's liveness-pulse tokens, one a direction so an echo of a follower's pulse is no answer.</summary>
    public static PulseTokens PulseTokens(byte[] transcript) => new(TokenOf(transcript, FollowerPulseLabel), TokenOf(transcript, LeaderPulseLabel));

    private static long TokenOf(byte[] transcript, ReadOnlySpan<byte> label)
    {
        long token = BinaryPrimitives.ReadInt64BigEndian(HMACSHA256.HashData(transcript, label));
        return token == 0 ? 1 : token; // 0 means "no session" (an open cluster)
    }

    /// <summary><paramref name="value"/>^<paramref name="exponent"/> mod p (Montgomery form where the limbs can be read as bytes directly).</summary>
    internal static BigInteger Pow(BigInteger value, BigInteger exponent) =>
        Fast is { } fast ? fast.Pow(value, exponent) : BigInteger.ModPow(value, exponent, P);

    private static BigInteger RandomScalar()
    {
        Span<byte> bytes = stackalloc byte[40];
        BigInteger scalar;
        do
        {
            RandomNumberGenerator.Fill(bytes);
            scalar = new BigInteger(bytes, isUnsigned: true, isBigEndian: true);
        }
        while (scalar.IsZero);
        return scalar;
    }

    private static BigInteger HashToGroup(string label)
    {
        // 5 x 64 bytes of SHA-512 output (2560 bits) reduced mod p: negligibly biased; squaring lands in the subgroup of order q.
        var wide = new byte[5 * 64];
        for (int i = 0; i < 5; i++)
            SHA512.HashData(System.Text.Encoding.ASCII.GetBytes($"{label} {i}"), wide.AsSpan(i * 64, 64));
        var value = new BigInteger(wide, isUnsigned: true, isBigEndian: true) % P;
        return BigInteger.ModPow(value, 2, P);
    }

    private static byte[] ToBytes(BigInteger value)
    {
        var bytes = new byte[ShareLength];
        if (!value.TryWriteBytes(bytes.AsSpan(ShareLength - value.GetByteCount(isUnsigned: true)), out _, isUnsigned: true, isBigEndian: true))
            throw new InvalidOperationException("A group element does not fit in 256 bytes.");
        return bytes;
    }

    private static BigInteger Inverse(BigInteger value)
    {
        // Extended Euclid: far cheaper than value^(p-2) with a 2048-bit exponent.
        BigInteger r0 = P, r1 = value, t0 = 0, t1 = 1;
        while (!r1.IsZero)
        {
            var quotient = BigInteger.DivRem(r0, r1, out var remainder);
            (r0, r1) = (r1, remainder);
            (t0, t1) = (t1, t0 - quotient * t1);
        }
        return t0.Sign < 0 ? t0 + P : t0;
    }

    /// <summary>What one secret contributes, computed once per process and secret.</summary>
    internal sealed class Password
    {
        public Password(byte[] secret)
        {
            WBytes = SHA256.HashData([.. "ClusterClient/2 SPAKE2 w"u8, .. secret]);
            var w = new BigInteger(WBytes, isUnsigned: true, isBigEndian: true);
            MW = Pow(M, w);
            NW = Pow(N, w);
            MWInverse = Inverse(MW);
            NWInverse = Inverse(NW);
        }

        /// <summary>
        /// Shares prepared ahead, per role. A process prepares leader shares too, because after a failover the new
        /// leader handshakes every follower at once; a few suffice for the first, the rest are computed as they come.
        /// </summary>
        private readonly ConcurrentQueue<AuthExchange> _leaderShares = new(), _followerShares = new();
        private int _refilling;

        internal const int PreparedLeaderShares = 4, PreparedFollowerShares = 2;

        public ConcurrentQueue<AuthExchange> Prepared(bool leader) => leader ? _leaderShares : _followerShares;

        /// <summary>
        /// Tops both queues up in the background (one refill at a time per secret), after a pause: a burst of
        /// handshakes (every follower reconnecting to a new leader) is not slowed by refills competing for the CPU.
        /// </summary>
        public void Refill()
        {
            if (_leaderShares.Count >= PreparedLeaderShares && _followerShares.Count >= PreparedFollowerShares) return;
            if (Interlocked.CompareExchange(ref _refilling, 1, 0) != 0) return;
            _ = RefillLaterAsync();
        }

        private async Task RefillLaterAsync()
        {
            try
            {
                await Task.Delay(RefillDelay).ConfigureAwait(false);
                // Follower shares first: a follower reconnects after every failover, a process leads rarely.
                while (_followerShares.Count < PreparedFollowerShares) _followerShares.Enqueue(Compute(this, leader: false));
                while (_leaderShares.Count < PreparedLeaderShares) _leaderShares.Enqueue(Compute(this, leader: true));
            }
            finally
            {
                Volatile.Write(ref _refilling, 0);
            }
        }

        private static readonly TimeSpan RefillDelay = TimeSpan.FromMilliseconds(500);

        public byte[] WBytes { get; }

        public BigInteger MW { get; }

        public BigInteger NW { get; }

        public BigInteger MWInverse { get; }

        public BigInteger NWInverse { get; }
    }
}

/// <summary>One side of a SPAKE2 exchange: its secret scalar and the share it sends.</summary>
internal sealed class AuthExchange
{
    internal AuthExchange(AuthProof.Password password, bool isLeader, BigInteger scalar, byte[] share)
    {
        Password = password;
        IsLeader = isLeader;
        Scalar = scalar;
        Share = share;
    }

    internal AuthProof.Password Password { get; }

    public bool IsLeader { get; }

    internal BigInteger Scalar { get; }

    /// <summary>The share to send (256 bytes).</summary>
    public byte[] Share { get; }
}

/// <summary>
/// The tokens of one session's UDP liveness pulses (<c>Liveness/LivenessPulse</c>): the follower's pulses carry
/// <paramref name="FromFollower"/>, the leader's answers <paramref name="FromLeader"/>. Both 0 for an open cluster.
/// </summary>
internal readonly record struct PulseTokens(long FromFollower, long FromLeader);
