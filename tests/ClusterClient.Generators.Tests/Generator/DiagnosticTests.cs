using Microsoft.CodeAnalysis;

namespace ClusterSharing.Generators.Tests.Generator;

/// <summary>Each diagnostic is triggered by the pattern its page documents, names the member, and stops emission.</summary>
public sealed class DiagnosticTests
{
    static DiagnosticTests() =>
        Parser.FailureForTesting = name => name == "IGeneratorCrash" ? new InvalidOperationException("injected failure") : null;

    private static Diagnostic Expect(string id, string body, string member, string preamble = "")
    {
        var run = GeneratorHarness.Run($$"""
            namespace Diag;
            {{preamble}}
            [ClusterDelegate]
            public interface IBroken
            {
                Task<int> FineAsync(int x);
                {{body}}
            }
            """);
        var diagnostic = run.Single(id);
        Assert.Equal(DiagnosticSeverity.Error, diagnostic.Severity);
        Assert.Contains("'" + member + "'", diagnostic.GetMessage(System.Globalization.CultureInfo.InvariantCulture));
        Assert.Empty(run.Sources);
        return diagnostic;
    }

    [Fact]
    public void CC0001_generic_method() => Expect("CC0001", "Task<T> GetAsync<T>(int id);", "GetAsync");

    [Fact]
    public void CC0002_ref_out_in_parameter()
    {
        var d = Expect("CC0002", "Task SwapAsync(ref int value);", "SwapAsync");
        Assert.Contains("'value'", d.GetMessage());
    }

    [Fact]
    public void CC0003_property() => Expect("CC0003", "int Count { get; }", "Count");

    [Fact]
    public void CC0004_unsupported_return_type() => Expect("CC0004", "int Count();", "Count");

    [Fact]
    public void CC0004_oneway_must_return_void() => Expect("CC0004", "[Oneway] Task FireAsync(int x);", "FireAsync");

    [Fact]
    public void CC0005_unserializable_type_names_the_type_and_the_path()
    {
        var d = Expect("CC0005", "Task PlaceAsync(Order order);", "PlaceAsync", """
            public sealed record Address(string Street, nint Handle);
            public sealed record Customer(string Name, Address Address);
            public sealed record Order(int Id, Customer Customer);
            """);
        string message = d.GetMessage();
        Assert.Contains("Order.Customer.Address.Handle", message);
        Assert.Contains("nint", message);
    }

    [Fact]
    public void CC0005_object_and_decimal_results() => Expect("CC0005", "Task<decimal> PriceAsync(int id);", "PriceAsync");

    [Fact]
    public void A_class_without_a_usable_constructor_is_left_to_the_resolver_chain_without_a_diagnostic()
    {
        // Such a type needs its own formatter (registered through ClusterClientOptions.SerializerOptions); nothing is generated for it.
        var run = GeneratorHarness.Run("""
            namespace Diag;
            public sealed class Message { public Message(int code) { } public string Text { get; set; } = ""; }
            [ClusterDelegate]
            public interface IFine { Task SendAsync(Message message); }
            """);
        Assert.Empty(run.GeneratorDiagnostics);
        Assert.DoesNotContain("MessageFormatter", run.SingleSource);
    }

    [Fact]
    public void MessagePackObject_types_are_left_to_the_resolver_chain_without_a_diagnostic()
    {
        var run = GeneratorHarness.Run("""
            namespace Diag;
            [MessagePack.MessagePackObject]
            public sealed record Quote([property: MessagePack.Key(0)] string Symbol, [property: MessagePack.Key(1)] double Price);
            [ClusterDelegate]
            public interface IQuotes { Task<Quote> GetAsync(string symbol); }
            """);
        Assert.Empty(run.GeneratorDiagnostics);
        Assert.DoesNotContain("QuoteFormatter", run.SingleSource);
        Assert.Empty(GeneratorHarness.WarningsAndErrors(run.Compilation));
    }

    [Fact]
    public void CC0006_cancellation_token_not_last() => Expect("CC0006", "Task SendAsync(CancellationToken ct, int x);", "SendAsync");

    [Fact]
    public void CC0007_wrong_subscribe_signature() => Expect("CC0007", "void SubscribeNews(string topic);", "SubscribeNews");

    [Fact]
    public void CC0008_wrong_unsubscribe_signature() => Expect("CC0008", "void Unsubscribe(string topic);", "Unsubscribe");

    [Fact]
    public void CC0008_unsubscribe_without_a_matching_subscribe()
    {
        var d = Expect("CC0008", """
            void Subscribe(string topic, Action<int> listener);
            void Unsubscribe(string topic, Action<long>? listener);
            """, "Unsubscribe");
        Assert.Contains("no listener-form subscribe", d.GetMessage());
    }

    [Fact]
    public void CC0009_wrong_publish_signature() => Expect("CC0009", "void Publish(string a, CancellationToken cancellationToken);", "Publish");

    [Fact]
    public void CC0017_keyed_publication_without_last_value()
    {
        var d = Expect("CC0017", "void Publish(string key, int value);", "Publish");
        Assert.Contains("[Publish(LastValue = true)]", d.GetMessage());
    }

    [Theory]
    [InlineData("[Publish(LastValue = true)] void PublishAll(string a, int b, int c);", "PublishAll", "it takes 3 parameters")]
    [InlineData("[Publish(LastValue = true)] void PublishNone();", "PublishNone", "it takes 0 parameters")]
    [InlineData("[Publish(LastValue = true)] void PublishWithToken(string a, CancellationToken cancellationToken);", "PublishWithToken", "CancellationToken")]
    [InlineData("[Publish(LastValue = true)] Task PublishAsync(string a);", "PublishAsync", "it returns")]
    public void CC0018_wrong_last_value_publication_signature(string member, string name, string problem)
    {
        var d = Expect("CC0018", member, name);
        Assert.Contains(problem, d.GetMessage());
    }

    [Fact]
    public void Awaitable_subscribes_and_last_value_publications_are_accepted()
    {
        var run = GeneratorHarness.Run("""
            namespace Diag;
            [ClusterDelegate]
            public interface IAwaited
            {
                Task SubscribeA(string topic, Action<int> listener, CancellationToken cancellationToken = default);
                [Subscribe] ValueTask B(string topic, Action<int> listener);
                Task<IAsyncEnumerable<int>> SubscribeC(string topic, CancellationToken cancellationToken);
                Task<int> SubscribeCountAsync(int amount);
                [Publish(LastValue = true)] void PublishD(string key, int value);
                [Publish(LastValue = true)] void PublishE(int value);
            }
            """);
        Assert.Empty(run.GeneratorDiagnostics);
        Assert.NotEmpty(run.Sources);
    }

    [Fact]
    public void CC0007_awaitable_subscribe_with_a_result()
    {
        var d = Expect("CC0007", "[Subscribe] Task<int> SubscribeNews(string topic, Action<int> listener);", "SubscribeNews");
        Assert.Contains("awaitable", d.GetMessage());
    }

    [Fact]
    public void CC0010_duplicate_method_id()
    {
        var d = Expect("CC0010", """
            Task SendAsync(int x);
            Task SendAsync(int x, CancellationToken cancellationToken);
            """, "SendAsync");
        Assert.Contains("SendAsync(System.Int32)", d.GetMessage());
    }

    [Fact]
    public void CC0011_interface_inside_a_private_type()
    {
        var run = GeneratorHarness.Run("""
            namespace Diag;
            public partial class Outer
            {
                private partial class Hidden
                {
                    [ClusterDelegate]
                    public interface ISecret { Task PingAsync(); }
                }
            }
            """);
        var d = run.Single("CC0011");
        Assert.Contains("ISecret", d.GetMessage());
        Assert.Contains("Hidden", d.GetMessage());
    }

    [Fact]
    public void CC0011_file_local_interface()
    {
        var run = GeneratorHarness.Run("""
            namespace Diag;
            [ClusterDelegate]
            file interface ILocal { Task PingAsync(); }
            """);
        Assert.Contains("ILocal", run.Single("CC0011").GetMessage());
    }

    [Fact]
    public void CC0012_private_interface_in_a_non_partial_type()
    {
        var run = GeneratorHarness.Run("""
            namespace Diag;
            public class Host
            {
                [ClusterDelegate]
                private interface IInner { Task PingAsync(); }
            }
            """);
        var d = run.Single("CC0012");
        Assert.Contains("IInner", d.GetMessage());
        Assert.Contains("'Diag.Host'", d.GetMessage());
        Assert.Empty(run.Sources);
    }

    [Fact]
    public void CC0013_generic_interface()
    {
        var run = GeneratorHarness.Run("""
            namespace Diag;
            [ClusterDelegate]
            public interface IRepository<T> { Task<int> CountAsync(); }
            """);
        Assert.Contains("IRepository", run.Single("CC0013").GetMessage());
    }

    [Fact]
    public void CC0014_unsupported_event_type() => Expect("CC0014", "event Action<int> Changed;", "Changed");

    [Fact]
    public void CC0015_wrong_close_signature() => Expect("CC0015", "Task<int> CloseAsync();", "CloseAsync");

    [Theory]
    [InlineData(0)]
    [InlineData(-5)]
    public void CC0016_timeout_must_be_positive(int milliseconds)
    {
        var d = Expect("CC0016", $"[Timeout({milliseconds})] Task PingAsync();", "PingAsync");
        Assert.Contains($"[Timeout({milliseconds})], which is not positive", d.GetMessage());
    }

    [Fact]
    public void CC0016_is_not_reported_for_a_positive_timeout()
    {
        var run = GeneratorHarness.Run("""
            namespace Diag;
            [ClusterDelegate]
            public interface ITimed { [Timeout(1)] Task PingAsync(); }
            """);
        Assert.Empty(run.GeneratorDiagnostics);
        Assert.NotEmpty(run.Sources);
    }

    [Fact]
    public void CC0099_generator_failure_is_reported_not_thrown()
    {
        var run = GeneratorHarness.Run("""
            namespace Diag;
            [ClusterDelegate]
            public interface IGeneratorCrash { Task PingAsync(); }
            """);
        var d = run.Single("CC0099");
        Assert.Contains("IGeneratorCrash", d.GetMessage());
        Assert.Contains("injected failure", d.GetMessage());
    }

    [Fact]
    public void Every_descriptor_is_tested_and_documented()
    {
        var ids = typeof(Diagnostics).GetFields(System.Reflection.BindingFlags.Public | System.Reflection.BindingFlags.Static)
            .Select(f => ((DiagnosticDescriptor)f.GetValue(null)!).Id).ToList();
        var tested = typeof(DiagnosticTests).GetMethods().Select(m => m.Name[..Math.Min(6, m.Name.Length)]).ToHashSet();
        string docs = Path.Combine(SourcePaths.RepositoryRoot, "docs", "diagnostics");
        foreach (var id in ids)
        {
            Assert.Contains(id, tested);
            Assert.True(File.Exists(Path.Combine(docs, id + ".md")), $"docs/diagnostics/{id}.md is missing.");
        }
        Assert.Equal(ids.Count, ids.Distinct().Count());
    }
}
