import Glibc
import RampartSyscall

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
        let start = created || size == 0 ? header : ""
        let bytes = Array(
            (start + LogFile.fitting(text, into: maxBytes - (created || size == 0 ? 0 : size) - start.utf8.count)).utf8)
        if let code = bytes.withUnsafeBytes({ writeAll(fd, $0) }) {
            throw SystemError("cannot write \(path)", errno: code)
        }
    }

    /// `text`'s whole lines that fit in `room` bytes, and a remark counting the ones left out: no
    /// append makes the file pass `maxBytes` (the journal has every record).
    static func fitting(_ text: String, into room: Int) -> String {
        guard text.utf8.count > room else { return text }
        let lines = text.split(separator: "\n", omittingEmptySubsequences: false).dropLast().map { $0 + "\n" }
        var out = "", used = 0, kept = 0
        for line in lines {
            let remark = "#Remark: \(lines.count - kept - 1) records over log_file_max_bytes not written\n"
            guard used + line.utf8.count + remark.utf8.count <= room else { break }
            out += line
            used += line.utf8.count
            kept += 1
        }
        let remark = "#Remark: \(lines.count - kept) records over log_file_max_bytes not written\n"
        return used + remark.utf8.count <= room ? out + remark : out
    }
}
