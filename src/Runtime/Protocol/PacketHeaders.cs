using System.Buffers;
using MessagePack;

namespace ClusterSharing.Protocol;

/// <summary>
/// Header object of <see cref="PacketType.RegisterChannel"/>: <c>[epoch, channelName, contractFingerprint, processId]</c>.
/// </summary>
/// <param name="Epoch">The leader epoch the follower believes in (0 before it has seen one).</param>
/// <param name="ChannelName">The contract's channel name (<c>ClusterContract.Name</c>).</param>
/// <param name="ContractFingerprint">A hash over the contract's method ids, so a leader built from another version of the interface is detected.</param>
/// <param name="ProcessId">The follower's process id, for diagnostics.</param>
public readonly record struct RegisterChannelHeader(long Epoch, string ChannelName, uint ContractFingerprint, int ProcessId)
    : IPacketHeader<RegisterChannelHeader>
{
    /// <inheritdoc/>
    public static bool IsHeaderOf(PacketType type) => type == PacketType.RegisterChannel;

    /// <inheritdoc/>
    public void Write(ref MessagePackWriter writer)
    {
        writer.WriteArrayHeader(4);
        writer.Write(Epoch);
        writer.Write(ChannelName);
        writer.Write(ContractFingerprint);
        writer.Write(ProcessId);
    }

    /// <inheritdoc/>
    public static RegisterChannelHeader Read(ref MessagePackReader reader)
    {
        int count = HeaderFields.ReadArray(ref reader, 4, nameof(PacketType.RegisterChannel));
        var header = new RegisterChannelHeader(reader.ReadInt64(),
            HeaderFields.ReadRequiredString(ref reader, nameof(PacketType.RegisterChannel), "channelName"),
            reader.ReadUInt32(), reader.ReadInt32());
        HeaderFields.SkipExtra(ref reader, count, 4);
        return header;
    }
}

/// <summary>
/// Header object of <see cref="PacketType.RegisterChannelResult"/>: <c>[epoch, channelId, ok, error]</c>.
/// </summary>
/// <param name="Epoch">The leader's epoch.</param>
/// <param name="ChannelId">The id the follower puts in every later packet of this channel when <paramref name="Ok"/>; otherwise the
/// negative <see cref="RegistrationOutcome"/>.</param>
/// <param name="Ok">Whether the channel was attached.</param>
/// <param name="Error">Why registration failed (nil when <paramref name="Ok"/>).</param>
public readonly record struct RegisterChannelResultHeader(long Epoch, int ChannelId, bool Ok, string? Error)
    : IPacketHeader<RegisterChannelResultHeader>
{
    /// <summary>An acceptance: <paramref name="channelId"/> (1 or more) addresses the channel on this connection.</summary>
    public static RegisterChannelResultHeader Accepted(long epoch, int channelId) => new(epoch, channelId, true, null);

    /// <summary>A refusal with its <paramref name="outcome"/> (carried in the channel id) and a sentence for the follower.</summary>
    public static RegisterChannelResultHeader Refused(long epoch, RegistrationOutcome outcome, string error) => new(epoch, (int)outcome, false, error);

    /// <summary>What the leader answered; an unknown refusal code (a newer leader) reads as <see cref="RegistrationOutcome.NotHosted"/>.</summary>
    public RegistrationOutcome Outcome => Ok
        ? RegistrationOutcome.Accepted
        : ChannelId is >= (int)RegistrationOutcome.NotReady and < 0 ? (RegistrationOutcome)ChannelId : RegistrationOutcome.NotHosted;

    /// <inheritdoc/>
    public static bool IsHeaderOf(PacketType type) => type == PacketType.RegisterChannelResult;

    /// <inheritdoc/>
    public void Write(ref MessagePackWriter writer)
    {
        writer.WriteArrayHeader(4);
        writer.Write(Epoch);
        writer.Write(ChannelId);
        writer.Write(Ok);
        writer.Write(Error);
    }

    /// <inheritdoc/>
    public static RegisterChannelResultHeader Read(ref MessagePackReader reader)
    {
        int count = HeaderFields.ReadArray(ref reader, 4, nameof(PacketType.RegisterChannelResult));
        var header = new RegisterChannelResultHeader(reader.ReadInt64(), reader.ReadInt32(), reader.ReadBoolean(), reader.ReadString());
        HeaderFields.SkipExtra(ref reader, count, 4);
        return header;
    }
}

/// <summary>
/// Header object of <see cref="PacketType.Invoke"/>, <see cref="PacketType.Oneway"/> and <see cref="PacketType.Publish"/>:
/// <c>[epoch, channelId, methodId]</c>, or <c>[epoch, channelId, methodId, traceparent, tracestate]</c> when the caller's
/// span is sampled (absent or nil: no trace context). The body is the argument array.
/// </summary>
/// <param name="Epoch">The leader epoch the follower believes in.</param>
/// <param name="ChannelId">From <see cref="RegisterChannelResultHeader.ChannelId"/>.</param>
/// <param name="MethodId">The stable method id (<c>ClusterMethod.Id</c>).</param>
/// <param name="TraceParent">The W3C traceparent of the follower's client span, or null.</param>
/// <param name="TraceState">The W3C tracestate of that span, or null.</param>
public readonly record struct CallHeader(long Epoch, int ChannelId, uint MethodId, string? TraceParent = null, string? TraceState = null) : IPacketHeader<CallHeader>
{
    /// <inheritdoc/>
    public static bool IsHeaderOf(PacketType type) => type is PacketType.Invoke or PacketType.Oneway or PacketType.Publish;

    /// <inheritdoc/>
    public void Write(ref MessagePackWriter writer)
    {
        writer.WriteArrayHeader(TraceParent is null ? 3 : 5);
        writer.Write(Epoch);
        writer.Write(ChannelId);
        writer.Write(MethodId);
        if (TraceParent is null) return;
        writer.Write(TraceParent);
        writer.Write(TraceState);
    }

    /// <inheritdoc/>
    public static CallHeader Read(ref MessagePackReader reader)
    {
        int count = HeaderFields.ReadArray(ref reader, 3, "call");
        var header = new CallHeader(reader.ReadInt64(), reader.ReadInt32(), reader.ReadUInt32());
        if (count < 5)
        {
            HeaderFields.SkipExtra(ref reader, count, 3);
            return header;
        }
        var (traceParent, traceState) = HeaderFields.ReadTraceContext(ref reader);
        HeaderFields.SkipExtra(ref reader, count, 5);
        return header with { TraceParent = traceParent, TraceState = traceState };
    }
}

/// <summary>Completion status carried by <see cref="ResultHeader"/>.</summary>
public enum ResultStatus : byte
{
    /// <summary>The call completed; the body is the result value (nil for a method without one).</summary>
    Ok = 0,

    /// <summary>The call failed; the body is a <see cref="RemoteError"/> map.</summary>
    Error = 1,
}

/// <summary>
/// Header object of <see cref="PacketType.InvokeResult"/>: <c>[epoch, status]</c>; the frame's request id is the invoke's.
/// </summary>
/// <param name="Epoch">The leader's epoch.</param>
/// <param name="Status">Whether the body is a value or an error.</param>
public readonly record struct ResultHeader(long Epoch, ResultStatus Status) : IPacketHeader<ResultHeader>
{
    /// <inheritdoc/>
    public static bool IsHeaderOf(PacketType type) => type == PacketType.InvokeResult;

    /// <inheritdoc/>
    public void Write(ref MessagePackWriter writer)
    {
        writer.WriteArrayHeader(2);
        writer.Write(Epoch);
        writer.Write((byte)Status);
    }

    /// <inheritdoc/>
    public static ResultHeader Read(ref MessagePackReader reader)
    {
        int count = HeaderFields.ReadArray(ref reader, 2, nameof(PacketType.InvokeResult));
        var header = new ResultHeader(reader.ReadInt64(),
            HeaderFields.ReadEnum<ResultStatus>(ref reader, (byte)ResultStatus.Error, nameof(PacketType.InvokeResult), "status"));
        HeaderFields.SkipExtra(ref reader, count, 2);
        return header;
    }
}

/// <summary>
/// Header object of <see cref="PacketType.Subscribe"/> and <see cref="PacketType.Unsubscribe"/>:
/// <c>[epoch, channelId, methodId, subscriptionId]</c>. The body is the registration.
/// </summary>
/// <param name="Epoch">The leader epoch the follower believes in.</param>
/// <param name="ChannelId">From <see cref="RegisterChannelResultHeader.ChannelId"/>.</param>
/// <param name="MethodId">The subscribe member's id (for an unsubscribe: the unsubscribe member's id).</param>
/// <param name="SubscriptionId">Chosen by the follower, unique on its connection; the leader tags every value with it.</param>
public readonly record struct SubscriptionHeader(long Epoch, int ChannelId, uint MethodId, long SubscriptionId)
    : IPacketHeader<SubscriptionHeader>
{
    /// <inheritdoc/>
    public static bool IsHeaderOf(PacketType type) => type is PacketType.Subscribe or PacketType.Unsubscribe;

    /// <inheritdoc/>
    public void Write(ref MessagePackWriter writer)
    {
        writer.WriteArrayHeader(4);
        writer.Write(Epoch);
        writer.Write(ChannelId);
        writer.Write(MethodId);
        writer.Write(SubscriptionId);
    }

    /// <inheritdoc/>
    public static SubscriptionHeader Read(ref MessagePackReader reader)
    {
        int count = HeaderFields.ReadArray(ref reader, 4, "subscription");
        var header = new SubscriptionHeader(reader.ReadInt64(), reader.ReadInt32(), reader.ReadUInt32(), reader.ReadInt64());
        HeaderFields.SkipExtra(ref reader, count, 4);
        return header;
    }
}

/// <summary>What a <see cref="PacketType.SubscribeResult"/> reports.</summary>
public enum SubscriptionEventKind : byte
{
    /// <summary>A value; the body is the value.</summary>
    Value = 0,

    /// <summary>An async-stream subscription ended normally; the body is nil.</summary>
    Completed = 1,

    /// <summary>The subscription failed; the body is a <see cref="RemoteError"/> map.</summary>
    Faulted = 2,

    /// <summary>
    /// The leader's real client holds the subscription; the body is nil. Sent only for subscribe members that are
    /// awaitable (<c>ClusterMethod.Awaitable</c>), so a follower with only void subscribe members never receives it.
    /// </summary>
    Attached = 3,
}

/// <summary>
/// Header object of <see cref="PacketType.SubscribeResult"/>: <c>[epoch, channelId, methodId, subscriptionId, kind]</c>, or
/// <c>[epoch, channelId, methodId, subscriptionId, kind, traceparent, tracestate]</c> when the leader's fan-out span is
/// sampled (absent or nil: no trace context).
/// </summary>
/// <param name="Epoch">The leader's epoch.</param>
/// <param name="ChannelId">The channel of the subscription.</param>
/// <param name="MethodId">The subscribe member's id.</param>
/// <param name="SubscriptionId">The follower's id from <see cref="SubscriptionHeader.SubscriptionId"/>.</param>
/// <param name="Kind">Whether the body is a value, nothing (completed) or an error.</param>
/// <param name="TraceParent">The W3C traceparent of the leader's fan-out span, or null.</param>
/// <param name="TraceState">The W3C tracestate of that span, or null.</param>
public readonly record struct SubscribeResultHeader(long Epoch, int ChannelId, uint MethodId, long SubscriptionId, SubscriptionEventKind Kind,
    string? TraceParent = null, string? TraceState = null)
    : IPacketHeader<SubscribeResultHeader>
{
    /// <inheritdoc/>
    public static bool IsHeaderOf(PacketType type) => type == PacketType.SubscribeResult;

    /// <inheritdoc/>
    public void Write(ref MessagePackWriter writer)
    {
        writer.WriteArrayHeader(TraceParent is null ? 5 : 7);
        writer.Write(Epoch);
        writer.Write(ChannelId);
        writer.Write(MethodId);
        writer.Write(SubscriptionId);
        writer.Write((byte)Kind);
        if (TraceParent is null) return;
        writer.Write(TraceParent);
        writer.Write(TraceState);
    }

    /// <inheritdoc/>
    public static SubscribeResultHeader Read(ref MessagePackReader reader)
    {
        int count = HeaderFields.ReadArray(ref reader, 5, nameof(PacketType.SubscribeResult));
        var header = new SubscribeResultHeader(reader.ReadInt64(), reader.ReadInt32(), reader.ReadUInt32(), reader.ReadInt64(),
            HeaderFields.ReadEnum<SubscriptionEventKind>(ref reader, (byte)SubscriptionEventKind.Attached, nameof(PacketType.SubscribeResult), "kind"));
        if (count < 7)
        {
            HeaderFields.SkipExtra(ref reader, count, 5);
            return header;
        }
        // Advisory, as in CallHeader: a malformed context counts as absent.
        var (traceParent, traceState) = HeaderFields.ReadTraceContext(ref reader);
        HeaderFields.SkipExtra(ref reader, count, 7);
        return header with { TraceParent = traceParent, TraceState = traceState };
    }
}

/// <summary>
/// Header object of <see cref="PacketType.Cancel"/>, <see cref="PacketType.SubscribeResultAck"/>, <see cref="PacketType.Inspect"/>
/// and <see cref="PacketType.InspectResult"/>: <c>[epoch]</c>. The frame's request id names the invoke to cancel, the value
/// acknowledged or the inspect request answered.
/// </summary>
/// <param name="Epoch">The leader epoch the sender believes in.</param>
public readonly record struct EpochHeader(long Epoch) : IPacketHeader<EpochHeader>
{
    /// <inheritdoc/>
    public static bool IsHeaderOf(PacketType type) => type is PacketType.Cancel or PacketType.SubscribeResultAck or PacketType.Inspect or PacketType.InspectResult;

    /// <inheritdoc/>
    public void Write(ref MessagePackWriter writer)
    {
        writer.WriteArrayHeader(1);
        writer.Write(Epoch);
    }

    /// <inheritdoc/>
    public static EpochHeader Read(ref MessagePackReader reader)
    {
        int count = HeaderFields.ReadArray(ref reader, 1, "epoch");
        var header = new EpochHeader(reader.ReadInt64());
        HeaderFields.SkipExtra(ref reader, count, 1);
        return header;
    }
}

/// <summary>
/// Header object of <see cref="PacketType.Heartbeat"/> and <see cref="PacketType.HeartbeatResponse"/>:
/// <c>[epoch, sentAtTicks]</c>; a response echoes the heartbeat's <paramref name="SentAtTicks"/> so the sender can measure the round trip.
/// </summary>
/// <param name="Epoch">The leader epoch the sender believes in.</param>
/// <param name="SentAtTicks">The heartbeat sender's <c>Stopwatch.GetTimestamp()</c> when it was sent.</param>
public readonly record struct HeartbeatHeader(long Epoch, long SentAtTicks) : IPacketHeader<HeartbeatHeader>
{
    /// <inheritdoc/>
    public static bool IsHeaderOf(PacketType type) => type is PacketType.Heartbeat or PacketType.HeartbeatResponse;

    /// <inheritdoc/>
    public void Write(ref MessagePackWriter writer)
    {
        writer.WriteArrayHeader(2);
        writer.Write(Epoch);
        writer.Write(SentAtTicks);
    }

    /// <inheritdoc/>
    public static HeartbeatHeader Read(ref MessagePackReader reader)
    {
        int count = HeaderFields.ReadArray(ref reader, 2, "heartbeat");
        var header = new HeartbeatHeader(reader.ReadInt64(), reader.ReadInt64());
        HeaderFields.SkipExtra(ref reader, count, 2);
        return header;
    }
}

/// <summary>Header object of <see cref="PacketType.Goodbye"/>: <c>[epoch, reason]</c>, or <c>[epoch, reason, last dispatched]</c> from a leader leaving on purpose.</summary>
/// <param name="Epoch">The leader epoch the sender believes in.</param>
/// <param name="Reason">Why the sender is leaving (for logs), or nil.</param>
/// <param name="LastDispatched">
/// From a leader closing an established session: the highest request id it handed to its real client on this connection
/// (0: none). It dispatches nothing after the goodbye, so the follower knows that every invoke with a higher id was not
/// run and may retry it on the next leader, and keeps reading the replies of the others. -1 (the field is absent): the
/// sender says nothing about its calls (a refusal during the handshake, a follower leaving, an older version).
/// </param>
public readonly record struct GoodbyeHeader(long Epoch, string? Reason, long LastDispatched = -1) : IPacketHeader<GoodbyeHeader>
{
    /// <inheritdoc/>
    public static bool IsHeaderOf(PacketType type) => type == PacketType.Goodbye;

    /// <inheritdoc/>
    public void Write(ref MessagePackWriter writer)
    {
        writer.WriteArrayHeader(LastDispatched >= 0 ? 3 : 2);
        writer.Write(Epoch);
        writer.Write(Reason);
        if (LastDispatched >= 0) writer.Write(LastDispatched);
    }

    /// <inheritdoc/>
    public static GoodbyeHeader Read(ref MessagePackReader reader)
    {
        int count = HeaderFields.ReadArray(ref reader, 2, nameof(PacketType.Goodbye));
        long epoch = reader.ReadInt64();
        string? reason = reader.ReadString();
        long lastDispatched = -1;
        if (count >= 3)
        {
            lastDispatched = reader.ReadInt64();
            if (lastDispatched < 0)
                throw new ProtocolException(ProtocolErrorReason.MalformedHeaderObject, $"A goodbye's last dispatched request id is negative ({lastDispatched}).");
        }
        HeaderFields.SkipExtra(ref reader, count, Math.Min(count, 3));
        return new GoodbyeHeader(epoch, reason, lastDispatched);
    }
}

/// <summary>
/// Header object of <see cref="PacketType.AuthChallenge"/> (data = the leader's nonce) and
/// <see cref="PacketType.AuthResponse"/> (data = the follower's proof): <c>[epoch, data(bin)]</c>.
/// </summary>
/// <param name="Epoch">The leader epoch the sender believes in.</param>
/// <param name="Data">Nonce or proof, at most <see cref="MaxDataLength"/> bytes.</param>
public readonly record struct AuthHeader(long Epoch, byte[] Data) : IPacketHeader<AuthHeader>
{
    /// <summary>Longest accepted nonce or proof.</summary>
    public const int MaxDataLength = 256;

    /// <inheritdoc/>
    public static bool IsHeaderOf(PacketType type) => type is PacketType.AuthChallenge or PacketType.AuthResponse;

    /// <inheritdoc/>
    public void Write(ref MessagePackWriter writer)
    {
        if (Data is null || Data.Length > MaxDataLength)
            throw new ArgumentException($"Auth data must be present and at most {MaxDataLength} bytes.", nameof(Data));
        writer.WriteArrayHeader(2);
        writer.Write(Epoch);
        writer.Write(Data);
    }

    /// <inheritdoc/>
    public static AuthHeader Read(ref MessagePackReader reader)
    {
        int count = HeaderFields.ReadArray(ref reader, 2, "auth");
        long epoch = reader.ReadInt64();
        var bytes = reader.ReadBytes() ?? throw new ProtocolException(ProtocolErrorReason.MalformedHeaderObject,
            "The data field of an auth header object is nil; a binary is required.");
        if (bytes.Length > MaxDataLength)
            throw new ProtocolException(ProtocolErrorReason.MalformedHeaderObject,
                $"Auth data of {bytes.Length} bytes exceeds the limit of {MaxDataLength} bytes.");
        var data = bytes.ToArray();
        HeaderFields.SkipExtra(ref reader, count, 2);
        return new AuthHeader(epoch, data);
    }
}
