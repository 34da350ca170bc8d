using System.Globalization;
using ClusterSharing.Harness;

// Roles of this executable: the coordinator (default) and the child processes it starts.
CultureInfo.DefaultThreadCurrentCulture = CultureInfo.InvariantCulture;
CultureInfo.CurrentCulture = CultureInfo.InvariantCulture;
return args.FirstOrDefault() switch
{
    "worker" => await Worker.RunAsync(int.Parse(args[1])),
    "crowd" => await Crowd.RunAsync(int.Parse(args[1]), int.Parse(args[2])),
    "rawserver" => await RawEcho.ServeAsync(args[1], args[2]),
    "rawclient" => await RawEcho.ClientAsync(args[1], args[2]),
    _ => await Coordinator.RunAsync(HarnessSettings.Parse(args)),
};
