namespace ClusterSharing;

public sealed partial class ClusterClientOptions
{
    /// <summary>
    /// Leadership per key: how long a member that must give a key up (it moves to another member, or was removed) waits
    /// for the work it runs under that key (<c>DoIfLeaderAsync</c>) to return after the key's token fired, before it
    /// tells the leader the key is free. Work still running then is logged (event 7002) and the key moves anyway.
    /// Default 5 seconds; between 0 and 10 minutes.
    /// </summary>
    public TimeSpan KeyReleaseGrace { get; set; } = TimeSpan.FromSeconds(5);
}
