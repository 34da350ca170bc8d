namespace ClusterSharing.IntegrationTests;

/// <summary>The programs this project starts as processes, copied next to the test assembly by CopyChildToolOutput.</summary>
internal static class ChildTools
{
    /// <summary>The path of <paramref name="dll"/> in the copy folder <paramref name="folder"/>; fails clearly if the copy is missing.</summary>
    public static string PathOf(string folder, string dll)
    {
        string path = Path.Combine(AppContext.BaseDirectory, folder, dll);
        if (!File.Exists(path))
            throw new FileNotFoundException($"{dll} was not found at {path}. Build tests/ClusterClient.IntegrationTests (its CopyChildToolOutput target copies it there).", path);
        return path;
    }
}
