import CSystemd
import FoundationEssentials
import Glibc
import Logging

/// Where rampartd's log goes: the journal, with structured fields, when systemd connected stderr
/// to it ($JOURNAL_STREAM names stderr's device and inode, as systemd.exec(5) documents); else
/// stderr, one line per message. Metadata whose key is a journal field name (upper case:
/// `MESSAGE_ID`, `RAMPART_FILTER`) becomes a field in the journal and is left out of stderr lines,
/// which carry the same facts in their words.
public enum DaemonLog {
    public static func bootstrap(
        level: Logger.Level = .info, environment: [String: String] = ProcessInfo.processInfo.environment
    ) {
        let journal = stderrIsJournal(environment["JOURNAL_STREAM"])
        LoggingSystem.bootstrap { label in
            var stderr = StreamLogHandler.standardError(label: label)
            stderr.logLevel = level
            if journal { return JournalLogHandler(fallback: stderr, logLevel: level) }
            return StderrLogHandler(stream: stderr)
        }
    }

    /// `JOURNAL_STREAM=DEV:INODE` matches descriptor 2.
    static func stderrIsJournal(_ value: String?) -> Bool {
        guard let value else { return false }
        let parts = value.split(separator: ":")
        guard parts.count == 2, let dev = UInt64(parts[0]), let ino = UInt64(parts[1]) else { return false }
        var st = stat()
        guard fstat(2, &st) == 0 else { return false }
        return UInt64(st.st_dev) == dev && UInt64(st.st_ino) == ino
    }

    static func isJournalField(_ key: String) -> Bool {
        guard let first = key.utf8.first, first >= UInt8(ascii: "A"), first <= UInt8(ascii: "Z") else { return false }
        return key.utf8.allSatisfy {
            ($0 >= UInt8(ascii: "A") && $0 <= UInt8(ascii: "Z")) || ($0 >= UInt8(ascii: "0") && $0 <= UInt8(ascii: "9"))
                || $0 == UInt8(ascii: "_")
        }
    }

    /// syslog(3) priorities.
    static func priority(_ level: Logger.Level) -> Int {
        switch level {
        case .trace, .debug: return 7
        case .info: return 6
        case .notice: return 5
        case .warning: return 4
        case .error: return 3
        case .critical: return 2
        }
    }

    /// The journal fields of one message: MESSAGE, PRIORITY, SYSLOG_IDENTIFIER, the code location,
    /// then the metadata's journal fields (others are appended to MESSAGE as `key=value`).
    static func fields(
        level: Logger.Level, message: String, metadata: Logger.Metadata, file: String, function: String, line: UInt
    ) -> [String] {
        var text = message
        var extra: [String] = []
        for (key, value) in metadata.sorted(by: { $0.key < $1.key }) {
            if isJournalField(key) { extra.append("\(key)=\(value)") } else { text += " \(key)=\(value)" }
        }
        return [
            "MESSAGE=\(text)", "PRIORITY=\(priority(level))", "SYSLOG_IDENTIFIER=rampartd",
            "CODE_FILE=\(file)", "CODE_LINE=\(line)", "CODE_FUNC=\(function)"
        ] + extra
    }
}

/// Messages to the journal through libsystemd's sd_journal_sendv (the native protocol); a message
/// the journal does not take goes to stderr, which is the journal's stream too, without its fields.
struct JournalLogHandler: LogHandler {
    var fallback: StreamLogHandler
    var logLevel: Logger.Level
    var metadata: Logger.Metadata = [:]

    init(fallback: StreamLogHandler, logLevel: Logger.Level) {
        self.fallback = fallback
        self.logLevel = logLevel
    }

    subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    func log(event: LogEvent) {
        let all = metadata.merging(event.metadata ?? [:]) { $1 }
        let fields = DaemonLog.fields(
            level: event.level, message: event.message.description, metadata: all, file: event.file,
            function: event.function, line: event.line)
        // One buffer, one iovec per field.
        var bytes: [UInt8] = []
        var ranges: [Range<Int>] = []
        for field in fields {
            let start = bytes.count
            bytes += field.utf8
            ranges.append(start..<bytes.count)
        }
        let sent = bytes.withUnsafeMutableBytes { raw -> Int32 in
            let vectors = ranges.map { r in iovec(iov_base: raw.baseAddress.map { $0 + r.lowerBound }, iov_len: r.count)
            }
            return vectors.withUnsafeBufferPointer { sd_journal_sendv($0.baseAddress, Int32($0.count)) }
        }
        if sent < 0 {
            var plain = event
            plain.metadata = all.filter { !DaemonLog.isJournalField($0.key) }
            fallback.log(event: plain)
        }
    }
}

/// stderr lines as swift-log's stream handler writes them, without the journal-only fields.
struct StderrLogHandler: LogHandler {
    var stream: StreamLogHandler

    var logLevel: Logger.Level {
        get { stream.logLevel }
        set { stream.logLevel = newValue }
    }

    var metadata: Logger.Metadata {
        get { stream.metadata }
        set { stream.metadata = newValue }
    }

    subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { stream[metadataKey: key] }
        set { stream[metadataKey: key] = newValue }
    }

    func log(event: LogEvent) {
        var plain = event
        plain.metadata = event.metadata?.filter { !DaemonLog.isJournalField($0.key) }
        stream.log(event: plain)
    }
}
