using ClusterSharing.Protocol;
using Microsoft.Extensions.Logging;

namespace ClusterSharing.Transport;

/// <summary>What <see cref="FrameConnection"/> does when a peer does not read fast enough.</summary>
public enum SendOverflowPolicy
{
    /// <summary>Close the connection (reason <see cref="ConnectionCloseReason.SendBufferOverflow"/>): a slow follower is dropped and re-attaches.</summary>
    CloseConnection,

    /// <summary>Refuse the frame (<c>Send</c> returns false) and keep the connection.</summary>
    RejectFrame,
}

/// <summary>Settings of one <see cref="FrameConnection"/>.</summary>
public sealed class FrameConnectionOptions
{
    /// <summary>Defaults: <see cref="ProtocolLimits.Default"/>, 64 MiB of unsent bytes, close on overflow, no logging.</summary>
    public static FrameConnectionOptions Default { get; } = new();

    /// <summary>Limits enforced on received frames and on frames written.</summary>
    public ProtocolLimits Limits { get; init; } = ProtocolLimits.Default;

    /// <summary>
    /// Bytes queued but not yet taken by the socket above which <see cref="OverflowPolicy"/> applies to the next frame.
    /// Default 64 MiB; it bounds the memory one unresponsive peer can hold.
    /// </summary>
    public long MaxPendingSendBytes { get; init; } = 64L * 1024 * 1024;

    /// <summary>What happens to a frame sent while more than <see cref="MaxPendingSendBytes"/> are queued.</summary>
    public SendOverflowPolicy OverflowPolicy { get; init; } = SendOverflowPolicy.CloseConnection;

    /// <summary>
    /// Limits for received frames until <see cref="FrameConnection.ReceiveLimits"/> is changed; null means <see cref="Limits"/>.
    /// A server gives unauthenticated peers small limits here and raises them once the peer is trusted.
    /// </summary>
    public ProtocolLimits? ReceiveLimits { get; init; }

    /// <summary>Shared budget of buffered incomplete-frame bytes across connections; null for none.</summary>
    public ReceiveBudget? ReceiveBudget { get; init; }

    /// <summary>Receives close reasons and protocol violations; optional.</summary>
    public ILogger? Logger { get; init; }

    /// <summary>Names the connection in log messages (for example "follower 4711"); defaults to the remote endpoint.</summary>
    public string? Name { get; init; }

    /// <summary>Size of each receive buffer segment. Default 32 KiB.</summary>
    public int ReceiveBufferSize { get; init; } = 32 * 1024;

    /// <summary>How long <see cref="FrameConnection.CloseAsync"/> waits for queued frames to be sent. Default 2 seconds.</summary>
    public TimeSpan CloseDrainTimeout { get; init; } = TimeSpan.FromSeconds(2);

    /// <summary>Throws <see cref="ArgumentException"/> when a setting is out of range.</summary>
    public void Validate()
    {
        ArgumentNullException.ThrowIfNull(Limits);
        Limits.Validate();
        ReceiveLimits?.Validate();
        if (MaxPendingSendBytes < 1)
            throw new ArgumentOutOfRangeException(nameof(MaxPendingSendBytes), MaxPendingSendBytes, "MaxPendingSendBytes must be positive.");
        if (ReceiveBufferSize < 1024)
            throw new ArgumentOutOfRangeException(nameof(ReceiveBufferSize), ReceiveBufferSize, "ReceiveBufferSize must be at least 1024 bytes.");
        if (CloseDrainTimeout < TimeSpan.Zero)
            throw new ArgumentOutOfRangeException(nameof(CloseDrainTimeout), CloseDrainTimeout, "CloseDrainTimeout must not be negative.");
        if (!Enum.IsDefined(OverflowPolicy))
            throw new ArgumentOutOfRangeException(nameof(OverflowPolicy), OverflowPolicy, "Unknown overflow policy.");
    }
}
