using ClusterSharing.Generators.Tests.Generator.Contracts;
using ClusterSharing.Proxies;
using ClusterSharing.Generators.Tests.Support;
using ClusterSharing.Serialization;
using MessagePack;
using MessagePack.Formatters;

namespace ClusterSharing.Generators.Tests.Generator;

/// <summary>Generated readers given hostile bytes fail with a serialization error and never crash, hang or over-allocate.</summary>
public sealed class MalformedInputTests
{
    private static readonly ClusterContract<IShopClient> Contract = ClusterContractRegistry.TryGetGenerated<IShopClient>()!;

    private sealed class IgnoringReply : IReplyWriter
    {
        public void WriteResult<TResult>(TResult value, IMessagePackFormatter<TResult> formatter, MessagePackSerializerOptions options) { }
        public void WriteVoid() { }
    }

    private sealed class IgnoringSink : ISubscriptionSink
    {
        public void OnValue<TValue>(TValue value, IMessagePackFormatter<TValue> formatter, MessagePackSerializerOptions options) { }
        public void OnCompleted(Exception? error) { }
    }

    private static byte[] RandomMessagePack(Random random)
    {
        // Mostly structural bytes (maps, arrays, strings, ints, nil) so that many inputs get past the first header.
        byte[] alphabet = [0x90, 0x91, 0x92, 0x93, 0x9f, 0x80, 0x81, 0x82, 0x8f, 0xa1, 0xa4, 0xa7, 0xc0, 0xc2, 0xc3, 0x01, 0x7f, 0xff, 0xcc, 0xcd, 0xce, 0xdc, 0xdd, 0xde, 0xdf, 0xc4, 0xd9, 0xd6, 0xc7, 0xcb, 0x53, 0x65, 0x72];
        var bytes = new byte[random.Next(0, 48)];
        for (int i = 0; i < bytes.Length; i++) bytes[i] = random.Next(4) == 0 ? (byte)random.Next(256) : alphabet[random.Next(alphabet.Length)];
        return bytes;
    }

    /// <summary>
    /// The bytes up to the end of the first value, when there is one (a body is exactly one value; trailing bytes are
    /// refused before any formatter runs, so without the cut almost every input would stop there).
    /// </summary>
    private static byte[] FirstValue(byte[] bytes)
    {
        try
        {
            var probe = new MessagePackReader(bytes);
            probe.Skip();
            return bytes.AsSpan(0, (int)probe.Consumed).ToArray();
        }
        catch (Exception)
        {
            // No complete first value (MessagePack's own Skip is not hardened: it throws several exception types); keep them all.
            return bytes;
        }
    }

    [Fact]
    public async Task Random_argument_and_registration_bytes_only_ever_raise_serialization_errors()
    {
        var random = new Random(20240521);
        var real = new ShopClient();
        var options = new DecodingLimits { MaxDepth = 16, MaxCollectionLength = 1024, MaxStringLength = 4096, MaxBinaryLength = 4096 };
        var pending = new List<ValueTask>();
        int rejected = 0, accepted = 0;
        for (int iteration = 0; iteration < 3000; iteration++)
        {
            var method = Contract.Methods[random.Next(Contract.Methods.Count)];
            var bytes = FirstValue(RandomMessagePack(random));
            try
            {
                var reader = Wire.Reader(bytes, options);
                switch (method.Kind)
                {
                    case ClusterMethodKind.Subscribe or ClusterMethodKind.Event:
                        var token = Contract.Subscribe(real, method, ref reader, Wire.Options(Contract), new IgnoringSink());
                        var again = Wire.Reader(bytes, options);
                        Contract.Unsubscribe(real, method, null, ref again, Wire.Options(Contract), token);
                        break;
                    case ClusterMethodKind.Unsubscribe:
                        continue;
                    default:
                        pending.Add(Contract.DispatchAsync(real, method, ref reader, Wire.Options(Contract), new IgnoringReply(), CancellationToken.None));
                        break;
                }
                accepted++;
            }
            catch (MessagePackSerializationException)
            {
                rejected++;
            }
        }
        // Calls that got through may fail inside the real client (null arguments and the like); that is the client's business.
        foreach (var call in pending)
        {
            try { await call.AsTask().WaitAsync(TimeSpan.FromSeconds(30)); }
            catch (Exception e) when (e is not TimeoutException) { }
        }
        Assert.True(rejected > 100, $"Only {rejected} inputs were rejected; the generator of inputs is too tame.");
        Assert.True(accepted > 10, $"Only {accepted} inputs were accepted; the generator of inputs is too wild.");
    }

    [Fact]
    public void Deep_nesting_in_a_recursive_type_is_stopped_by_the_reader_depth_limit()
    {
        var echo = Contract.Methods.Single(m => m.Name == "EchoTreeAsync");
        // [{"Parent": {"Parent": {... 100 levels ...}}}]
        var bytes = new List<byte> { 0x91 };
        for (int i = 0; i < 100; i++) bytes.AddRange([0x81, 0xa6, .. "Parent"u8]);
        bytes.Add(0xc0);
        var error = Assert.Throws<MessagePackSerializationException>(() =>
        {
            var reader = Wire.Reader(bytes.ToArray());
            _ = Contract.DispatchAsync(new ShopClient(), echo, ref reader, Wire.Options(Contract), new IgnoringReply(), CancellationToken.None);
        });
        Assert.Contains("depth", error.Message);
    }
}
