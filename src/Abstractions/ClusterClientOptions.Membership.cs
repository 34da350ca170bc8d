namespace ClusterSharing;

public sealed partial class ClusterClientOptions
{
    /// <summary>
    /// Leader preference: among live eligible members the highest weight leads (ties: the earliest joined). Every member
    /// sees it in <c>ClusterMember.Weight</c>. Default 0.
    /// </summary>
    public int Weight { get; set; }

    /// <summary>
    /// False: this process never leads (it follows, like <see cref="ClusterRole.Follower"/>, and says so in its member
    /// entry). Default true.
    /// </summary>
    public bool Eligible { get; set; } = true;
}
