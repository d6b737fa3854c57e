import ArgumentParser
import FoundationEssentials
import Glibc
import RampartReport
import RampartSystem
import RampartConfig
import RampartControl

extension DropLogQuery.Format: ExpressibleByArgument {}

struct Logs: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "logs",
        abstract: "Show rampartd's drop records: from the journal, or from the W3C log file.",
        discussion: """
            rampartd writes one record per aggregate of dropped packets at the end of each \
            ipsecloginterval, and the interval's total. This reads them back, from the journal \
            (journalctl, by MESSAGE_ID) when there is one, else from rampartd.conf's log_file; \
            --file reads a W3C log or a saved 'journalctl -o json' instead. Times are UTC:
              rampart logs --since -1h --filter F12
              rampart logs --address 203.0.113.0/24 --format w3c > drops.log
              rampart logs --follow --format json
            See docs/logging.md.
            """)

    @Option(
        help: ArgumentHelp(
            "Records whose packets end at or after TIME (2026-12-02T01:00:00Z, '2026-12-02 01:00', @EPOCH, today, yesterday, -10m, -2h, -1d).",
            valueName: "TIME"))
    var since: String?

    @Option(help: ArgumentHelp("Records whose packets start at or before TIME.", valueName: "TIME"))
    var until: String?

    @Flag(name: [.short, .long], help: "Keep printing records as rampartd writes them.")
    var follow = false

    @Option(help: ArgumentHelp("Records of this filter only (F12, F12m, D3, boot-mode, invalid).", valueName: "ID"))
    var filter: String?

    @Option(
        help: ArgumentHelp("Records from or to this address, or an address in this prefix (A/LENGTH).", valueName: "A"))
    var address: String?

    @Option(help: "text, json (JSON Lines), csv or w3c (W3C extended log).")
    var format: DropLogQuery.Format = .text

    @Option(help: ArgumentHelp("Read this W3C log or 'journalctl -o json' export instead.", valueName: "FILE"))
    var file: String?

    @Flag(help: "Read the journal even when rampartd.conf names a log file.")
    var journal = false

    @Option(help: ArgumentHelp("rampartd's configuration (for log_file).", valueName: "FILE"))
    var config: String = DaemonConfig.defaultPath

    func run() throws {
        let now = Date().timeIntervalSince1970
        var query = DropLogQuery()
        if let since {
            guard let t = DropLogQuery.time(since, now: now) else {
                throw ValidationError("--since: not a time: '\(since)'")
            }
            query.since = t
        }
        if let until {
            guard let t = DropLogQuery.time(until, now: now) else {
                throw ValidationError("--until: not a time: '\(until)'")
            }
            query.until = t
        }
        query.filter = filter
        if let address {
            guard let p = DropLogQuery.prefix(address) else {
                throw ValidationError("--address: not an address or prefix: '\(address)'")
            }
            query.address = p
        }
        let out = Output(query: query, format: format, flushes: follow)
        out.write(DropLogQuery.header(format))
        if let path = file {
            try readFile(path, out: out)
        } else if journal || Self.journalRuns {
            try readJournal(out: out)
        } else {
            try readFile(try configuredLogFile(), out: out)
        }
    }

    static var journalRuns: Bool {
        access("/run/systemd/journal/socket", F_OK) == 0 && access("/usr/bin/journalctl", X_OK) == 0
    }

    /// Where rampartd writes its records when there is no journal to read: the log_file of the
    /// rampartd that runs (its status says), else of rampartd.conf. None: an error that says
    /// where it looked, rather than an empty answer that reads as "no drops".
    func configuredLogFile() throws -> String {
        let socket = controlSocketPath(option: nil)
        var looked = ["no journal (journald's socket /run/systemd/journal/socket is missing)"]
        if let reply = try? ControlClient.send(ControlRequest(op: .status), to: socket, timeoutSeconds: 5) {
            if let json = reply.json, let path = Self.logFile(statusJSON: json) { return path }
            looked.append("rampartd (\(socket)) writes no log_file")
        } else {
            looked.append("rampartd is not running at \(socket)")
            if let text = try DaemonConfig.readFile(config),
                let path = try DaemonConfig.parse(text, file: config).logFile
            {
                return path
            }
            looked.append("\(config) sets no log_file")
        }
        printError(
            "rampart: error: no drop records to read: \(looked.joined(separator: "; ")). Set log_file in \(config) and reload rampartd, or read a saved log with --file FILE"
        )
        throw ExitCode.failure
    }

    static func logFile(statusJSON json: String) -> String? {
        struct Status: Decodable { var logFile: String? }
        return (try? JSONDecoder().decode(Status.self, from: Data(json.utf8)))?.logFile
    }

    final class Output {
        let query: DropLogQuery
        let format: DropLogQuery.Format
        let flushes: Bool

        init(query: DropLogQuery, format: DropLogQuery.Format, flushes: Bool) {
            self.query = query
            self.format = format
            self.flushes = flushes
        }

        func write(_ text: String) {
            guard !text.isEmpty else { return }
            var bytes = Array(text.utf8)
            _ = bytes.withUnsafeMutableBytes { writeAll(1, UnsafeRawBufferPointer($0)) }
        }

        func show(_ entry: DropLog.Entry) {
            if query.selects(entry) { write(DropLogQuery.render(entry, format)) }
        }
    }

    func readJournal(out: Output) throws {
        var arguments = [
            "journalctl", "--no-pager", "-q", "-o", "json", "MESSAGE_ID=\(DropLog.recordID)",
            "MESSAGE_ID=\(DropLog.totalID)"
        ]
        // Entries are written at the end of their interval: none written before --since can
        // hold a record that ends after it.
        if let since = out.query.since { arguments += ["--since", "@\(Int(since))"] }
        if follow { arguments.append("--follow") }
        guard
            let status = Subprocess.lines(
                arguments,
                line: { line in
                    if let fields = DropLog.journalLine(line), let entry = DropLog.entry(journal: fields) {
                        out.show(entry)
                    }
                })
        else {
            printError(
                "rampart: error: cannot run journalctl; read the W3C log with --file (log_file in rampartd.conf)")
            throw ExitCode.failure
        }
        if status != 0 {
            printError("rampart: error: journalctl exited with status \(status)")
            throw ExitCode.failure
        }
    }

    /// The file, after its rotated predecessor (PATH.1); with --follow, what is appended, and a
    /// new file after a rotation.
    func readFile(_ path: String, out: Output) throws {
        func contents(_ p: String) throws -> [UInt8] {
            switch SourceFile.read(p, limit: 1 << 30) {
            case .success(let bytes): return bytes
            case .failure(let failure):
                printError("rampart: error: \(failure)")
                throw ExitCode.failure
            }
        }
        if file == nil {
            for e in DropLogQuery.entries(file: String(decoding: try contents(path + ".1"), as: UTF8.self)) {
                out.show(e)
            }
        }
        guard access(path, R_OK) == 0 || file == nil else {
            printError("rampart: error: cannot read \(path): \(String(cString: strerror(errno)))")
            throw ExitCode.failure
        }
        func inode() -> UInt64 {
            var info = stat()
            return stat(path, &info) == 0 ? UInt64(info.st_ino) : 0
        }
        var current = inode()
        var bytes = try contents(path)
        var shown = bytes.lastIndex(of: UInt8(ascii: "\n")).map { $0 + 1 } ?? 0
        for e in DropLogQuery.entries(file: String(decoding: bytes[0..<shown], as: UTF8.self)) { out.show(e) }
        guard follow else { return }
        while true {
            usleep(500_000)
            // Rotated (a new inode) or truncated: the new file from its start.
            let now = inode()
            bytes = try contents(path)
            if now != current || bytes.count < shown {
                current = now
                shown = 0
            }
            let end = bytes.lastIndex(of: UInt8(ascii: "\n")).map { $0 + 1 } ?? 0
            guard end > shown else { continue }
            // The directives stay in force for what follows: parse with the file's #Fields.
            let head = bytes[0..<shown].split(separator: UInt8(ascii: "\n")).filter {
                $0.first == UInt8(ascii: "#") && !$0.starts(with: Array("#Remark".utf8))
            }
            let text =
                head.map { String(decoding: $0, as: UTF8.self) + "\n" }.joined()
                + String(decoding: bytes[shown..<end], as: UTF8.self)
            for e in DropLogQuery.entries(file: text) { out.show(e) }
            shown = end
        }
    }
}
