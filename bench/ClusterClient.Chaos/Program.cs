using System.Globalization;
using ClusterSharing.Chaos;

// Controller (default): the kill loop. --hostile: hostile input against a live leader. "worker": one cluster member
// (started by the controller; reads commands on stdin, so it ends when the controller does).
CultureInfo.DefaultThreadCurrentCulture = CultureInfo.InvariantCulture;
CultureInfo.CurrentCulture = CultureInfo.InvariantCulture;
return await ChaosCommandLine.Build().Parse(args).InvokeAsync();
