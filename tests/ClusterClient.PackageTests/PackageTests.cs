using System.Globalization;
using System.IO.Compression;
using System.Net;
using System.Net.Sockets;
using System.Xml.Linq;

namespace ClusterSharing.PackageTests;

/// <summary>
/// The package as a new user meets it: packed into a folder feed, added to a fresh console project with
/// <c>dotnet add package</c>, built with warnings as errors and run as a leader and a follower process.
/// </summary>
public sealed class PackageTests(PackageFeedFixture feed) : IClassFixture<PackageFeedFixture>
{
    private static readonly TimeSpan RunTimeout = TimeSpan.FromSeconds(90);

    private const string Contract = """
        using ClusterSharing;

        namespace Consumer;

        [ClusterDelegate]
        public partial interface IGreeter
        {
            Task<string> GreetAsync(string name, CancellationToken cancellationToken = default);
        }

        public sealed class Greeter : IGreeter
        {
            public Task<string> GreetAsync(string name, CancellationToken cancellationToken = default) =>
                Task.FromResult($"hello {name} from pid {Environment.ProcessId}");
        }
        """;

    private const string Program = """
        using System.Globalization;
        using ClusterSharing;
        using Consumer;

        if (args.Length != 2 || args[0] is not ("leader" or "follower"))
        {
            Console.Error.WriteLine("usage: PackageConsumer leader|follower <port>");
            return 2;
        }
        bool lead = args[0] == "leader";

        await using var shared = await ClusterClient.Create<IGreeter>(() => new Greeter(), o =>
        {
            o.Port = int.Parse(args[1], CultureInfo.InvariantCulture);
            o.Role = lead ? ClusterRole.Leader : ClusterRole.Follower;
            o.ProxyGeneration = ProxyGenerationMode.AlwaysGenerated;
        }).ReadyAsync();

        if (lead)
        {
            Console.WriteLine($"leading pid={Environment.ProcessId}");
            Console.ReadLine(); // until the test closes standard input
            return 0;
        }

        string reply = await shared.Client.GreetAsync("follower");
        Type proxy = shared.Client.GetType();
        Console.WriteLine($"reply={reply}");
        Console.WriteLine($"proxy-assembly={proxy.Assembly.GetName().Name}");
        Console.WriteLine($"is-leader={shared.IsLeader}");
        return 0;
        """;

    [Fact]
    public void Package_carries_runtime_abstractions_their_docs_and_the_generator_as_an_analyzer()
    {
        using var package = ZipFile.OpenRead(feed.PackagePath);
        var entries = package.Entries.Select(e => e.FullName).ToHashSet();
        Assert.Contains("lib/net10.0/ClusterClient.Runtime.dll", entries);
        Assert.Contains("lib/net10.0/ClusterClient.Runtime.xml", entries);
        Assert.Contains("lib/net10.0/ClusterClient.Abstractions.dll", entries);
        Assert.Contains("lib/net10.0/ClusterClient.Abstractions.xml", entries);
        Assert.Contains("analyzers/dotnet/cs/ClusterClient.Generators.dll", entries);
        Assert.Contains("README.md", entries);
        Assert.Contains("LICENSE", entries);

        using var nuspecStream = package.GetEntry("ClusterClient.nuspec")!.Open();
        var nuspec = XDocument.Load(nuspecStream);
        XNamespace ns = nuspec.Root!.Name.Namespace;
        var metadata = nuspec.Root.Element(ns + "metadata")!;
        Assert.Equal("MIT", metadata.Element(ns + "license")?.Value);
        Assert.False(string.IsNullOrWhiteSpace(metadata.Element(ns + "description")?.Value));
        Assert.StartsWith("https://github.com/", metadata.Element(ns + "repository")?.Attribute("url")?.Value);
        // The abstractions and the generator ride inside this package; they are not packages of their own.
        var dependencies = metadata.Descendants(ns + "dependency").Select(d => d.Attribute("id")!.Value).ToList();
        Assert.DoesNotContain(dependencies, id => id.StartsWith("ClusterClient", StringComparison.Ordinal));
    }

    [Fact]
    public async Task Generated_proxy_from_the_package_forwards_a_follower_call_to_the_leaders_real_client()
    {
        string app = feed.CreateProject("run", ("Contract.cs", Contract), ("Program.cs", Program));
        var build = await PackageFeedFixture.BuildAsync(app);
        Assert.True(build.ExitCode == 0, $"The consumer project does not build with warnings as errors:\n{DotnetCli.Tail(build.Output)}");
        string dll = Path.Combine(app, "bin", "Debug", "net10.0", "PackageConsumer.dll");
        string port = FreePort().ToString(CultureInfo.InvariantCulture);

        var leader = DotnetCli.Start(app, dll, "leader", port);
        var leading = new TaskCompletionSource<string>(TaskCreationOptions.RunContinuationsAsynchronously);
        var leaderRun = DotnetCli.RunAsync(leader, RunTimeout, line =>
        {
            if (line.StartsWith("leading pid=", StringComparison.Ordinal)) leading.TrySetResult(line["leading pid=".Length..]);
        });
        try
        {
            // The leader prints its pid once it holds the real client; fail fast if it exits first.
            var first = await Task.WhenAny(leading.Task, leaderRun);
            if (first != leading.Task)
            {
                var (code, output) = await leaderRun;
                Assert.Fail($"The leader exited ({code}) before leading:\n{DotnetCli.Tail(output)}");
            }
            string leaderPid = await leading.Task;

            var follower = await DotnetCli.RunAsync(app, RunTimeout, dll, "follower", port);
            Assert.True(follower.ExitCode == 0, $"The follower failed ({follower.ExitCode}):\n{DotnetCli.Tail(follower.Output)}");
            Assert.Contains($"reply=hello follower from pid {leaderPid}", follower.Output);
            // The proxy is the one the generator emitted into the consumer's assembly (Castle's would live in
            // DynamicProxyGenAssembly2, and AlwaysGenerated would have refused to start without generated code).
            Assert.Contains("proxy-assembly=PackageConsumer", follower.Output);
            Assert.Contains("is-leader=False", follower.Output);
        }
        finally
        {
            leader.StandardInput.Close();
            var finished = await leaderRun;
            Assert.Equal(0, finished.ExitCode);
        }
    }

    [Fact]
    public async Task A_contract_with_a_generic_method_fails_the_consumer_build_with_CC0001()
    {
        string app = feed.CreateProject("generic", ("Contract.cs", """
            using ClusterSharing;

            namespace Consumer;

            [ClusterDelegate]
            public interface IRepository
            {
                Task<T> GetAsync<T>(int id);
            }
            """), ("Program.cs", "System.Console.WriteLine(typeof(Consumer.IRepository));\n"));
        var build = await PackageFeedFixture.BuildAsync(app);
        Assert.NotEqual(0, build.ExitCode);
        Assert.Contains("error CC0001", build.Output);
        Assert.Contains("'GetAsync' is a generic method", build.Output);
    }

    private static int FreePort()
    {
        var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        int port = ((IPEndPoint)listener.LocalEndpoint).Port;
        listener.Stop();
        return port;
    }
}
