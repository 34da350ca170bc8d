namespace ClusterSharing.Coordination.Local;

/// <summary>The per-user directory holding lease files and default socket paths.</summary>
internal static class StateDirectory
{
    private const UnixFileMode OwnerOnly = UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute;

    /// <summary>The directory of <paramref name="options"/>, created with mode 0700 when missing.</summary>
    /// <exception cref="ClusterClientException">The directory cannot be created or belongs to another user.</exception>
    public static string Resolve(ClusterClientOptions options)
    {
        string path = options.StateDirectory ?? DefaultPath();
        try
        {
            if (OperatingSystem.IsWindows())
            {
                Directory.CreateDirectory(path);
                return path;
            }
            Directory.CreateDirectory(path, OwnerOnly);
            if (options.StateDirectory is null && (File.GetUnixFileMode(path) & ~OwnerOnly) != 0)
            {
                // chmod only succeeds for the owner: a directory planted by another user fails here instead of being trusted.
                File.SetUnixFileMode(path, OwnerOnly);
            }
            return path;
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            throw new ClusterClientException(
                $"The ClusterClient state directory '{path}' cannot be used ({ex.Message}). It must belong to the current user; " +
                "remove it or set ClusterClientOptions.StateDirectory to a directory only this user can write.", ex);
        }
    }

    private static string DefaultPath()
    {
        string user = Environment.UserName;
        foreach (char c in Path.GetInvalidFileNameChars()) user = user.Replace(c, '_');
        return Path.Combine(Path.GetTempPath(), "clusterclient-" + user);
    }

    /// <summary>The socket path of <paramref name="options"/> when none is given: <c>cc-{port}.sock</c> in the state directory.</summary>
    public static string SocketPath(ClusterClientOptions options) => options.SocketPath ?? Path.Combine(Resolve(options), $"cc-{options.Port}.sock");
}
