import CRampartSystem
import Glibc
import RampartSyscall

/// Watches files with inotify — each file itself (in-place rewrites, as `ip netns exec` bind mounts
/// need) and its directory (rename-replace, delete and re-create) — and the target of a symlink.
/// Blocks in poll on the thread of the service that runs it; calls `changed` with the watched
/// path that an event concerns.
public final class FileWatcher: @unchecked Sendable {
    private let fd: Int32
    private let paths: [String]
    private let directories: [String]
    /// Watch descriptor → (watched path, the one name that counts, or nil for any name).
    /// Touched only by the thread in `run`.
    private var watches: [Int32: [(path: String, name: String?)]] = [:]

    /// `paths` are files; `directories` are watched for any file written, moved or removed in them.
    public init(paths: [String], directories: [String] = []) throws(SystemError) {
        fd = inotify_init1(Int32(IN_CLOEXEC | IN_NONBLOCK))
        guard fd >= 0 else { throw SystemError("inotify_init1") }
        self.paths = paths
        self.directories = directories
    }

    deinit { close(fd) }

    /// (Re)installs the watches: after a file was replaced its inode watch must be renewed.
    func rearm() {
        for wd in watches.keys { inotify_rm_watch(fd, wd) }
        watches = [:]
        // IN_MASK_ADD: a directory watched for several entries keeps one descriptor and all masks.
        let fileMask =
            UInt32(IN_CLOSE_WRITE | IN_MODIFY | IN_ATTRIB | IN_DELETE_SELF | IN_MOVE_SELF) | UInt32(IN_MASK_ADD)
        let dirMask = UInt32(IN_CLOSE_WRITE | IN_MOVED_TO | IN_MOVED_FROM | IN_CREATE | IN_DELETE) | UInt32(IN_MASK_ADD)
        func add(_ target: String, _ mask: UInt32, _ entry: (path: String, name: String?)) {
            let wd = inotify_add_watch(fd, target.isEmpty ? "/" : target, mask)
            if wd >= 0 { watches[wd, default: []].append(entry) }
        }
        // `name` in `directory`, for `path`. A directory that does not exist yet (systemd-resolved's
        // /run/systemd/resolve, a client's first lease directory) is watched from its nearest
        // existing ancestor, for the next component on the way; when that appears, the event
        // re-arms the watches one level deeper, and the source is read again.
        func addEntry(_ directory: String, _ name: String, for path: String) {
            var directory = directory.isEmpty ? "/" : directory
            var name = name
            while true {
                let wd = inotify_add_watch(fd, directory, dirMask)
                if wd >= 0 {
                    watches[wd, default: []].append((path, name))
                    return
                }
                guard errno == ENOENT || errno == ENOTDIR, directory != "/" else { return }
                name = Path.lastComponent(directory)
                directory = Path.directory(of: directory)
                if directory.isEmpty { directory = "/" }
            }
        }
        for path in paths {
            var targets = [path]
            if let resolved = Path.symlinkTarget(path) {
                targets.append(resolved.hasPrefix("/") ? resolved : Path.directory(of: path) + "/" + resolved)
            }
            for target in targets {
                add(target, fileMask, (path, nil))
                addEntry(Path.directory(of: target), Path.lastComponent(target), for: path)
            }
        }
        for directory in directories {
            add(directory, dirMask | UInt32(IN_DELETE_SELF | IN_MOVE_SELF), (directory, nil))
            // A directory that appears later (a DHCP client's first lease) is seen from its parent.
            addEntry(Path.directory(of: directory), Path.lastComponent(directory), for: directory)
        }
    }

    /// Calls `changed` for each watched path an event concerns, until `wakeup` is stopped
    /// (returns) or inotify fails (throws, with the errno).
    public func run(until wakeup: Wakeup, changed: @escaping @Sendable (String) -> Void) throws(SystemError) {
        rearm()
        var buffer = [UInt8](repeating: 0, count: 64 * 1024)
        while true {
            guard try wakeup.waitReadable(fd) else { return }
            let (n, code) = Syscall.uninterrupted {
                buffer.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
            }
            if n < 0 {
                if code == EAGAIN { continue }
                throw SystemError("reading inotify events", errno: code)
            }
            var touched = Set<String>()
            var offset = 0
            while offset + 16 <= n {
                let wd = buffer[offset..<offset + 4].withUnsafeBytes { $0.loadUnaligned(as: Int32.self) }
                let length = Int(
                    buffer[(offset + 12)..<(offset + 16)].withUnsafeBytes { $0.loadUnaligned(as: UInt32.self) })
                let name = String(
                    decoding: buffer[(offset + 16)..<min(n, offset + 16 + length)].prefix { $0 != 0 }, as: UTF8.self)
                // A parent-directory event counts only for the watched entry's own name.
                for watch in watches[wd] ?? [] where watch.name == nil || name.isEmpty || name == watch.name {
                    touched.insert(watch.path)
                }
                offset += 16 + length
            }
            if !touched.isEmpty {
                rearm()
                for path in touched.sorted() { changed(path) }
            }
        }
    }
}

/// Path text helpers without Foundation.
public enum Path {
    /// Everything before the last `/` ("" for a bare name, "/" for a file in the root).
    public static func directory(of path: String) -> String {
        guard let slash = path.lastIndex(of: "/") else { return "" }
        return slash == path.startIndex ? "/" : String(path[..<slash])
    }

    public static func lastComponent(_ path: String) -> String {
        guard let slash = path.lastIndex(of: "/") else { return path }
        return String(path[path.index(after: slash)...])
    }

    /// readlink(2): the target of a symlink, nil when `path` is not one.
    public static func symlinkTarget(_ path: String) -> String? {
        var buffer = [CChar](repeating: 0, count: Int(PATH_MAX) + 1)
        let n = readlink(path, &buffer, buffer.count - 1)
        guard n > 0 else { return nil }
        return String(decoding: buffer[0..<n].map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }
}
