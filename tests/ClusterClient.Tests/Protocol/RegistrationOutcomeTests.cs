using System.Buffers;
using ClusterSharing.Protocol;

namespace ClusterSharing.Tests.Protocol;

/// <summary>Registration answers carry a named outcome; a refusal's code travels in the channel id field.</summary>
public sealed class RegistrationOutcomeTests
{
    private static RegisterChannelResultHeader RoundTrip(in RegisterChannelResultHeader header)
    {
        var output = new ArrayBufferWriter<byte>();
        FrameWriter.WriteFrame(output, PacketType.RegisterChannelResult, 1, header, ReadOnlySpan<byte>.Empty, ProtocolLimits.Default);
        var buffer = new ReadOnlySequence<byte>(output.WrittenMemory.ToArray());
        Assert.True(FrameReader.TryReadFrame(ref buffer, ProtocolLimits.Default, out var frame));
        return frame.ReadHeader<RegisterChannelResultHeader>();
    }

    [Theory]
    [InlineData(RegistrationOutcome.NotHosted, -1)]
    [InlineData(RegistrationOutcome.ContractMismatch, -2)]
    [InlineData(RegistrationOutcome.FactoryFailed, -3)]
    [InlineData(RegistrationOutcome.NotReady, -4)]
    public void A_refusal_keeps_its_outcome_and_wire_code(RegistrationOutcome outcome, int code)
    {
        var read = RoundTrip(RegisterChannelResultHeader.Refused(3, outcome, "why"));

        Assert.False(read.Ok);
        Assert.Equal(code, read.ChannelId);
        Assert.Equal(outcome, read.Outcome);
        Assert.Equal("why", read.Error);
    }

    [Fact]
    public void An_acceptance_carries_the_channel_id()
    {
        var read = RoundTrip(RegisterChannelResultHeader.Accepted(3, 2));

        Assert.Equal(RegistrationOutcome.Accepted, read.Outcome);
        Assert.Equal(2, read.ChannelId);
    }

    [Fact]
    public void An_unknown_refusal_code_reads_as_not_hosted()
    {
        Assert.Equal(RegistrationOutcome.NotHosted, new RegisterChannelResultHeader(1, -99, false, "newer leader").Outcome);
    }
}
