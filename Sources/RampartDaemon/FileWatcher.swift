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
    private var watches: [Int32: String] = [:]

    public init(paths: [String]) {
        fd = inotify_init1(Int32(IN_CLOEXEC))
        self.paths = paths
    }

    /// (Re)installs the watches: after a file was replaced its inode watch must be renewed.
    public func rearm() {
        lock.lock()
        defer { lock.unlock() }
        for wd in watches.keys { inotify_rm_watch(fd, wd) }
        watches = [:]
        let fileMask = UInt32(IN_CLOSE_WRITE | IN_MODIFY | IN_ATTRIB | IN_DELETE_SELF | IN_MOVE_SELF)
        let dirMask = UInt32(IN_CLOSE_WRITE | IN_MOVED_TO | IN_MOVED_FROM | IN_CREATE | IN_DELETE)
        for path in paths {
            var targets = [path]
            if let resolved = try? FileManager.default.destinationOfSymbolicLink(atPath: path) {
                targets.append(resolved.hasPrefix("/") ? resolved : (path as NSString).deletingLastPathComponent + "/" + resolved)
            }
            for target in targets {
                let wd = inotify_add_watch(fd, target, fileMask)
                if wd >= 0 { watches[wd] = path }
                let dir = (target as NSString).deletingLastPathComponent
                let dwd = inotify_add_watch(fd, dir.isEmpty ? "." : dir, dirMask)
                if dwd >= 0 { watches[dwd] = path }
            }
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
                if let path = snapshot[wd] {
                    // A directory event counts only for the watched file's own name.
                    let base = (path as NSString).lastPathComponent
                    if name.isEmpty || name == base || name == ((try? FileManager.default.destinationOfSymbolicLink(atPath: path)).map { ($0 as NSString).lastPathComponent } ?? "") {
                        touched.insert(path)
                    }
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
