namespace ClusterSharing.Leader;

/// <summary>
/// What one follower holds in the leader's subscription hubs, in the hubs' own terms: each live subscription id with
/// its canonical registration, plus the idle keys it created that outlived its subscriptions. Bounded by count
/// (<see cref="ClusterClientOptions.MaxSubscriptionsPerFollower"/>) and by registration bytes
/// (<see cref="ClusterClientOptions.MaxRegistrationBytesPerFollower"/>), so no follower can make the leader hold more.
/// </summary>
internal sealed class SubscriptionQuota(int maxSubscriptions, long maxBytes)
{
    private readonly Dictionary<(int ChannelId, uint MethodId, long SubscriptionId), byte[]> _live = new();
    private int _idleKeys;
    private long _bytes;

    /// <summary>Subscriptions and charged idle keys (tests).</summary>
    public int Count
    {
        get { lock (_live) return _live.Count + _idleKeys; }
    }

    /// <summary>Registration bytes held, idle keys included (tests).</summary>
    public long Bytes
    {
        get { lock (_live) return _bytes; }
    }

    /// <summary>Admits a subscription; a repeat of a live one with the same registration is admitted again (a re-subscribe).</summary>
    /// <returns>Null when admitted, else why not.</returns>
    public string? TryAdd(int channelId, uint methodId, long subscriptionId, byte[] registration)
    {
        lock (_live)
        {
            if (_live.TryGetValue((channelId, methodId, subscriptionId), out var known))
            {
                return known.AsSpan().SequenceEqual(registration) ? null
                    : $"subscription id {subscriptionId} is already live with another registration; a follower uses a new id for each subscription";
            }
            if (_live.Count + _idleKeys >= maxSubscriptions)
                return $"this follower already holds MaxSubscriptionsPerFollower ({maxSubscriptions}) subscriptions on the leader (idle ones it created included)";
            if (_bytes + registration.Length > maxBytes)
                return $"this follower's registrations already take {_bytes} bytes on the leader; {registration.Length} more would pass MaxRegistrationBytesPerFollower ({maxBytes})";
            _live.Add((channelId, methodId, subscriptionId), registration);
            _bytes += registration.Length;
            return null;
        }
    }

    /// <summary>Forgets a subscription; returns the registration it was admitted with, or null when it was not live.</summary>
    public byte[]? Remove(int channelId, uint methodId, long subscriptionId)
    {
        lock (_live)
        {
            if (!_live.Remove((channelId, methodId, subscriptionId), out var registration)) return null;
            _bytes -= registration.Length;
            return registration;
        }
    }

    /// <summary>A key this follower created stays idle after its subscription ended: it keeps counting against the follower.</summary>
    public void ChargeIdle(byte[] registration)
    {
        lock (_live)
        {
            _idleKeys++;
            _bytes += registration.Length;
        }
    }
}
