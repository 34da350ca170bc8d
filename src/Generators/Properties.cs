using System.Runtime.CompilerServices;

[assembly: InternalsVisibleTo("ClusterClient.Generators.Tests")]
