using System.Buffers;
using System.Buffers.Binary;
using System.Diagnostics;
using ClusterSharing.Protocol;
using MessagePack;
using Xunit.Abstractions;

namespace ClusterSharing.Tests.Protocol;

/// <summary>
/// Random, mutated and truncated frames through <see cref="FrameReader"/> and header-object decoding: only
/// <see cref="ProtocolException"/> may escape, and allocation must stay far below what the claimed lengths would need.
/// Set CC_FUZZ_SEED to replay or explore another seed.
/// </summary>
public class FrameFuzzTests(ITestOutputHelper output)
{
    private const int Iterations = 150_000;
    private static readonly TimeSpan TimeBudget = TimeSpan.FromSeconds(25);

    [Fact]
    public void Mutated_and_truncated_frames_only_ever_raise_protocol_exceptions_and_allocate_little()
    {
        int seed = int.TryParse(Environment.GetEnvironmentVariable("CC_FUZZ_SEED"), out var s) ? s : 20261121;
        output.WriteLine($"seed {seed}");
        var random = new Random(seed);
        var corpus = PacketSamples.All().Select(x => x.Encode()).ToList();
        corpus.Add(PacketSamples.Make(PacketType.Invoke, 9, new CallHeader(1, 2, 3), new byte[3000]).Encode());
        var limits = new ProtocolLimits { MaxFrameSize = 1024 * 1024, MaxHeaderSize = 4096 };

        var outcomes = new Dictionary<string, int>();
        long allocated = 0, claimed = 0, framesDecoded = 0;
        var clock = Stopwatch.StartNew();
        int i = 0;
        for (; i < Iterations && clock.Elapsed < TimeBudget; i++)
        {
            var input = Mutate(random, corpus);
            claimed += ClaimedLength(input);
            int[]? segments = random.Next(4) == 0 ? [random.Next(1, 40), random.Next(1, 40)] : null;
            long before = GC.GetAllocatedBytesForCurrentThread();
            string outcome;
            try
            {
                framesDecoded += Decode(input, segments, limits);
                outcome = "accepted";
            }
            catch (ProtocolException e)
            {
                outcome = e.Reason.ToString();
            }
            catch (Exception e)
            {
                Assert.Fail($"seed {seed}, iteration {i}: {e.GetType().Name} escaped: {e.Message}\ninput {Convert.ToHexString(input)}\n{e}");
                return;
            }
            allocated += GC.GetAllocatedBytesForCurrentThread() - before;
            outcomes[outcome] = outcomes.GetValueOrDefault(outcome) + 1;
        }

        output.WriteLine($"{i} inputs in {clock.ElapsedMilliseconds} ms, {framesDecoded} frames decoded");
        output.WriteLine($"allocated {allocated:N0} bytes while decoding; the inputs claimed {claimed:N0} bytes");
        foreach (var (outcome, count) in outcomes.OrderByDescending(x => x.Value)) output.WriteLine($"  {outcome}: {count}");

        // Enough inputs for the outcome checks below to mean something; a loaded machine may not reach Iterations in time.
        Assert.True(i >= 10_000, $"seed {seed}: only {i} inputs ran within {TimeBudget}.");
        Assert.True(outcomes.GetValueOrDefault("accepted") > 1000, $"seed {seed}: the mutations hardly ever produce valid frames.");
        Assert.True(outcomes.Count >= 8, $"seed {seed}: only {outcomes.Count} distinct outcomes; the mutations are too narrow.");
        // Exceptions cost a few hundred bytes each; buffers sized by claimed lengths would cost orders of magnitude more.
        Assert.True(allocated < claimed / 1000, $"seed {seed}: allocated {allocated} bytes for inputs claiming {claimed}.");
        Assert.True(allocated / i < 4096, $"seed {seed}: {allocated / i} bytes allocated per input on average.");
    }

    /// <summary>Reads every frame in <paramref name="input"/> and decodes its header object and error bodies.</summary>
    private static int Decode(byte[] input, int[]? segments, ProtocolLimits limits)
    {
        var buffer = segments is null ? new ReadOnlySequence<byte>(input) : PacketSamples.Segmented(input, segments);
        int frames = 0;
        while (FrameReader.TryReadFrame(ref buffer, limits, out var frame))
        {
            frames++;
            frame.ReadEpoch();
            switch (frame.Type)
            {
                case PacketType.RegisterChannel: frame.ReadHeader<RegisterChannelHeader>(); break;
                case PacketType.RegisterChannelResult: frame.ReadHeader<RegisterChannelResultHeader>(); break;
                case PacketType.Invoke or PacketType.Oneway or PacketType.Publish: frame.ReadHeader<CallHeader>(); break;
                case PacketType.InvokeResult:
                    if (frame.ReadHeader<ResultHeader>().Status == ResultStatus.Error) ReadError(frame);
                    break;
                case PacketType.Subscribe or PacketType.Unsubscribe: frame.ReadHeader<SubscriptionHeader>(); break;
                case PacketType.SubscribeResult:
                    if (frame.ReadHeader<SubscribeResultHeader>().Kind == SubscriptionEventKind.Faulted) ReadError(frame);
                    break;
                case PacketType.Cancel or PacketType.SubscribeResultAck or PacketType.Inspect or PacketType.InspectResult: frame.ReadHeader<EpochHeader>(); break;
                case PacketType.Heartbeat or PacketType.HeartbeatResponse: frame.ReadHeader<HeartbeatHeader>(); break;
                case PacketType.Goodbye: frame.ReadHeader<GoodbyeHeader>(); break;
                case PacketType.AuthChallenge or PacketType.AuthResponse: frame.ReadHeader<AuthHeader>(); break;
                case PacketType.MemberAnnounce: frame.ReadHeader<MemberAnnounceHeader>(); break;
                case PacketType.MemberView: frame.ReadHeader<MemberViewHeader>(); break;
                case PacketType.MemberChannel: frame.ReadHeader<MemberChannelHeader>(); break;
                case PacketType.MemberMessage: frame.ReadHeader<MemberMessageHeader>(); break;
                case PacketType.MemberMessageAck: frame.ReadHeader<MemberMessageAckHeader>(); break;
                default: throw new InvalidOperationException($"FrameReader let through undefined type {frame.Type}.");
            }
        }
        return frames;
    }

    private static void ReadError(Frame frame)
    {
        // Body decoding belongs to the runtime, which turns codec errors into protocol errors the same way.
        try
        {
            var reader = frame.CreateBodyReader();
            RemoteError.Read(ref reader);
        }
        catch (MessagePackSerializationException e)
        {
            throw new ProtocolException(ProtocolErrorReason.MalformedHeaderObject, e.Message, e);
        }
    }

    private static long ClaimedLength(byte[] input)
    {
        if (input.Length < FrameHeader.Size) return 0;
        return (long)(uint)BinaryPrimitives.ReadInt32BigEndian(input.AsSpan(16)) + (uint)BinaryPrimitives.ReadInt32BigEndian(input.AsSpan(20));
    }

    private static readonly int[] InterestingLengths = [0, 1, -1, 23, 24, 255, 4096, 4097, 65535, 1 << 20, (1 << 20) + 1, int.MaxValue, int.MinValue, 0x7fffff00];

    private static byte[] Mutate(Random random, List<byte[]> corpus)
    {
        var original = corpus[random.Next(corpus.Count)];
        var bytes = (byte[])original.Clone();
        int mutations = random.Next(1, 4);
        for (int m = 0; m < mutations; m++)
        {
            switch (random.Next(10))
            {
                case 0: // bit flips anywhere
                case 1:
                    for (int k = random.Next(1, 5); k > 0 && bytes.Length > 0; k--)
                        bytes[random.Next(bytes.Length)] ^= (byte)(1 << random.Next(8));
                    break;
                case 2: // a length field set to something interesting
                    if (bytes.Length >= FrameHeader.Size)
                        BinaryPrimitives.WriteInt32BigEndian(bytes.AsSpan(random.Next(2) == 0 ? 16 : 20), InterestingLengths[random.Next(InterestingLengths.Length)]);
                    break;
                case 3: // a length field nudged
                    if (bytes.Length >= FrameHeader.Size)
                    {
                        int offset = random.Next(2) == 0 ? 16 : 20;
                        BinaryPrimitives.WriteInt32BigEndian(bytes.AsSpan(offset), BinaryPrimitives.ReadInt32BigEndian(bytes.AsSpan(offset)) + random.Next(-3, 4));
                    }
                    break;
                case 4: // truncation
                    bytes = bytes.AsSpan(0, random.Next(bytes.Length + 1)).ToArray();
                    break;
                case 5: // header object bytes overwritten, header kept valid (exercises the MessagePack decoding)
                    for (int k = random.Next(1, 4); k > 0 && bytes.Length > FrameHeader.Size; k--)
                        bytes[random.Next(FrameHeader.Size, bytes.Length)] = (byte)random.Next(256);
                    break;
                case 6: // another packet type, so the header object is read as the wrong shape
                    if (bytes.Length >= FrameHeader.Size)
                    {
                        var type = (PacketType)random.Next(1, (int)PacketTypes.MaxValue + 1);
                        bytes[2] = (byte)type;
                        bytes[1] = PacketTypes.IsResponse(type) ? (byte)1 : (byte)0;
                    }
                    break;
                case 7: // two frames back to back, the second possibly cut
                    {
                        var next = corpus[random.Next(corpus.Count)];
                        bytes = [.. bytes, .. next.AsSpan(0, random.Next(next.Length + 1))];
                        break;
                    }
                case 8: // insert or delete a byte inside
                    if (bytes.Length > 1)
                    {
                        int at = random.Next(bytes.Length);
                        bytes = random.Next(2) == 0
                            ? [.. bytes.AsSpan(0, at), (byte)random.Next(256), .. bytes.AsSpan(at)]
                            : [.. bytes.AsSpan(0, at), .. bytes.AsSpan(at + 1)];
                    }
                    break;
                default: // pure noise behind a plausible version byte
                    bytes = new byte[random.Next(0, 200)];
                    random.NextBytes(bytes);
                    if (bytes.Length > 0 && random.Next(2) == 0) bytes[0] = FrameHeader.CurrentVersion;
                    break;
            }
        }
        return bytes;
    }
}
