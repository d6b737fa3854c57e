import Glibc

/// The W3C drop log (`log_file`): appended to, rotated to `PATH.1` when the next append would
/// pass `maxBytes`. Opened as `OwnedFile` says: a FIFO, a link or a file someone else owns at the
/// path is refused, never written to or waited on.
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
        try OwnedFile.checkDirectory(OwnedFile.directory(of: path), purpose: "log file")
        var (fd, created) = try OwnedFile.openForAppend(path)
        var info = stat()
        let size = fstat(fd, &info) == 0 ? Int(info.st_size) : 0
        if size > 0, size + text.utf8.count > maxBytes {
            close(fd)
            guard rename(path, path + ".1") == 0 else { throw SystemError("cannot rotate \(path)") }
            // Whatever is at the name now was not put there by us: O_EXCL refuses it.
            fd = try OwnedFile.createExclusive(path, mode: 0o640, removingStale: false)
            created = true
        }
        defer { close(fd) }
        let bytes = Array(((created || size == 0 ? header : "") + text).utf8)
        if let code = bytes.withUnsafeBytes({ writeAll(fd, $0) }) { throw SystemError("cannot write \(path)", errno: code) }
    }
}
