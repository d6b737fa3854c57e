import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// Watches files with inotify — each file itself (in-place rewrites, as `ip netns exec` bind mounts
/// need) and its directory (rename-replace, delete and re-create) — and the target of a symlink.
/// Blocks in `read` on its own thread; calls `changed` with the watched path that an event concerns.
public final class FileWatcher: @unchecked Sendable {
    private let fd: Int32
    private let lock = NSLock()
    private var paths: [String]
    private var directories: [String]
    /// Watch descriptor → (watched path, the one name that counts, or nil for any name).
    private var watches: [Int32: [(path: String, name: String?)]] = [:]

    /// `paths` are files; `directories` are watched for any file written, moved or removed in them.
    public init(paths: [String], directories: [String] = []) {
        fd = inotify_init1(Int32(IN_CLOEXEC))
        self.paths = paths
        self.directories = directories
    }

    /// (Re)installs the watches: after a file was replaced its inode watch must be renewed.
    public func rearm() {
        lock.lock()
        defer { lock.unlock() }
        for wd in watches.keys { inotify_rm_watch(fd, wd) }
        watches = [:]
        // IN_MASK_ADD: a directory watched for several entries keeps one descriptor and all masks.
        let fileMask = UInt32(IN_CLOSE_WRITE | IN_MODIFY | IN_ATTRIB | IN_DELETE_SELF | IN_MOVE_SELF) | UInt32(IN_MASK_ADD)
        let dirMask = UInt32(IN_CLOSE_WRITE | IN_MOVED_TO | IN_MOVED_FROM | IN_CREATE | IN_DELETE) | UInt32(IN_MASK_ADD)
        func add(_ target: String, _ mask: UInt32, _ entry: (path: String, name: String?)) {
            let wd = inotify_add_watch(fd, target.isEmpty ? "/" : target, mask)
            if wd >= 0 { watches[wd, default: []].append(entry) }
        }
        for path in paths {
            var targets = [path]
            if let resolved = try? FileManager.default.destinationOfSymbolicLink(atPath: path) {
                targets.append(resolved.hasPrefix("/") ? resolved : (path as NSString).deletingLastPathComponent + "/" + resolved)
            }
            for target in targets {
                add(target, fileMask, (path, nil))
                add((target as NSString).deletingLastPathComponent, dirMask, (path, (target as NSString).lastPathComponent))
            }
        }
        for directory in directories {
            add(directory, dirMask | UInt32(IN_DELETE_SELF | IN_MOVE_SELF), (directory, nil))
            // A directory that appears later (a DHCP client's first lease) is seen from its parent.
            add((directory as NSString).deletingLastPathComponent, dirMask, (directory, (directory as NSString).lastPathComponent))
        }
    }

    public func run(changed: @escaping @Sendable (String) -> Void) {
        guard fd >= 0 else { return }
        rearm()
        var buffer = [UInt8](repeating: 0, count: 64 * 1024)
        while true {
            let n = buffer.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
            if n < 0 {
                if errno == EINTR { continue }
                return
            }
            var touched = Set<String>()
            var offset = 0
            lock.lock()
            let snapshot = watches
            lock.unlock()
            while offset + 16 <= n {
                let wd = buffer[offset..<offset + 4].withUnsafeBytes { $0.loadUnaligned(as: Int32.self) }
                let length = Int(buffer[(offset + 12)..<(offset + 16)].withUnsafeBytes { $0.loadUnaligned(as: UInt32.self) })
                let name = String(decoding: buffer[(offset + 16)..<min(n, offset + 16 + length)].prefix { $0 != 0 }, as: UTF8.self)
                // A parent-directory event counts only for the watched entry's own name.
                for watch in snapshot[wd] ?? [] where watch.name == nil || name.isEmpty || name == watch.name {
                    touched.insert(watch.path)
                }
                offset += 16 + length
            }
            if !touched.isEmpty {
                rearm()
                for path in touched { changed(path) }
            }
        }
    }
}
