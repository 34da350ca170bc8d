namespace ClusterSharing;

/// <summary>What became of a direct message (<see cref="ClusterMembership.SendToAsync{T}"/>).</summary>
public enum DeliveryStatus
{
    /// <summary>The target's handlers for the channel ran and returned.</summary>
    Delivered = 0,

    /// <summary>The target got the message but one of its handlers threw (or could not decode it).</summary>
    HandlerFailed = 1,

    /// <summary>The target is alive but has no handler joined to the channel; nothing ran.</summary>
    NotJoined = 2,

    /// <summary>No live member has that id (it left, was killed, or never existed); nothing ran.</summary>
    MemberGone = 3,

    /// <summary>No answer within the timeout: the message may or may not have been handled.</summary>
    TimedOut = 4,
}

/// <summary>Data of the member events of <see cref="ClusterMembership"/>.</summary>
/// <param name="member">The member as it is now (for a removal: as it was last seen).</param>
public sealed class ClusterMemberEventArgs(ClusterMember member) : EventArgs
{
    /// <summary>The member as it is now (for a removal: as it was last seen).</summary>
    public ClusterMember Member { get; } = member;

    /// <inheritdoc/>
    public override string ToString() => Member.ToString();
}

/// <summary>A message received on a channel (<see cref="ClusterMembership.Join{T}(string, Func{ClusterMessage{T}, CancellationToken, ValueTask})"/>).</summary>
/// <typeparam name="T">The message type.</typeparam>
public sealed class ClusterMessage<T>
{
    internal ClusterMessage(string from, string channel, bool direct, T value)
    {
        From = from;
        Channel = channel;
        IsDirect = direct;
        Value = value;
    }

    /// <summary>The sending member's id.</summary>
    public string From { get; }

    /// <summary>The channel it was sent on.</summary>
    public string Channel { get; }

    /// <summary>True when it was sent to this member only (<see cref="ClusterMembership.SendToAsync{T}"/>).</summary>
    public bool IsDirect { get; }

    /// <summary>The message.</summary>
    public T Value { get; }
}
