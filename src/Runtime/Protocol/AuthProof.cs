using System.Buffers.Binary;
using System.Security.Cryptography;

namespace ClusterSharing.Protocol;

/// <summary>
/// The shared-secret handshake (HMAC-SHA256). The leader answers a follower's handshake heartbeat with an
/// <see cref="PacketType.AuthChallenge"/> carrying a 32-byte nonce; the follower answers with
/// <see cref="PacketType.AuthResponse"/> = its own 32-byte nonce followed by
/// HMAC(secret, "ClusterClient/2 follower" || port || leaderNonce || followerNonce); the leader checks it and proves itself
/// with a second <see cref="PacketType.AuthChallenge"/> = HMAC(secret, "ClusterClient/2 leader" || port || leaderNonce || followerNonce)
/// before the handshake's heartbeat response. Fresh nonces on both sides defeat replays; the secret never travels.
/// </summary>
internal static class AuthProof
{
    public const int NonceLength = 32;
    public const int ProofLength = 32;

    private static ReadOnlySpan<byte> FollowerLabel => "ClusterClient/2 follower"u8;
    private static ReadOnlySpan<byte> LeaderLabel => "ClusterClient/2 leader"u8;

    public static byte[] NewNonce() => RandomNumberGenerator.GetBytes(NonceLength);

    public static byte[] FollowerProof(byte[] secret, int port, ReadOnlySpan<byte> leaderNonce, ReadOnlySpan<byte> followerNonce) =>
        Compute(secret, FollowerLabel, port, leaderNonce, followerNonce);

    public static byte[] LeaderProof(byte[] secret, int port, ReadOnlySpan<byte> leaderNonce, ReadOnlySpan<byte> followerNonce) =>
        Compute(secret, LeaderLabel, port, leaderNonce, followerNonce);

    /// <summary>Constant-time comparison, so timing reveals nothing about how much of a forged proof was right.</summary>
    public static bool Matches(ReadOnlySpan<byte> expected, ReadOnlySpan<byte> actual) =>
        expected.Length == actual.Length && CryptographicOperations.FixedTimeEquals(expected, actual);

    private static byte[] Compute(byte[] secret, ReadOnlySpan<byte> label, int port, ReadOnlySpan<byte> leaderNonce, ReadOnlySpan<byte> followerNonce)
    {
        Span<byte> message = stackalloc byte[64 + 4 + 2 * NonceLength];
        int length = 0;
        label.CopyTo(message);
        length += label.Length;
        BinaryPrimitives.WriteInt32BigEndian(message[length..], port);
        length += 4;
        leaderNonce.CopyTo(message[length..]);
        length += leaderNonce.Length;
        followerNonce.CopyTo(message[length..]);
        length += followerNonce.Length;
        return HMACSHA256.HashData(secret, message[..length]);
    }
}
