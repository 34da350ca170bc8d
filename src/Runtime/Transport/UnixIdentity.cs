using System.Runtime.InteropServices;

namespace ClusterSharing.Transport;

/// <summary>
/// Who this process is and who owns a file, straight from the kernel: <c>geteuid(2)</c> and <c>statx(2)</c> with
/// <c>AT_SYMLINK_NOFOLLOW</c> (the lstat semantics: a symbolic link is reported as itself, never followed).
/// <c>statx</c> is used because its struct layout is the same on every Linux architecture.
/// </summary>
internal static partial class UnixIdentity
{
    private const int AtFdCwd = -100;
    private const int AtSymlinkNoFollow = 0x100;
    private const uint StatxTypeModeUid = 0x1 | 0x2 | 0x8;
    private const int StatxSize = 256;
    private const int StatxUidOffset = 20;
    private const int StatxModeOffset = 28;

    /// <summary>The effective user id; -1 where the OS has none (Windows).</summary>
    public static long EffectiveUserId => OperatingSystem.IsWindows() ? -1 : geteuid();

    /// <summary>True where <see cref="TryLstat"/> reads owners (Linux).</summary>
    public static bool CanReadOwner => OperatingSystem.IsLinux();

    /// <summary>Owner, type and permission bits of <paramref name="path"/> itself (a link is not followed).</summary>
    /// <returns>False when the path does not exist; other failures throw.</returns>
    /// <exception cref="IOException">statx failed for another reason than a missing path.</exception>
    public static unsafe bool TryLstat(string path, out FileOwnerInfo info)
    {
        info = default;
        if (!CanReadOwner) throw new PlatformNotSupportedException("Reading file owners needs Linux statx.");
        byte* buffer = stackalloc byte[StatxSize];
        if (statx(AtFdCwd, path, AtSymlinkNoFollow, StatxTypeModeUid, buffer) != 0)
        {
            int errno = Marshal.GetLastPInvokeError();
            if (errno is 2 or 20) return false; // ENOENT, ENOTDIR
            throw new IOException($"statx('{path}') failed with errno {errno} ({Marshal.GetPInvokeErrorMessage(errno)}).");
        }
        uint uid = *(uint*)(buffer + StatxUidOffset);
        ushort mode = *(ushort*)(buffer + StatxModeOffset);
        info = new FileOwnerInfo(uid, mode);
        return true;
    }

    [LibraryImport("libc", SetLastError = true)]
    private static partial uint geteuid();

    [LibraryImport("libc", EntryPoint = "statx", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    private static unsafe partial int statx(int dirfd, string path, int flags, uint mask, byte* buffer);
}

/// <summary>What <c>lstat</c> says about a path: its owner and its <c>st_mode</c> (type and permission bits).</summary>
internal readonly record struct FileOwnerInfo(uint OwnerId, ushort Mode)
{
    private const int TypeMask = 0xF000;

    public bool IsDirectory => (Mode & TypeMask) == 0x4000;

    public bool IsSymbolicLink => (Mode & TypeMask) == 0xA000;

    public bool IsRegularFile => (Mode & TypeMask) == 0x8000;

    public bool IsSocket => (Mode & TypeMask) == 0xC000;

    /// <summary>The permission bits (for example 0700).</summary>
    public int Permissions => Mode & 0xFFF;

    public string PermissionsText => Convert.ToString(Permissions, 8).PadLeft(4, '0');
}
