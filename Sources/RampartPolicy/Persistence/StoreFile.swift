import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// The store on disk: read strictly, written atomically (temp file, fsync, rename, fsync of the
/// directory), modified only under an exclusive `flock` on `<store>.lock`.
public struct StoreFile: Sendable {
    public static let defaultPath = "/var/lib/rampart/store.json"

    public let path: String

    public init(path: String) { self.path = path }

    /// `--store`, else `RAMPART_STORE`, else the default path.
    public static func resolve(option: String?, environment: [String: String] = ProcessInfo.processInfo.environment) -> StoreFile {
        StoreFile(path: option ?? environment["RAMPART_STORE"] ?? defaultPath)
    }

    public var exists: Bool { FileManager.default.fileExists(atPath: path) }

    /// Reads the store; a missing file is an empty store, anything unreadable is an error.
    public func load() throws(StoreError) -> Store {
        guard exists else { return Store() }
        let data: Data
        do {
            data = try Data(contentsOf: URL(fileURLWithPath: path))
        } catch {
            throw StoreError("cannot read store \(path): \(error.localizedDescription)")
        }
        do {
            return try StoreCodec.decode(data)
        } catch {
            throw StoreError("store \(path) is corrupt and was left untouched: \(error.message)")
        }
    }

    /// Runs `body` holding the exclusive lock, so two writers never interleave read-modify-write.
    public func withExclusiveLock<T>(_ body: () throws -> T) throws -> T {
        let directory = (path as NSString).deletingLastPathComponent
        try createDirectory(directory.isEmpty ? "." : directory)
        let fd = open(path + ".lock", O_RDWR | O_CREAT | O_CLOEXEC, 0o600)
        guard fd >= 0 else { throw StoreError("cannot open lock file \(path).lock: \(errnoText())") }
        defer { close(fd) }
        while flock(fd, LOCK_EX) != 0 {
            guard errno == EINTR else { throw StoreError("cannot lock \(path).lock: \(errnoText())") }
        }
        defer { flock(fd, LOCK_UN) }
        return try body()
    }

    /// Replaces the store file atomically, and beside it the boot file: the `dynamic set config`
    /// settings alone, so rampartd can enforce the boot mode before it reads a large store.
    public func save(_ store: Store) throws {
        try writeAtomically(StoreCodec.encodeBootConfig(store.config), to: bootPath, mode: 0o640)
        try writeAtomically(StoreCodec.encode(store), to: path, mode: 0o640)
    }

    /// `<store>.boot`: the boot-mode settings, small enough to read in microseconds.
    public var bootPath: String { path + ".boot" }

    /// The boot settings: from the boot file, else from the store, else the defaults (stateful).
    public func loadBootConfig() throws(StoreError) -> DynamicConfig {
        if let data = FileManager.default.contents(atPath: bootPath) {
            return try StoreCodec.decodeBootConfig(data)
        }
        return exists ? try load().config : DynamicConfig()
    }

    func createDirectory(_ directory: String) throws {
        var isDir: ObjCBool = false
        if FileManager.default.fileExists(atPath: directory, isDirectory: &isDir), isDir.boolValue { return }
        do {
            try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true,
                                                    attributes: [.posixPermissions: 0o755])
        } catch {
            throw StoreError("cannot create \(directory): \(error.localizedDescription)")
        }
    }
}

/// Writes `data` to `path` so that readers see the old or the new file, never a mix, even after a crash.
public func writeAtomically(_ data: Data, to path: String, mode: mode_t = 0o644) throws {
    let directory = (path as NSString).deletingLastPathComponent.isEmpty ? "." : (path as NSString).deletingLastPathComponent
    let temp = "\(path).tmp.\(getpid())"
    let fd = open(temp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode)
    guard fd >= 0 else { throw StoreError("cannot create \(temp): \(errnoText())") }
    var ok = false
    defer {
        if !ok { unlink(temp) }
    }
    try data.withUnsafeBytes { (raw: UnsafeRawBufferPointer) throws in
        var offset = 0
        while offset < raw.count {
            let n = write(fd, raw.baseAddress! + offset, raw.count - offset)
            if n < 0 {
                if errno == EINTR { continue }
                let text = errnoText()
                close(fd)
                throw StoreError("cannot write \(temp): \(text)")
            }
            offset += n
        }
    }
    guard fsync(fd) == 0 else {
        let text = errnoText()
        close(fd)
        throw StoreError("cannot sync \(temp): \(text)")
    }
    close(fd)
    guard rename(temp, path) == 0 else { throw StoreError("cannot replace \(path): \(errnoText())") }
    ok = true
    let dfd = open(directory, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
    if dfd >= 0 {
        fsync(dfd)
        close(dfd)
    }
}

func errnoText() -> String { String(cString: strerror(errno)) }
