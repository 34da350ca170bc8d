using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using ClusterSharing;
using ClusterSharing.Samples.Tracing;
using OpenTelemetry;
using OpenTelemetry.Resources;
using OpenTelemetry.Trace;

// One trace across the process hop. Run: dotnet run --project samples/Tracing
// This process leads (it holds the real IGreeter) and starts a copy of itself as a follower, which calls GreetAsync
// inside its own "sample-request" span. Both print their spans with the OpenTelemetry console exporter: the follower's
// client span "ClusterClient/GreetAsync" and the leader's server span of the same name share one TraceId, and the
// server span's ParentSpanId is the client span's SpanId.
string role = args.FirstOrDefault() ?? "leader";
int port = args.Length > 1 ? int.Parse(args[1], System.Globalization.CultureInfo.InvariantCulture) : FreePort();
var sampleSource = new ActivitySource("ClusterClient.Samples.Tracing");

using var tracing = Sdk.CreateTracerProviderBuilder()
    .ConfigureResource(r => r.AddService($"tracing-sample-{role}"))
    .AddSource(ClusterClientTelemetry.ActivitySourceName, sampleSource.Name)
    .AddConsoleExporter()
    .Build();

await using var greeter = await ClusterClient.Create<IGreeter>(() => new Greeter(), o =>
{
    o.Port = port;
    o.Role = role == "leader" ? ClusterRole.Leader : ClusterRole.Follower;
    o.SingleMode = false;
}).ReadyAsync();

if (role == "leader")
{
    Console.WriteLine($"leader (pid {Environment.ProcessId}) on port {port}; starting a follower");
    using var follower = StartFollower(port);
    using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(60));
    await follower.WaitForExitAsync(timeout.Token);
    return follower.ExitCode;
}

using (var request = sampleSource.StartActivity("sample-request"))
{
    string reply = await greeter.Client.GreetAsync("world");
    Console.WriteLine($"follower (pid {Environment.ProcessId}) got \"{reply}\" in trace {request?.TraceId}");
}
return 0;

static Process StartFollower(int port)
{
    string self = Environment.ProcessPath!;
    var info = new ProcessStartInfo(self) { UseShellExecute = false };
    // Under "dotnet Tracing.dll" the process path is the dotnet host: pass the assembly first.
    if (Path.GetFileNameWithoutExtension(self) == "dotnet") info.ArgumentList.Add(typeof(Greeter).Assembly.Location);
    info.ArgumentList.Add("follower");
    info.ArgumentList.Add(port.ToString(System.Globalization.CultureInfo.InvariantCulture));
    return Process.Start(info) ?? throw new InvalidOperationException("Could not start the follower process.");
}

static int FreePort()
{
    var listener = new TcpListener(IPAddress.Loopback, 0);
    listener.Start();
    int port = ((IPEndPoint)listener.LocalEndpoint).Port;
    listener.Stop();
    return port;
}

namespace ClusterSharing.Samples.Tracing
{
    /// <summary>The sample's shared client.</summary>
    [ClusterDelegate]
    public partial interface IGreeter
    {
        /// <summary>Greets <paramref name="name"/> from the leader's process.</summary>
        Task<string> GreetAsync(string name);
    }

    internal sealed class Greeter : IGreeter
    {
        public Task<string> GreetAsync(string name) => Task.FromResult($"hello {name}, from the leader (pid {Environment.ProcessId})");
    }
}
