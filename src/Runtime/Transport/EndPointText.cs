using System.Net;
using System.Net.Sockets;

namespace ClusterSharing.Transport;

/// <summary>How endpoints are named in logs and error messages.</summary>
internal static class EndPointText
{
    /// <summary>"unix:/path" for a Unix domain socket, "address:port" otherwise.</summary>
    public static string Describe(EndPoint endPoint) => endPoint is UnixDomainSocketEndPoint unix ? $"unix:{unix}" : endPoint.ToString() ?? "(unknown)";
}
