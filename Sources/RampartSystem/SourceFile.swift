import Glibc
import RampartSyscall

/// Reads the files addresses come from, bounded: a regular file only (opened without blocking,
/// so a FIFO cannot hang the daemon), at most `limit` bytes. A missing file is empty: that is
/// a real "none" (no lease yet, no resolv.conf); anything else that fails is a failure.
public enum SourceFile {
    public static let resolvConfLimit = 1 << 20
    public static let leaseLimit = 4 << 20

    public struct Failure: Error, Sendable, CustomStringConvertible {
        public var message: String
        public var description: String { message }
        public init(message: String) { self.message = message }
    }

    /// `read`, as text; nil when it cannot be read.
    public static func text(_ path: String, limit: Int) -> String? {
        (try? read(path, limit: limit).get()).map { String(decoding: $0, as: UTF8.self) }
    }

    public static func read(_ path: String, limit: Int) -> Result<[UInt8], Failure> {
        let fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY)
        guard fd >= 0 else {
            let code = errno
            if code == ENOENT || code == ENOTDIR { return .success([]) }
            return .failure(Failure(message: "cannot read \(path): \(String(cString: strerror(code)))"))
        }
        defer { close(fd) }
        var info = stat()
        guard fstat(fd, &info) == 0 else {
            return .failure(Failure(message: "cannot read \(path): \(String(cString: strerror(errno)))"))
        }
        guard (info.st_mode & S_IFMT) == S_IFREG else {
            return .failure(Failure(message: "\(path) is not a regular file"))
        }
        guard Int(info.st_size) <= limit else {
            return .failure(Failure(message: "\(path) is \(info.st_size) bytes, over the \(limit)-byte limit"))
        }
        var bytes = [UInt8](repeating: 0, count: min(limit + 1, Int(info.st_size) + 4096))
        var count = 0
        while count <= limit {
            if count == bytes.count { bytes += [UInt8](repeating: 0, count: min(bytes.count, limit + 1 - bytes.count)) }
            let (n, code) = Syscall.uninterrupted {
                bytes.withUnsafeMutableBytes { Glibc.read(fd, $0.baseAddress! + count, $0.count - count) }
            }
            if n < 0 { return .failure(Failure(message: "cannot read \(path): \(String(cString: strerror(code)))")) }
            if n == 0 { break }
            count += n
        }
        guard count <= limit else {
            return .failure(Failure(message: "\(path) grew over the \(limit)-byte limit while being read"))
        }
        return .success(Array(bytes[0..<count]))
    }

    public static func exists(_ path: String) -> Bool {
        var info = stat()
        return stat(path, &info) == 0
    }

    /// A directory's entries; a missing directory has none.
    public static func list(_ directory: String) throws(Failure) -> [String] {
        guard let dir = opendir(directory) else {
            if errno == ENOENT || errno == ENOTDIR { return [] }
            throw Failure(message: "cannot list \(directory): \(String(cString: strerror(errno)))")
        }
        defer { closedir(dir) }
        var names: [String] = []
        while let entry = readdir(dir) {
            let name = withUnsafeBytes(of: entry.pointee.d_name) { raw in
                String(decoding: raw.prefix { $0 != 0 }, as: UTF8.self)
            }
            if name != "." && name != ".." { names.append(name) }
        }
        return names
    }
}
