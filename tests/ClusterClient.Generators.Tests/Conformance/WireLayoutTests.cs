using System.Text;
using ClusterSharing.Generators.Tests.Support;
using ClusterSharing.Proxies;

namespace ClusterSharing.Generators.Tests.Conformance;

/// <summary>The settled byte layout (briefs/wire-shapes.md), checked byte for byte on whatever contract the subclass supplies.</summary>
public abstract class WireLayoutTests : ConformanceTestBase
{
    private byte[] Payload(string method, LoopbackPayloadKind kind) =>
        Invoker.Payloads.Last(p => p.MethodName == method && p.Kind == kind).Bytes;

    private static byte[] Bytes(params object[] parts)
    {
        var result = new List<byte>();
        foreach (var part in parts)
        {
            switch (part)
            {
                case int b: result.Add((byte)b); break;
                case string s:
                    var utf8 = Encoding.UTF8.GetBytes(s);
                    if (utf8.Length > 31) throw new ArgumentException("fixstr only");
                    result.Add((byte)(0xa0 | utf8.Length));
                    result.AddRange(utf8);
                    break;
                case byte[] raw: result.AddRange(raw); break;
                default: throw new ArgumentException(part.GetType().Name);
            }
        }
        return result.ToArray();
    }

    private static readonly byte[] NewsQuery = Bytes(0x82, "Topic", "news", "Partition", 0x01);

    [Fact]
    public async Task Arguments_are_an_array_in_declaration_order_and_void_results_are_nil()
    {
        await Proxy.PingAsync();
        Assert.Equal(Bytes(0x90), Payload("PingAsync", LoopbackPayloadKind.Arguments));
        Assert.Equal(Bytes(0xc0), Payload("PingAsync", LoopbackPayloadKind.Result));
        Assert.Equal(5, await Proxy.AddAsync(2, 3));
        Assert.Equal(Bytes(0x92, 0x02, 0x03), Payload("AddAsync", LoopbackPayloadKind.Arguments));
        Assert.Equal(Bytes(0x05), Payload("AddAsync", LoopbackPayloadKind.Result));
    }

    [Fact]
    public async Task Cancellation_tokens_are_left_out_of_the_arguments()
    {
        using var cts = new CancellationTokenSource();
        await Proxy.EchoAsync("x", cts.Token);
        Assert.Equal(Bytes(0x91, "x"), Payload("EchoAsync", LoopbackPayloadKind.Arguments));
        Assert.Equal(Bytes("x"), Payload("EchoAsync", LoopbackPayloadKind.Result));
        await Proxy.ResetAsync(cts.Token);
        Assert.Equal(Bytes(0x90), Payload("ResetAsync", LoopbackPayloadKind.Arguments));
    }

    [Fact]
    public async Task Objects_are_maps_keyed_by_property_name_in_declaration_order()
    {
        await Proxy.EchoPointAsync(new Point { X = 1, Y = -1 });
        Assert.Equal(Bytes(0x91, 0x82, "X", 0x01, "Y", 0xff), Payload("EchoPointAsync", LoopbackPayloadKind.Arguments));
        await Proxy.EchoAccountAsync(new Account("a", new Money(1, 2)));
        Assert.Equal(Bytes(0x83, "Owner", "a", "Balance", 0x82, "Units", 0x01, "Cents", 0x02, "Note", 0xc0),
            Payload("EchoAccountAsync", LoopbackPayloadKind.Result));
        await Proxy.EchoChainAsync(new LinkedNode(1, null));
        Assert.Equal(Bytes(0x82, "Value", 0x01, "Next", 0xc0), Payload("EchoChainAsync", LoopbackPayloadKind.Result));
    }

    [Fact]
    public async Task Built_in_types_use_their_settled_encodings()
    {
        var id = Guid.Parse("00112233-4455-6677-8899-aabbccddeeff");
        var when = new DateTime(1970, 1, 1, 0, 0, 1, DateTimeKind.Utc);
        await Proxy.EchoTemporalAsync(new Temporal(when, new DateTimeOffset(when).ToOffset(TimeSpan.FromMinutes(-90)), TimeSpan.FromTicks(10), id));
        // MessagePack-CSharp's layouts (docs/protocol.md): DateTimeOffset is [its clock time as a timestamp, offset in minutes],
        // here 1969-12-31 22:30:01 (negative seconds, so the 96-bit form) and -90; a Guid is its 36-character "D" string.
        Assert.Equal(Bytes(0x91, 0x84,
                "When", 0xd6, 0xff, 0x00, 0x00, 0x00, 0x01,
                "At", 0x92, 0xc7, 0x0c, 0xff, new byte[] { 0, 0, 0, 0, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xea, 0xe9 }, 0xd0, 0xa6,
                "Span", 0x0a,
                "Id", 0xd9, 0x24, Encoding.ASCII.GetBytes("00112233-4455-6677-8899-aabbccddeeff")),
            Payload("EchoTemporalAsync", LoopbackPayloadKind.Arguments));

        await Proxy.EchoEnumsAsync(Color.Blue, Permissions.Admin, Extreme.Min, Wide.Top);
        Assert.Equal(Bytes(0x94, 0xcd, 0x01, 0x2c, 0xcc, 0x80, 0xd3, 0x80, 0, 0, 0, 0, 0, 0, 0, 0xcf, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff),
            Payload("EchoEnumsAsync", LoopbackPayloadKind.Arguments));

        await Proxy.EchoOptionalsAsync(null, null, null, Color.Red, null);
        Assert.Equal(Bytes(0x95, 0xc0, 0xc0, 0xc0, 0x01, 0xc0), Payload("EchoOptionalsAsync", LoopbackPayloadKind.Arguments));

        await Proxy.EchoBytesAsync([1, 2]);
        Assert.Equal(Bytes(0x91, 0xc4, 0x02, 0x01, 0x02), Payload("EchoBytesAsync", LoopbackPayloadKind.Arguments));

        await Proxy.EchoCountsAsync(new Dictionary<string, int> { ["a"] = 1 });
        Assert.Equal(Bytes(0x91, 0x81, "a", 0x01), Payload("EchoCountsAsync", LoopbackPayloadKind.Arguments));

        await Proxy.SortAsync([null, "b"]);
        Assert.Equal(Bytes(0x91, 0x92, 0xc0, "b"), Payload("SortAsync", LoopbackPayloadKind.Arguments));
    }

    [Fact]
    public void Registrations_are_the_value_alone_and_pushed_values_too()
    {
        Proxy.Subscribe(News, _ => { });
        Assert.Equal(NewsQuery, Payload("Subscribe", LoopbackPayloadKind.Registration));
        Service.Emit(News, new Notice("news", 2, null));
        Assert.Equal(Bytes(0x83, "Topic", "news", "Sequence", 0x02, "Payload", 0xc0), Payload("Subscribe", LoopbackPayloadKind.Value));
        Proxy.Unsubscribe(News, null);
        Assert.Equal(NewsQuery, Payload("Unsubscribe", LoopbackPayloadKind.Registration));
        Proxy.SubscribeWork("q", _ => { });
        Assert.Equal(Bytes("q"), Payload("SubscribeWork", LoopbackPayloadKind.Registration));
    }

    [Fact]
    public async Task Publications_are_an_argument_array_and_events_carry_the_value_alone()
    {
        Proxy.Announce("hi");
        await Invoker.DrainAsync();
        Assert.Equal(Bytes(0x91, "hi"), Payload("Announce", LoopbackPayloadKind.Arguments));
        Proxy.Renamed += (_, _) => { };
        Service.RaiseRenamed("n");
        Assert.Equal(Bytes("n"), Payload("Renamed", LoopbackPayloadKind.Value));
        await Proxy.ShutdownAsync();
        Assert.Equal(Bytes(0x90), Payload("ShutdownAsync", LoopbackPayloadKind.Arguments));
    }
}

/// <summary>The settled layout over the Castle.Core fallback.</summary>
public sealed class DynamicWireLayoutTests : WireLayoutTests
{
    protected override ClusterContract<IConformance> CreateContract() => new ClusterSharing.Proxies.Dynamic.DynamicClusterContract<IConformance>();
}
