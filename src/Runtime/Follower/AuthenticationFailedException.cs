namespace ClusterSharing.Follower;

/// <summary>The shared-secret handshake failed: the peer is alive but not one of ours, so it is not a lost leader.</summary>
internal sealed class AuthenticationFailedException(string message, Exception? inner) : ClusterClientException(message, inner);

/// <summary>A live ClusterClient leader turned this process away (a limit such as MaxFollowers): not a lost leader either.</summary>
internal sealed class LeaderRefusedException(string message, Exception? inner) : ClusterClientException(message, inner);
