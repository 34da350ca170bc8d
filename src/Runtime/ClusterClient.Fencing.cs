using ClusterSharing.Leader;

namespace ClusterSharing;

public static partial class ClusterClient
{
    /// <summary>
    /// The fencing token of the call the leader is dispatching to the real client on this thread: the epoch of the
    /// leadership term that confirmed, just before dispatching, that it was still current. 0 outside such a dispatch.
    /// </summary>
    /// <remarks>
    /// Set for invokes, oneways and publications from followers, and for the leader's own invokes and oneways that wait
    /// for the cluster (calls the proxy makes directly on the local real client are checked but carry no token; the
    /// leader's own publications carry none either).
    /// Read it at the start of the real client's method, before its first <c>await</c> (it does not flow across
    /// awaits), and pass it upstream, for example as the version of a conditional write: epochs only grow, so a store
    /// that refuses a token lower than the highest it has seen also refuses a deposed leader whose call got past the
    /// check (see the Fencing paragraph of docs/semantics.md for what the check alone guarantees).
    /// </remarks>
    public static long FencingToken => FencingScope.Current;
}
