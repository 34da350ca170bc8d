using System.Globalization;
using ClusterSharing.Harness;

// The coordinator (default) and, as hidden commands, the child processes it starts (worker, crowd, rawserver, rawclient).
CultureInfo.DefaultThreadCurrentCulture = CultureInfo.InvariantCulture;
CultureInfo.CurrentCulture = CultureInfo.InvariantCulture;
return await HarnessCommandLine.Build().Parse(args).InvokeAsync();
