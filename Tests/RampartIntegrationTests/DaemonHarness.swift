import Foundation
import Testing
import RampartControl
import RampartNamespaceKit
import RampartTestKit

/// A rampartd running in a namespace with its own store, socket, configuration and a notify
/// socket standing in for systemd's.
final class DaemonHarness: @unchecked Sendable {
    static let binary: String = {
        let exe =
            (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")) ?? CommandLine.arguments[0]
        return URL(fileURLWithPath: exe).deletingLastPathComponent().appendingPathComponent("rampartd").path
    }()

    let cli: RampartCLI
    let ns: Namespace
    var process: ChildProcess?
    let notify: NotifySocket
    var socket: String { socketOverride ?? cli.directory.appendingPathComponent("control.sock").path }
    var configPath: String { cli.directory.appendingPathComponent("rampartd.conf").path }
    var logPath: String { cli.directory.appendingPathComponent("rampartd.log").path }

    /// When set, rampartd starts with this many descriptors at most (as LimitNOFILE would).
    var fileLimit: Int?
    var socketOverride: String?
    /// When set, rampartd runs as this uid:gid with CAP_NET_ADMIN alone (as the unit's User= and
    /// AmbientCapabilities= run it).
    var unprivileged: (uid: uid_t, gid: gid_t)?

    init(cli: RampartCLI, ns: Namespace, config: String = "") throws {
        self.cli = cli
        self.ns = ns
        notify = try NotifySocket(path: cli.directory.appendingPathComponent("notify.sock").path)
        try config.write(toFile: configPath, atomically: true, encoding: .utf8)
    }

    /// Starts rampartd and waits for READY=1; returns every notification received until then.
    @discardableResult
    func start(waitForReady: Bool = true) throws -> [String] {
        var env = ProcessInfo.processInfo.environment
        env["NOTIFY_SOCKET"] = notify.path
        env.removeValue(forKey: "WATCHDOG_USEC")
        if !FileManager.default.fileExists(atPath: logPath) {
            _ = FileManager.default.createFile(atPath: logPath, contents: nil)
        }
        let logHandle = try FileHandle(forWritingTo: URL(fileURLWithPath: logPath))
        defer { try? logHandle.close() }
        logHandle.seekToEndOfFile()
        let user =
            unprivileged.map {
                [
                    "setpriv", "--reuid=\($0.uid)", "--regid=\($0.gid)", "--clear-groups", "--inh-caps=-all,+net_admin",
                    "--ambient-caps=+net_admin",
                    "--bounding-set=-all,+net_admin", "--"
                ]
            } ?? []
        process = try ChildProcess(
            ["/usr/sbin/ip", "netns", "exec", ns.name]
                + (fileLimit.map { ["prlimit", "--nofile=\($0):\($0)", "--"] } ?? []) + user
                + [DaemonHarness.binary, "--config", configPath, "--store", cli.store, "--socket", socket],
            environment: env, stdout: .file(logHandle), stderr: .file(logHandle))
        guard waitForReady else { return [] }
        guard let messages = notify.wait(for: "READY=1", seconds: 20) else {
            throw ShellError(message: "rampartd did not report READY=1; log: \(log())")
        }
        return messages
    }

    func log() -> String { (try? String(contentsOfFile: logPath, encoding: .utf8)) ?? "" }

    func signal(_ sig: Int32) {
        if let pid = process?.processIdentifier { kill(pid, sig) }
    }

    func kill9() {
        guard let p = process else { return }
        Foundation.kill(p.processIdentifier, SIGKILL)
        p.waitUntilExit()
        process = nil
    }

    func request(_ request: ControlRequest) throws -> ControlResponse {
        try ControlClient.send(request, to: socket, timeoutSeconds: 30)
    }

    /// `rampart status --json`, parsed.
    func status() throws -> [String: Any] {
        let json = try #require(try request(ControlRequest(op: .status)).json)
        return try #require(try JSONSerialization.jsonObject(with: Data(json.utf8)) as? [String: Any])
    }

    /// Whether rampartd's signal thread (its main thread) waits in sigwait with no signal pending:
    /// every signal sent so far has been taken.
    func waitsForSignals() throws -> Bool {
        let pid = try #require(process?.processIdentifier)
        let wchan = (try? String(contentsOfFile: "/proc/\(pid)/wchan", encoding: .utf8)) ?? ""
        let status = try String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8)
        let pending = status.split(separator: "\n").filter { $0.hasPrefix("SigPnd:") || $0.hasPrefix("ShdPnd:") }
        return wchan.contains("sigtimedwait")
            && pending.allSatisfy { UInt64($0.split(separator: "\t").last ?? "", radix: 16) == 0 }
    }

    /// The daemon's word that every drop the kernel's log rules saw is read, summarised and written.
    func dropsIdle() throws -> Bool {
        (try status()["drops"] as? [String: Any])?["idle"] as? Bool == true
    }

    /// Runs the rampart CLI against this daemon.
    @discardableResult
    func rampart(
        _ arguments: [String], allowFailure: Bool = false, user: String? = nil, timeout: Double = 600
    ) throws -> (status: Int32, out: String, err: String) {
        var command = ["env", "RAMPART_SOCKET=\(socket)", "RAMPART_STORE=\(cli.store)", RampartCLI.binary] + arguments
        if let user { command = ["runuser", "-u", user, "--"] + command }
        return try sh(command, allowFailure: allowFailure, timeout: timeout)
    }

    func stop() {
        kill9()
        notify.close()
    }

    /// Waits until `condition` holds, for at most `seconds` (`pollUntil`).
    func eventually(_ seconds: Double, _ condition: () throws -> Bool) rethrows -> Bool {
        try pollUntil(seconds: seconds, condition)
    }
}
