namespace ClusterSharing.Generators.Tests.Generator;

/// <summary>Representative contracts whose emitted source is pinned by snapshot and compiled by the run tests.</summary>
internal static class SnapshotContracts
{
    public const string Minimal = """
        namespace Snapshots.Minimal;

        [ClusterDelegate]
        public interface ICalculator
        {
            Task<int> AddAsync(int a, int b, CancellationToken cancellationToken = default);
            void Reset();
        }
        """;

    public const string Subscriptions = """
        namespace Snapshots.Subscriptions;

        public enum Health { Unknown, Up, Down }

        public sealed record Endpoint(string Host, int Port, Health Health);

        public sealed record ServiceQuery(string Service, string? Zone = null);

        [ClusterDelegate(Name = "registry")]
        public interface IRegistryClient
        {
            Task<Endpoint[]> ResolveAsync(string service, CancellationToken cancellationToken = default);
            void Subscribe(ServiceQuery query, Action<Endpoint[]> listener);
            void Unsubscribe(ServiceQuery query, Action<Endpoint[]>? listener);
            [Subscribe(Broadcast = false)]
            IAsyncEnumerable<Health> WatchHealth(string service, CancellationToken cancellationToken);
            void Publish(Endpoint self);
            event EventHandler<Endpoint>? Changed;
            Task CloseAsync();
        }
        """;

    /// <summary>Awaitable subscribe forms (listener and stream, Task and ValueTask) and last-value publications.</summary>
    public const string Awaitable = """
        namespace Snapshots.Awaitable;

        public sealed record Quote(string Symbol, double Price, string? Venue);

        [ClusterDelegate(Name = "quotes")]
        public interface IQuotes
        {
            Task SubscribeQuotes(string symbol, Action<Quote?> listener, CancellationToken cancellationToken = default);
            void UnsubscribeQuotes(string symbol, Action<Quote?>? listener);
            [Subscribe(Broadcast = false)]
            ValueTask Claim(string queue, Action<string?> listener);
            Task<IAsyncEnumerable<Quote>> SubscribeTape(string? venue, CancellationToken cancellationToken);
            [Subscribe]
            ValueTask<IAsyncEnumerable<double>> Ticks(string symbol);
            [Publish(LastValue = true)]
            void PublishQuote(string symbol, Quote? quote);
            [Publish(LastValue = true)]
            void PublishStatus(string status);
        }
        """;

    /// <summary>A private interface (so the contract nests in the partial host), keyword names, inheritance, a sync Close.</summary>
    public const string NestedPrivate = """
        namespace Snapshots.Nested;

        public interface IBase
        {
            ValueTask<string> NameAsync();
        }

        public partial class Host
        {
            public sealed class Item
            {
                public Item(string @class, int count) { Class = @class; Count = count; }
                public string Class { get; }
                public int Count { get; }
                public List<Item>? Children { get; init; }
            }

            [ClusterDelegate]
            private interface IKeywords : IBase
            {
                Task<Item?> @event(int @class, Item? @object);
                [Idempotent, Timeout(1500)]
                ValueTask<IReadOnlyDictionary<string, Item[]>> IndexAsync(IEnumerable<string> keys);
                void Close();
            }
        }
        """;
}
