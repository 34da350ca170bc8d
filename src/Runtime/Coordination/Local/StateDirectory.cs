using System.Globalization;
using System.Security.Cryptography;
using ClusterSharing.Transport;

namespace ClusterSharing.Coordination.Local;

/// <summary>
/// The per-user directory holding lease files, the per-user secret and default socket paths. Everything in it is
/// trusted only because the directory is checked with lstat first: a real directory (not a symbolic link) owned by the
/// effective user, with no permission for group or others. A directory planted by another user (the default name is
/// predictable) is refused with an error naming it instead of being used.
/// </summary>
internal static class StateDirectory
{
    /// <summary>Name of the per-user secret file inside the state directory.</summary>
    public const string SecretFileName = "secret";

    private const int SecretLength = 32;
    private const UnixFileMode OwnerOnly = UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute;
    private const UnixFileMode OwnerReadWrite = UnixFileMode.UserRead | UnixFileMode.UserWrite;

    /// <summary>The directory of <paramref name="options"/>, created with mode 0700 when missing, and verified.</summary>
    /// <exception cref="ClusterClientException">The directory cannot be created, or is not a private directory of this user.</exception>
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
            Verify(path);
            return path;
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            throw new ClusterClientException(
                $"The ClusterClient state directory '{path}' cannot be used ({ex.Message}). It must be a directory of the current user; " +
                "remove it or set ClusterClientOptions.StateDirectory to a directory only this user can write.", ex);
        }
    }

    /// <summary>
    /// The default: <c>$XDG_RUNTIME_DIR/clusterclient</c> when that directory is ours and private (a tmpfs the login
    /// manager made for this user alone), else <c>clusterclient-{uid}</c> under the system temp path.
    /// </summary>
    private static string DefaultPath()
    {
        long uid = UnixIdentity.EffectiveUserId;
        string? runtime = Environment.GetEnvironmentVariable("XDG_RUNTIME_DIR");
        if (!string.IsNullOrEmpty(runtime) && Path.IsPathFullyQualified(runtime) && UnixIdentity.CanReadOwner
            && UnixIdentity.TryLstat(runtime, out var info) && info.IsDirectory && info.OwnerId == uid && (info.Permissions & 0x3F /* 0077 */) == 0)
        {
            return Path.Combine(runtime, "clusterclient");
        }
        string suffix = uid >= 0 ? uid.ToString(CultureInfo.InvariantCulture) : Sanitize(Environment.UserName);
        return Path.Combine(Path.GetTempPath(), "clusterclient-" + suffix);
    }

    private static string Sanitize(string name)
    {
        foreach (char c in Path.GetInvalidFileNameChars()) name = name.Replace(c, '_');
        return name;
    }

    /// <summary>Checks <paramref name="path"/> with lstat: a directory, not a link, owned by us, no group/other permission.</summary>
    [System.Runtime.Versioning.UnsupportedOSPlatform("windows")]
    private static void Verify(string path)
    {
        if (!UnixIdentity.CanReadOwner)
        {
            // No owner API here (macOS): refuse links and tighten the mode; chmod only succeeds for the owner.
            if (new DirectoryInfo(path).LinkTarget is not null) throw Refused(path, "it is a symbolic link");
            if ((File.GetUnixFileMode(path) & ~OwnerOnly) != 0) File.SetUnixFileMode(path, OwnerOnly);
            return;
        }
        long uid = UnixIdentity.EffectiveUserId;
        if (!UnixIdentity.TryLstat(path, out var info)) throw Refused(path, "it vanished while being checked");
        if (info.IsSymbolicLink) throw Refused(path, "it is a symbolic link (it could point anywhere)");
        if (!info.IsDirectory) throw Refused(path, "it is not a directory");
        if (info.OwnerId != uid)
            throw Refused(path, $"it belongs to uid {info.OwnerId}, not to this user (uid {uid}); another user may have created it to interfere");
        if ((info.Permissions & 0x12 /* 0022 */) != 0)
            throw Refused(path, $"its mode {info.PermissionsText} lets other users create files in it; chmod 700 it after checking its contents, or remove it");
        // Readable by others but not writable: nothing could have been planted; make it private.
        if ((info.Permissions & 0x3F /* 0077 */) != 0) File.SetUnixFileMode(path, OwnerOnly);
    }

    private static ClusterClientException Refused(string path, string why) => new(
        $"The ClusterClient state directory '{path}' is not safe to use: {why}. It must be a directory owned by this user with mode 0700. " +
        "Remove it (it is recreated), or set ClusterClientOptions.StateDirectory to a private directory of this user.");

    /// <summary>
    /// The per-user secret in the state directory: 32 random bytes in a 0600 file, created exclusively on first use
    /// (written to a private temporary name, then linked into place without replacing, so a concurrent reader never
    /// sees half a file). An existing file is used only if lstat shows a regular file of ours that nobody else can read.
    /// </summary>
    /// <exception cref="ClusterClientException">The file exists but is not a private regular file of this user, or cannot be read or created.</exception>
    public static byte[] UserSecret(ClusterClientOptions options)
    {
        string directory = Resolve(options);
        string path = Path.Combine(directory, SecretFileName);
        try
        {
            for (int attempt = 0; attempt < 3; attempt++)
            {
                if (TryReadSecret(path, out var secret)) return secret;
                CreateSecret(directory, path);
            }
            throw new IOException("it kept disappearing while being created");
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            throw new ClusterClientException(
                $"The ClusterClient per-user secret '{path}' cannot be used ({ex.Message}). Remove it (a new one is created), " +
                "or set ClusterClientOptions.Secret in every process.", ex);
        }
    }

    private static bool TryReadSecret(string path, out byte[] secret)
    {
        secret = [];
        if (OperatingSystem.IsWindows())
        {
            if (!File.Exists(path)) return false;
        }
        else if (UnixIdentity.CanReadOwner)
        {
            if (!UnixIdentity.TryLstat(path, out var info)) return false;
            long uid = UnixIdentity.EffectiveUserId;
            if (!info.IsRegularFile) throw SecretRefused(path, "it is not a regular file");
            if (info.OwnerId != uid) throw SecretRefused(path, $"it belongs to uid {info.OwnerId}, not to this user (uid {uid})");
            if ((info.Permissions & 0x3F /* 0077 */) != 0) throw SecretRefused(path, $"its mode {info.PermissionsText} lets other users read it; it may be known to them");
        }
        else
        {
            if (!File.Exists(path)) return false;
            if (new FileInfo(path).LinkTarget is not null) throw SecretRefused(path, "it is a symbolic link");
        }
        secret = File.ReadAllBytes(path);
        if (secret.Length != SecretLength) throw SecretRefused(path, $"it holds {secret.Length} bytes instead of {SecretLength}");
        return true;
    }

    private static void CreateSecret(string directory, string path)
    {
        string temporary = Path.Combine(directory, $"{SecretFileName}.{Environment.ProcessId}.{Convert.ToHexString(RandomNumberGenerator.GetBytes(8))}.tmp");
        var create = new FileStreamOptions { Mode = FileMode.CreateNew, Access = FileAccess.Write, Share = FileShare.None };
        if (!OperatingSystem.IsWindows()) create.UnixCreateMode = OwnerReadWrite;
        try
        {
            // CreateNew is O_CREAT|O_EXCL: it never follows or reuses whatever sits at the name.
            using (var stream = new FileStream(temporary, create))
            {
                stream.Write(RandomNumberGenerator.GetBytes(SecretLength));
                stream.Flush(flushToDisk: true);
            }
            // Without overwrite: link(2) then unlink, so a secret another process created first wins and is kept.
            File.Move(temporary, path, overwrite: false);
        }
        catch (IOException) when (File.Exists(path))
        {
            // Another process of this user created it first; read theirs.
        }
        finally
        {
            try { File.Delete(temporary); }
            catch (Exception ex) when (ex is IOException or UnauthorizedAccessException) { /* best effort */ }
        }
    }

    private static IOException SecretRefused(string path, string why) => new($"'{path}' is not safe to use as a secret: {why}");

    /// <summary>
    /// The secret peers prove they know: none for <see cref="ClusterSecurity.Open"/>, the configured
    /// <see cref="ClusterClientOptions.Secret"/>, else the per-user secret (<see cref="UserSecret"/>).
    /// </summary>
    public static byte[]? PeerSecret(ClusterClientOptions options) =>
        options.Security == ClusterSecurity.Open ? null : options.Secret ?? UserSecret(options);

    /// <summary>The socket path of <paramref name="options"/> when none is given: <c>cc-{port}.sock</c> in the state directory.</summary>
    public static string SocketPath(ClusterClientOptions options) => options.SocketPath ?? Path.Combine(Resolve(options), $"cc-{options.Port}.sock");
}
