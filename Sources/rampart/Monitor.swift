import ArgumentParser
import FoundationEssentials
import Glibc
import RampartControl
import RampartReport
import RampartSystem

struct Monitor: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "monitor",
        abstract:
            "The IP Security Monitor for rampart: policy, generic and specific filters, counters, drops and sets, live.",
        discussion: """
            A full-screen view refreshed every --interval seconds; q quits and restores the terminal. \
            --once prints one frame (everything, no screen control); --json the data behind it. \
            See docs/monitor.md.
            """)

    @OptionGroup var global: GlobalOptions

    @Flag(help: "Print one frame and exit.")
    var once = false

    @Option(help: "Seconds between frames (0.5 to 60).")
    var interval: Double = 1

    func run() throws {
        guard (0.5...60).contains(interval) else {
            throw ValidationError("--interval takes 0.5 to 60 seconds, not \(interval)")
        }
        let first = try snapshot()
        if global.json {
            write(first.json() + "\n")
            return
        }
        if once {
            write(MonitorView.frame(first, previous: nil, height: nil))
            return
        }
        guard isatty(0) == 1 && isatty(1) == 1 else {
            printError("rampart: error: monitor needs a terminal; use --once or --json")
            throw ExitCode.failure
        }
        try live(first)
    }

    func snapshot() throws -> MonitorSnapshot {
        let response: ControlResponse
        do {
            response = try ControlClient.send(ControlRequest(op: .monitor), to: global.socketPath)
        } catch {
            printError("rampart: \(error)")
            throw ExitCode(3)
        }
        guard response.ok, let json = response.json, let s = MonitorSnapshot.decode(json) else {
            printError("rampart: error: \(response.error ?? "an unreadable monitor reply")")
            throw ExitCode.failure
        }
        return s
    }

    func write(_ text: String) {
        var bytes = Array(text.utf8)
        _ = bytes.withUnsafeMutableBytes { writeAll(1, UnsafeRawBufferPointer($0)) }
    }

    /// The alternate screen, no echo, no line buffering: restored however the loop ends (q,
    /// SIGINT, SIGTERM, SIGHUP, an error).
    func live(_ first: MonitorSnapshot) throws {
        var saved = termios()
        tcgetattr(0, &saved)
        var raw = saved
        raw.c_lflag &= ~tcflag_t(ICANON | ECHO)
        tcsetattr(0, TCSANOW, &raw)
        // A signal interrupts the wait below instead of killing the process mid-screen.
        for s in [SIGINT, SIGTERM, SIGHUP] { signal(s) { _ in } }
        write("\u{1B}[?1049h\u{1B}[?25l")
        defer {
            write("\u{1B}[?25h\u{1B}[?1049l")
            tcsetattr(0, TCSANOW, &saved)
        }
        var previous: MonitorSnapshot?
        var current = first
        while true {
            var size = winsize()
            let rows = ioctl(1, UInt(TIOCGWINSZ), &size) == 0 && size.ws_row > 0 ? Int(size.ws_row) : 24
            let columns = size.ws_col > 0 ? Int(size.ws_col) : 80
            let lines = MonitorView.frame(current, previous: previous, height: rows - 1).split(
                separator: "\n", omittingEmptySubsequences: false)
            let fitted = lines.prefix(rows - 1).map { String($0.prefix(columns)) }.joined(separator: "\u{1B}[K\n")
            write("\u{1B}[H" + fitted + "\u{1B}[K\n\u{1B}[J" + "q: quit · every \(interval) s".prefix(columns))
            var fds = [pollfd(fd: 0, events: Int16(POLLIN), revents: 0)]
            let deadline = Date().addingTimeInterval(interval)
            while true {
                let left = Int32(max(0, deadline.timeIntervalSinceNow * 1000))
                let n = poll(&fds, nfds_t(fds.count), left)
                if n == 0 { break }
                if n < 0 { return }
                if fds[0].revents != 0 {
                    var byte: UInt8 = 0
                    if read(0, &byte, 1) <= 0 || byte == UInt8(ascii: "q") || byte == UInt8(ascii: "Q") { return }
                }
            }
            previous = current
            current = try snapshot()
        }
    }
}
