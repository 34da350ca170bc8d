using System.Globalization;
using System.Net;
using System.Net.Sockets;
using ClusterSharing.Node;
using ClusterSharing.Proxies;
using MessagePack;
using MessagePack.Formatters;
using MessagePack.Resolvers;

namespace ClusterSharing.Generators.Tests.Consumer;

/// <summary>A user's own MessagePack-CSharp type: keys, not property names, and a decimal the generator would refuse.</summary>
[MessagePackObject]
public sealed record Quote([property: Key(0)] string Symbol, [property: Key(1)] decimal Price, [property: Key(2)] DateTime At);

/// <summary>A type built only through a factory, so it needs the user's formatter (registered through the options).</summary>
public sealed class Money
{
    private Money(string currency, long cents) => (Currency, Cents) = (currency, cents);

    public static Money Of(string currency, long cents) => new(currency, cents);

    public string Currency { get; }

    public long Cents { get; }

    public override bool Equals(object? obj) => obj is Money other && other.Currency == Currency && other.Cents == Cents;

    public override int GetHashCode() => HashCode.Combine(Currency, Cents);
}

/// <summary>Writes <see cref="Money"/> as the string "EUR:1250".</summary>
public sealed class MoneyFormatter : IMessagePackFormatter<Money?>
{
    public void Serialize(ref MessagePackWriter writer, Money? value, MessagePackSerializerOptions options) =>
        writer.Write(value is null ? null : value.Currency + ":" + value.Cents.ToString(CultureInfo.InvariantCulture));

    public Money? Deserialize(ref MessagePackReader reader, MessagePackSerializerOptions options)
    {
        if (reader.ReadString() is not { } text) return null;
        int colon = text.IndexOf(':', StringComparison.Ordinal);
        return Money.Of(text[..colon], long.Parse(text[(colon + 1)..], CultureInfo.InvariantCulture));
    }
}

/// <summary>A plain record the generator writes as a map, holding the built-in types and the user's type.</summary>
public sealed record Basket(DateTime When, DateTimeOffset At, byte[] Data, Dictionary<string, Money> Prices, Dictionary<string, int> Counts);

[ClusterDelegate]
public interface IPricing
{
    Task<Quote> EchoQuoteAsync(Quote quote);

    Task<Money> EchoMoneyAsync(Money money);

    Task<Basket> EchoBasketAsync(Basket basket);

    Task<DateTime> EchoTimeAsync(DateTime time);

    void Subscribe(string symbol, Action<Quote> listener);
}

public sealed class Pricing : IPricing
{
    public event Action<Quote>? Quoted;

    public Task<Quote> EchoQuoteAsync(Quote quote) => Task.FromResult(quote);

    public Task<Money> EchoMoneyAsync(Money money) => Task.FromResult(money);

    public Task<Basket> EchoBasketAsync(Basket basket) => Task.FromResult(basket);

    public Task<DateTime> EchoTimeAsync(DateTime time) => Task.FromResult(time);

    public void Subscribe(string symbol, Action<Quote> listener) => Quoted += q => { if (q.Symbol == symbol) listener(q); };

    public void Emit(Quote quote) => Quoted?.Invoke(quote);
}

/// <summary>
/// What a new user does: a contract with a [MessagePackObject] record, a type with a custom formatter registered through
/// <see cref="ClusterClientOptions.SerializerOptions"/>, and DateTime, DateTimeOffset, byte[] and dictionaries, called
/// through a follower (a separate node on a real loopback connection) of a leader holding the real client.
/// </summary>
public sealed class UserMessagePackTypesTests
{
    private static MessagePackSerializerOptions UserOptions() => MessagePackSerializerOptions.Standard.WithResolver(
        CompositeResolver.Create([new MoneyFormatter()], [StandardResolver.Instance]));

    private static int FreePort()
    {
        var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        int port = ((IPEndPoint)listener.LocalEndpoint).Port;
        listener.Stop();
        return port;
    }

    [Theory]
    [InlineData(ProxyGenerationMode.AlwaysGenerated)]
    [InlineData(ProxyGenerationMode.AlwaysDynamic)]
    public async Task Every_value_round_trips_through_a_follower(ProxyGenerationMode mode)
    {
        int port = FreePort();
        string state = Directory.CreateTempSubdirectory("cc-consumer-").FullName;
        ClusterClientOptions Options(ClusterRole role) => new()
        {
            Port = port,
            Role = role,
            SingleMode = false,
            StateDirectory = state,
            MaxWaitTime = TimeSpan.FromSeconds(30),
            ResponseTimeout = TimeSpan.FromSeconds(30),
            ProxyGeneration = mode,
            SerializerOptions = UserOptions(),
        };
        var real = new Pricing();
        var contract = ContractResolver.Resolve<IPricing>(mode);
        var leaderOptions = Options(ClusterRole.Leader);
        var followerOptions = Options(ClusterRole.Follower);
        await using var leaderNode = new ClusterNode(leaderOptions);
        await using var followerNode = new ClusterNode(followerOptions);
        await using var leader = ClusterClient<IPricing>.Open(leaderNode, contract, () => real, leaderOptions, ownsNodeReference: false);
        await using var follower = ClusterClient<IPricing>.Open(followerNode, contract, () => throw new InvalidOperationException("followers never build the client"), followerOptions, ownsNodeReference: false);
        await leader.ReadyAsync();
        await follower.ReadyAsync();
        Assert.True(leader.IsLeader);
        Assert.False(follower.IsLeader);
        var proxy = follower.Client;

        var quote = new Quote("ACME", 12.3456789m, new DateTime(2026, 12, 2, 6, 0, 0, DateTimeKind.Utc).AddTicks(1));
        Assert.Equal(quote, await proxy.EchoQuoteAsync(quote));

        var money = Money.Of("EUR", 1250);
        Assert.Equal(money, await proxy.EchoMoneyAsync(money));

        var basket = new Basket(
            new DateTime(1969, 7, 20, 20, 17, 40, DateTimeKind.Utc),
            new DateTimeOffset(2026, 12, 2, 7, 30, 0, TimeSpan.FromHours(5.5)).AddTicks(7),
            [0, 1, 2, 254, 255],
            new Dictionary<string, Money> { ["apple"] = Money.Of("EUR", 99), ["melon"] = Money.Of("USD", 350) },
            new Dictionary<string, int> { ["apple"] = 3, ["melon"] = -1 });
        var echoed = await proxy.EchoBasketAsync(basket);
        Assert.Equal(basket.When, echoed.When);
        Assert.Equal(DateTimeKind.Utc, echoed.When.Kind);
        Assert.Equal(basket.At, echoed.At);
        Assert.Equal(basket.At.Offset, echoed.At.Offset);
        Assert.Equal(basket.Data, echoed.Data);
        Assert.Equal(basket.Prices, echoed.Prices);
        Assert.Equal(basket.Counts, echoed.Counts);

        // docs/serialization.md: a follower sends the instant; Local and Unspecified come back as UTC of the same instant.
        var local = new DateTime(2026, 12, 2, 8, 0, 0, DateTimeKind.Local);
        var back = await proxy.EchoTimeAsync(local);
        Assert.Equal(DateTimeKind.Utc, back.Kind);
        Assert.Equal(local.ToUniversalTime(), back);
        var unspecified = new DateTime(2026, 12, 2, 8, 0, 0, DateTimeKind.Unspecified);
        Assert.Equal(DateTime.SpecifyKind(unspecified, DateTimeKind.Utc), await proxy.EchoTimeAsync(unspecified));

        // A subscription value through the user's type.
        var received = new TaskCompletionSource<Quote>(TaskCreationOptions.RunContinuationsAsynchronously);
        proxy.Subscribe("ACME", q => received.TrySetResult(q));
        var pushed = new Quote("ACME", 1m / 3m, quote.At);
        for (int attempt = 0; attempt < 300 && !received.Task.IsCompleted; attempt++)
        {
            real.Emit(pushed);
            await Task.WhenAny(received.Task, Task.Delay(100));
        }
        Assert.Equal(pushed, await received.Task.WaitAsync(TimeSpan.FromSeconds(30)));
    }

    [Fact]
    public void Without_the_users_formatter_the_type_fails_with_a_message_naming_it()
    {
        var contract = ContractResolver.Resolve<IPricing>(ProxyGenerationMode.AlwaysGenerated);
        var options = ClusterSharing.Serialization.WireSerializer.CreateOptions(contract.Resolver, null, ClusterSharing.Serialization.DecodingLimits.UntrustedData);
        var error = Assert.ThrowsAny<MessagePackSerializationException>(() =>
            ClusterSharing.Serialization.WireSerializer.ToBytes(Money.Of("EUR", 1), ResolvedFormatter<Money>.Instance, options));
        Assert.Contains(typeof(Money).FullName!, error.ToString());
    }
}
