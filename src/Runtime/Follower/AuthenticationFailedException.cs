namespace ClusterSharing.Follower;

/// <summary>The shared-secret handshake failed: the peer is alive but not one of ours, so it is not a lost leader.</summary>
internal sealed class AuthenticationFailedException(string message, Exception? inner) : ClusterClientException(message, inner);
