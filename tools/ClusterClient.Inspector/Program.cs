using ClusterSharing.Inspector;

// cluster-client status --port N [--socket PATH] [--state-dir DIR] [--etcd URLS --cluster NAME] [--sample-ms MS] [--json]
return await InspectorCommandLine.Build().Parse(args).InvokeAsync();
