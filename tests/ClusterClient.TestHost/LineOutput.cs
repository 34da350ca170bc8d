using System.Text.Json;

namespace ClusterSharing.TestHost;

/// <summary>
/// The TestHost's failure lines on top of <see cref="StdoutLines"/>: a failed reply and the error details the
/// tests assert on (the ClusterClient exception types and what each carries).
/// </summary>
internal static class LineOutput
{
    public static void Failed(long id, Exception error) => StdoutLines.WriteJson(w =>
    {
        w.WriteNumber("id", id);
        w.WriteBoolean("ok", false);
        WriteError(w, error);
    });

    /// <summary>The error's type, message and the typed details the tests assert on.</summary>
    public static void WriteError(Utf8JsonWriter w, Exception error)
    {
        w.WriteString("error", error.GetType().Name);
        w.WriteString("message", error.Message);
        w.WriteBoolean("clusterError", error is ClusterClientException);
        switch (error)
        {
            case LeaderLostException lost:
                w.WriteBoolean("sent", lost.RequestSent);
                break;
            case ClusterRemoteException remote:
                w.WriteString("remoteType", remote.RemoteType);
                w.WriteString("remoteMessage", remote.RemoteMessage);
                if (remote.Code is not null) w.WriteString("code", remote.Code);
                break;
            case ClusterFactoryException factory:
                w.WriteString("remoteType", factory.RemoteType);
                w.WriteString("remoteMessage", factory.RemoteMessage);
                if (factory.Code is not null) w.WriteString("code", factory.Code);
                break;
            case ClusterTimeoutException timeout:
                w.WriteString("method", timeout.Method);
                w.WriteNumber("timeoutMs", timeout.Timeout.TotalMilliseconds);
                break;
        }
        if (error.InnerException is { } inner)
        {
            w.WriteString("innerError", inner.GetType().Name);
            w.WriteString("innerMessage", inner.Message);
        }
    }
}
