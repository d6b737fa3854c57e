import Glibc

/// An append-only log file with one rotation: before an append would take it past `maxBytes`,
/// it is renamed to `PATH.1` (replacing the previous one) and started anew with `header`.
public struct LogFile: Sendable {
    public var path: String
    public var maxBytes: Int
    public var header: String

    public init(path: String, maxBytes: Int, header: String) {
        self.path = path
        self.maxBytes = maxBytes
        self.header = header
    }

    public func append(_ text: String) throws(SystemError) {
        var info = stat()
        var size = stat(path, &info) == 0 ? Int(info.st_size) : 0
        if size > 0, size + text.utf8.count > maxBytes {
            guard rename(path, path + ".1") == 0 else { throw SystemError("cannot rotate \(path)", errno: errno) }
            size = 0
        }
        let fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC | O_NOFOLLOW, 0o640)
        guard fd >= 0 else { throw SystemError("cannot open \(path)", errno: errno) }
        defer { close(fd) }
        let bytes = Array(((size == 0 ? header : "") + text).utf8)
        if let code = bytes.withUnsafeBytes({ writeAll(fd, $0) }) { throw SystemError("cannot write \(path)", errno: code) }
    }
}
