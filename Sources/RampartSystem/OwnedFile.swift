import Glibc
import RampartSyscall

/// Files rampartd writes in directories that others may reach (the drop log, the metrics
/// textfile). The directory must belong to root or rampartd and not be writable by group or
/// others; a file is opened without following a link and without blocking on a FIFO, and must be
/// a regular file rampartd owns, with one link and no group or other write. A file rampartd
/// creates is created with O_EXCL, so whatever a local user planted at the name is never adopted.
public enum OwnedFile {
    /// Refuses a directory another user could plant or swap files in.
    public static func checkDirectory(_ directory: String, purpose: String) throws(SystemError) {
        var info = stat()
        guard lstat(directory, &info) == 0 else {
            throw SystemError("cannot stat the \(purpose) directory \(directory)")
        }
        guard (info.st_mode & S_IFMT) == S_IFDIR else {
            throw SystemError(
                "the \(purpose) directory \(directory) is not a directory (a symlink is refused too)", errno: ENOTDIR)
        }
        guard info.st_uid == 0 || info.st_uid == geteuid() else {
            throw SystemError(
                "the \(purpose) directory \(directory) belongs to uid \(info.st_uid), not to root or rampartd: refused; give it to root (chown root:root) or choose another",
                errno: EPERM)
        }
        guard info.st_mode & 0o022 == 0 else {
            throw SystemError(
                "the \(purpose) directory \(directory) is writable by group or others (mode \(String(info.st_mode & 0o7777, radix: 8))): refused; make it 0755",
                errno: EPERM)
        }
    }

    public static func directory(of path: String) -> String {
        guard let slash = path.lastIndex(of: "/") else { return "." }
        return slash == path.startIndex ? "/" : String(path[..<slash])
    }

    /// Opens `path` for appending, creating it (exclusively) when it does not exist. Returns the
    /// descriptor and whether the file was created.
    public static func openForAppend(
        _ path: String, mode: mode_t = 0o640
    ) throws(SystemError) -> (fd: Int32, created: Bool) {
        let flags = O_WRONLY | O_APPEND | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY
        var fd = open(path, flags)
        var created = false
        if fd < 0 && errno == ENOENT {
            fd = open(path, flags | O_CREAT | O_EXCL, mode)
            created = true
        }
        // O_NONBLOCK: a FIFO without a reader fails at once (ENXIO) instead of waiting for one.
        if fd < 0 && errno == ENXIO { throw notRegular(path) }
        guard fd >= 0 else { throw SystemError("cannot open \(path)") }
        do {
            try verify(fd, path)
        } catch {
            close(fd)
            throw error
        }
        return (fd, created)
    }

    /// Creates `path` afresh for writing: with `removingStale`, a file of that name (a temporary
    /// left by a writer that died) is removed first; whatever appears there meanwhile makes the
    /// creation fail.
    public static func createExclusive(_ path: String, mode: mode_t, removingStale: Bool) throws(SystemError) -> Int32 {
        if removingStale, unlink(path) != 0, errno != ENOENT { throw SystemError("cannot remove the stale \(path)") }
        let fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY, mode)
        guard fd >= 0 else { throw SystemError("cannot create \(path)") }
        return fd
    }

    static func notRegular(_ path: String) -> SystemError {
        SystemError("\(path) is not a regular file (a FIFO, device or directory is refused): remove it", errno: EINVAL)
    }

    /// A regular file of rampartd's, one link, not writable by group or others.
    static func verify(_ fd: Int32, _ path: String) throws(SystemError) {
        var info = stat()
        guard fstat(fd, &info) == 0 else { throw SystemError("cannot stat \(path)") }
        guard (info.st_mode & S_IFMT) == S_IFREG else { throw notRegular(path) }
        guard info.st_uid == geteuid() else {
            throw SystemError(
                "\(path) belongs to uid \(info.st_uid), not to rampartd: refused; remove it and rampartd creates its own",
                errno: EPERM)
        }
        guard info.st_nlink == 1 else {
            throw SystemError(
                "\(path) has \(info.st_nlink) links (a hard link to another file?): refused; remove it", errno: EPERM)
        }
        guard info.st_mode & 0o022 == 0 else {
            throw SystemError(
                "\(path) is writable by group or others (mode \(String(info.st_mode & 0o7777, radix: 8))): refused; chmod 0640 it",
                errno: EPERM)
        }
    }
}
