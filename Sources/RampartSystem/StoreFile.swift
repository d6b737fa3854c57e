import FoundationEssentials
import RampartPolicy
#if canImport(Glibc)
    import Glibc
    import RampartConfig
    import RampartSyscall
#endif

/// The store on disk: read strictly, written atomically (temp file, fsync, rename, fsync of the
/// directory), modified only under an exclusive `flock` on `<store>.lock`.
///
/// Beside it: `<store>.boot`, the boot settings alone (read at boot before the store is parsed),
/// and `<store>.pending`, the journal of a change waiting for `rampart confirm`.
public struct StoreFile: Sendable {
    public static let defaultPath = DaemonConfig.defaultStore

    public let path: String

    public init(path: String) { self.path = path }

    /// `--store`, else `RAMPART_STORE`, else the default path.
    public static func resolve(
        option: String?, environment: [String: String] = ProcessInfo.processInfo.environment
    ) -> StoreFile {
        StoreFile(path: option ?? environment["RAMPART_STORE"] ?? defaultPath)
    }

    /// True when something is at the path (a dangling symlink counts: reading it is then an error).
    public var exists: Bool {
        var info = stat()
        return lstat(path, &info) == 0
    }

    /// One version of the store file: its device, inode, size, modification and change times. Every
    /// save renames a new file into place (a new inode, a new change time), so an equal stamp is the
    /// version read or written before.
    public struct Stamp: Sendable, Equatable {
        var device: UInt64, inode: UInt64, size: Int64
        var modified: Int64, modifiedNanoseconds: Int64, changed: Int64, changedNanoseconds: Int64
    }

    /// The stamp of the file the store path names now (following links, as reading does); nil when
    /// there is none.
    public func stamp() -> Stamp? {
        var info = stat()
        guard stat(path, &info) == 0 else { return nil }
        return Stamp(
            device: UInt64(info.st_dev), inode: UInt64(info.st_ino), size: Int64(info.st_size),
            modified: Int64(info.st_mtim.tv_sec), modifiedNanoseconds: Int64(info.st_mtim.tv_nsec),
            changed: Int64(info.st_ctim.tv_sec), changedNanoseconds: Int64(info.st_ctim.tv_nsec))
    }

    /// Reads the store; a missing file is an empty store, anything unreadable is an error.
    public func load() throws(StoreError) -> Store {
        guard exists else { return Store() }
        let data = try Self.readRegularFile(path, what: "store")
        do {
            return try StoreCodec.decode(data)
        } catch {
            throw StoreError("store \(path) is corrupt and was left untouched: \(error.message)")
        }
    }

    /// Reads a whole regular file (following symlinks); a directory, FIFO, device or socket is
    /// refused by name rather than read (a FIFO would block, a device never end).
    public static func readRegularFile(_ path: String, what: String) throws(StoreError) -> Data {
        let fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK)
        guard fd >= 0 else {
            throw StoreError("cannot read \(what) \(path): \(errnoText())\(errno == EACCES ? accessHint(path) : "")")
        }
        defer { close(fd) }
        var info = stat()
        guard fstat(fd, &info) == 0 else { throw StoreError("cannot read \(what) \(path): \(errnoText())") }
        guard (info.st_mode & S_IFMT) == S_IFREG else {
            throw StoreError("\(what) \(path) is \(fileKind(info.st_mode)), not a regular file")
        }
        var data = Data(count: Int(info.st_size))
        var offset = 0
        while true {
            if offset == data.count { data.count += 65536 }
            let (n, code) = Syscall.uninterrupted {
                data.withUnsafeMutableBytes { raw in read(fd, raw.baseAddress! + offset, raw.count - offset) }
            }
            if n < 0 { throw StoreError("cannot read \(what) \(path): \(String(cString: strerror(code)))") }
            if n == 0 { break }
            offset += n
        }
        data.count = offset
        return data
    }

    /// Under the unit rampartd is user rampart, not root: a file only root may read needs giving.
    public static func accessHint(_ path: String) -> String {
        guard geteuid() != 0, ProcessInfo.processInfo.processName == "rampartd" else { return "" }
        let name = getpwuid(geteuid()).map { String(cString: $0.pointee.pw_name) } ?? "\(geteuid())"
        return "; rampartd runs as user \(name): give it the file (chown \(name) \(path); chmod 600 \(path))"
    }

    static func fileKind(_ mode: mode_t) -> String {
        switch mode & S_IFMT {
        case S_IFDIR: return "a directory"
        case S_IFIFO: return "a FIFO"
        case S_IFCHR: return "a character device"
        case S_IFBLK: return "a block device"
        case S_IFSOCK: return "a socket"
        default: return "not a regular file"
        }
    }

    /// Runs `body` holding the exclusive lock, so two writers never interleave read-modify-write.
    public func withExclusiveLock<T>(_ body: () throws -> T) throws -> T {
        let directory = Path.directory(of: path)
        try createDirectory(directory.isEmpty ? "." : directory)
        let fd = open(path + ".lock", O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0o600)
        guard fd >= 0 else { throw StoreError("cannot open lock file \(path).lock: \(errnoText())") }
        defer { close(fd) }
        try Self.giveToDirectoryOwner(fd, path: path + ".lock", mode: 0o600)
        let (locked, code) = Syscall.uninterrupted { flock(fd, LOCK_EX) }
        guard locked == 0 else { throw StoreError("cannot lock \(path).lock: \(String(cString: strerror(code)))") }
        defer { flock(fd, LOCK_UN) }
        return try body()
    }

    /// Replaces the store file atomically, and beside it the boot file. The two cannot be
    /// renamed together, so they are written in an order that keeps the boot file never more
    /// permissive than the store beside it, whenever the writer stops (full disk, kill -9, power):
    /// first the meet of the old boot settings and the new (the stricter mode, only the
    /// exemptions both allow), then the store, then the new boot settings.
    public func save(_ store: Store) throws {
        let target = resolvedPath()
        let bootTarget = StoreFile(path: target).bootPath
        let new = store.config
        let old = (try? StoreCodec.decodeBootConfig(Self.readRegularFile(bootTarget, what: "boot file"))) ?? new
        let meet = DynamicConfig.bootMeet(old, new)
        removeStaleTemporaries(of: target)
        removeStaleTemporaries(of: bootTarget)
        if meet != old { try Self.write(StoreCodec.encodeBootConfig(meet), to: bootTarget) }
        try Self.write(StoreCodec.encode(store), to: target)
        if meet != new || !FileManager.default.fileExists(atPath: bootTarget) {
            try Self.write(StoreCodec.encodeBootConfig(new), to: bootTarget)
        }
    }

    /// Rewrites the boot file from a loaded store when they disagree (a writer stopped between
    /// the two). Returns true when it did.
    @discardableResult
    public func repairBootFile(for store: Store) throws -> Bool {
        let bootTarget = StoreFile(path: resolvedPath()).bootPath
        if let data = try? Self.readRegularFile(bootTarget, what: "boot file"),
            (try? StoreCodec.decodeBootConfig(data)) == store.config
        {
            return false
        }
        try Self.write(StoreCodec.encodeBootConfig(store.config), to: bootTarget)
        return true
    }

    /// A store that is a symlink (to a managed location, say) stays one: the file it points
    /// to is what gets replaced.
    func resolvedPath() -> String {
        var info = stat()
        guard lstat(path, &info) == 0, (info.st_mode & S_IFMT) == S_IFLNK, let real = realpath(path, nil) else {
            return path
        }
        defer { free(real) }
        return String(cString: real)
    }

    /// The store's files belong to whoever owns its directory: root, or the `rampart` user that
    /// rampartd runs as under the shipped unit (StateDirectory=rampart). A file root writes there
    /// (the CLI offline, `rampart exec`) is handed to that owner, or rampartd could not read it.
    /// Mode 0640 in root's directory, 0600 in another's: that owner's group is the control group,
    /// whose members must not read pre-shared keys.
    static func write(_ data: Data, to path: String, mode: mode_t = 0o640) throws {
        let owner = directoryOwner(of: path)
        try writeAtomically(data, to: path, mode: (owner?.uid ?? 0) == 0 ? mode : mode & 0o600) {
            fd throws(StoreError) in
            try giveToDirectoryOwner(fd, path: path, mode: mode & 0o600)
        }
    }

    static func directoryOwner(of path: String) -> (uid: uid_t, gid: gid_t)? {
        let directory = Path.directory(of: path).isEmpty ? "." : Path.directory(of: path)
        var info = stat()
        guard stat(directory, &info) == 0 else { return nil }
        return (info.st_uid, info.st_gid)
    }

    /// Only root can give a file away, and only root writes a file in another user's directory.
    static func giveToDirectoryOwner(_ fd: Int32, path: String, mode: mode_t) throws(StoreError) {
        guard geteuid() == 0, let owner = directoryOwner(of: path), owner.uid != 0 else { return }
        guard fchown(fd, owner.uid, owner.gid) == 0, fchmod(fd, mode) == 0 else {
            throw StoreError("cannot give \(path) to uid \(owner.uid), the owner of its directory: \(errnoText())")
        }
    }

    /// `<store>.boot`: the boot-mode settings, small enough to read in microseconds.
    public var bootPath: String { path + ".boot" }

    /// The boot settings: from the boot file, else from the store, else the defaults (stateful).
    public func loadBootConfig() throws(StoreError) -> DynamicConfig {
        if FileManager.default.fileExists(atPath: bootPath) {
            return try StoreCodec.decodeBootConfig(Self.readRegularFile(bootPath, what: "boot file"))
        }
        return exists ? try load().config : DynamicConfig()
    }

    func createDirectory(_ directory: String) throws {
        var info = stat()
        if stat(directory, &info) == 0, (info.st_mode & S_IFMT) == S_IFDIR { return }
        do {
            try FileManager.default.createDirectory(
                atPath: directory, withIntermediateDirectories: true,
                attributes: [.posixPermissions: 0o755])
        } catch {
            throw StoreError("cannot create \(directory): \(error)")
        }
    }

    // MARK: the pending-confirmation journal

    /// `<store>.pending`: the store to return to if a change made with `--confirm` is not
    /// confirmed. Written (and synced) before the new store, removed by `confirm` or the rollback.
    public var pendingPath: String { path + ".pending" }

    public func savePending(_ pending: PendingConfirmation) throws {
        try Self.write(StoreCodec.encodePending(pending), to: pendingPath, mode: 0o600)
    }

    /// The journal, if one exists. A damaged journal is an error: the caller decides (rampartd
    /// refuses to guess and reports it; the previous store cannot be recovered from it).
    public func loadPending() throws(StoreError) -> PendingConfirmation? {
        guard FileManager.default.fileExists(atPath: pendingPath) else { return nil }
        return try StoreCodec.decodePending(Self.readRegularFile(pendingPath, what: "pending-confirmation journal"))
    }

    public func removePending() throws {
        guard unlink(pendingPath) == 0 || errno == ENOENT else {
            throw StoreError("cannot remove \(pendingPath): \(errnoText())")
        }
        syncDirectory(of: pendingPath)
    }
}

/// Writes `data` to `path` so that readers see the old or the new file, never a mix, even after a crash.
public func writeAtomically(
    _ data: Data, to path: String, mode: mode_t = 0o644,
    prepare: (Int32) throws(StoreError) -> Void = { _ in }
) throws {
    let temp = "\(path).tmp.\(getpid())"
    // O_EXCL: a file planted at the temporary name is never written to and then renamed into place.
    let fd: Int32
    do {
        fd = try OwnedFile.createExclusive(temp, mode: mode, removingStale: true)
    } catch {
        throw StoreError("cannot create \(temp): \(String(cString: strerror(error.errno)))")
    }
    var ok = false
    defer {
        if !ok { unlink(temp) }
    }
    do {
        try prepare(fd)
    } catch {
        close(fd)
        throw error
    }
    if let code = data.withUnsafeBytes({ writeAll(fd, $0) }) {
        close(fd)
        throw StoreError("cannot write \(temp): \(String(cString: strerror(code)))")
    }
    guard fsync(fd) == 0 else {
        let text = errnoText()
        close(fd)
        throw StoreError("cannot sync \(temp): \(text)")
    }
    close(fd)
    guard rename(temp, path) == 0 else { throw StoreError("cannot replace \(path): \(errnoText())") }
    ok = true
    syncDirectory(of: path)
}

/// `PATH.tmp.PID` files of writers that died between writing and renaming (kill -9, power cut:
/// the crash trials leave a few in a thousand). Whole copies of a store nobody will rename; a
/// writer that is still alive keeps its file.
func removeStaleTemporaries(of path: String) {
    let directory = Path.directory(of: path).isEmpty ? "." : Path.directory(of: path)
    let prefix = Path.lastComponent(path) + ".tmp."
    guard let names = try? FileManager.default.contentsOfDirectory(atPath: directory) else { return }
    for name in names where name.hasPrefix(prefix) {
        guard let pid = pid_t(name.dropFirst(prefix.count)), pid > 0, pid != getpid() else { continue }
        if kill(pid, 0) == -1 && errno == ESRCH { unlink(directory + "/" + name) }
    }
}

func syncDirectory(of path: String) {
    let directory = Path.directory(of: path).isEmpty ? "." : Path.directory(of: path)
    let dfd = open(directory, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
    if dfd >= 0 {
        fsync(dfd)
        close(dfd)
    }
}

func errnoText() -> String { String(cString: strerror(errno)) }
