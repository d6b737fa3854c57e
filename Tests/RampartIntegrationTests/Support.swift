import Foundation
import Testing
import RampartNamespaceKit
import RampartTestKit

/// The `rampart` binary built next to this test bundle, run inside namespaces with its own store.
struct RampartCLI {
    static let binary: String = {
        let exe =
            (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")) ?? CommandLine.arguments[0]
        return URL(fileURLWithPath: exe).deletingLastPathComponent().appendingPathComponent("rampart").path
    }()
    static let probe = Fixtures.repositoryRoot.appendingPathComponent("scripts/probe.py").path

    let directory: URL
    var store: String { directory.appendingPathComponent("store.json").path }

    init() throws {
        directory = FileManager.default.temporaryDirectory.appendingPathComponent("rampart-it-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
    }

    func cleanup() { try? FileManager.default.removeItem(at: directory) }

    func file(_ name: String, _ text: String) throws -> String {
        let path = directory.appendingPathComponent(name).path
        try text.write(toFile: path, atomically: true, encoding: .utf8)
        return path
    }

    /// Loads a netsh script into this test's store.
    func exec(_ script: String) throws {
        try sh([RampartCLI.binary, "exec", "--store", store, try file("script-\(UUID().uuidString).netsh", script)])
    }

    func addresses(_ json: String) throws -> String { try file("addresses-\(UUID().uuidString).json", json) }

    @discardableResult
    func run(
        _ arguments: [String], in ns: Namespace, store withStore: Bool = true, allowFailure: Bool = false
    ) throws -> (status: Int32, out: String, err: String) {
        try ns.run([RampartCLI.binary] + arguments + (withStore ? ["--store", store] : []), allowFailure: allowFailure)
    }

    func compile(_ extra: [String] = []) throws -> String {
        try sh([RampartCLI.binary, "compile", "--store", store] + extra).out
    }
}

/// A server with two clients on veth links, documentation addresses only:
/// internal 198.51.100.0/24 + 2001:db8:100::/64, external 203.0.113.0/24 + 2001:db8:203::/64.
final class Lab: @unchecked Sendable {
    let server: Namespace, inside: Namespace, external: Namespace
    private var servers: [ChildProcess] = []

    static let serverInternal4 = "198.51.100.1", serverInternal6 = "2001:db8:100::1"
    static let serverExternal4 = "203.0.113.1", serverExternal6 = "2001:db8:203::1"
    static let internal4 = "198.51.100.10", internal6 = "2001:db8:100::10"
    static let external4 = "203.0.113.10", external6 = "2001:db8:203::10"

    init() throws {
        server = try Namespace("srv")
        inside = try Namespace("int")
        external = try Namespace("ext")
        do {
            try link(
                server, ["\(Lab.serverInternal4)/24", "\(Lab.serverInternal6)/64"], inside,
                ["\(Lab.internal4)/24", "\(Lab.internal6)/64"])
            try link(
                server, ["\(Lab.serverExternal4)/24", "\(Lab.serverExternal6)/64"], external,
                ["\(Lab.external4)/24", "\(Lab.external6)/64"])
            for (from, to) in [
                (server, Lab.internal4), (server, Lab.internal6), (server, Lab.external4), (server, Lab.external6),
                (inside, Lab.serverInternal4), (inside, Lab.serverInternal6), (external, Lab.serverExternal4),
                (external, Lab.serverExternal6)
            ] {
                try from.run(["python3", RampartCLI.probe, "reach", to])
            }
        } catch {
            teardown()
            throw error
        }
    }

    /// Starts a probe listener in `ns` and waits until its ports answer.
    func listen(_ ns: Namespace, tcp: [Int], udp: [Int] = []) throws {
        let p = try ns.spawn([
            "python3", RampartCLI.probe, "serve", "--tcp", tcp.map(String.init).joined(separator: ","),
            "--udp", udp.map(String.init).joined(separator: ",")
        ])
        servers.append(p)
        for _ in 0..<200 {
            let out = try ns.run(["ss", "-lnH"]).out
            if tcp.allSatisfy({ out.contains(":\($0) ") }) && udp.allSatisfy({ out.contains(":\($0) ") }) { return }
            usleep(10_000)
        }
        throw ShellError(message: "probe listener did not start in \(ns.name)")
    }

    /// True when a TCP connection from `ns` to host:port is established.
    func tcp(from ns: Namespace, _ host: String, _ port: Int, sourcePort: Int = 0, timeout: Double = 0.6) throws -> Bool
    {
        try ns.run(
            [
                "python3", RampartCLI.probe, "tcp", host, String(port), "--sport", String(sourcePort), "--timeout",
                String(timeout)
            ], allowFailure: true
        ).status == 0
    }

    func udp(from ns: Namespace, _ host: String, _ port: Int, sourcePort: Int = 0, timeout: Double = 0.6) throws -> Bool
    {
        try ns.run(
            [
                "python3", RampartCLI.probe, "udp", host, String(port), "--sport", String(sourcePort), "--timeout",
                String(timeout)
            ], allowFailure: true
        ).status == 0
    }

    /// Stops the probe listeners started so far (their ports become free again).
    func stopListeners() {
        for p in servers where p.isRunning {
            kill(p.processIdentifier, SIGKILL)
            p.waitUntilExit()
        }
        servers = []
    }

    func teardown() {
        // SIGKILL: a child may inherit a signal mask with SIGTERM blocked from the test runner's thread.
        for p in servers where p.isRunning {
            kill(p.processIdentifier, SIGKILL)
            p.waitUntilExit()
        }
        for ns in [server, inside, external] { ns.delete() }
    }
}

extension String {
    /// An `nft list ruleset` text matches TCP/UDP port `port`: in a rule (`tcp dport 22`) or as an
    /// element of a grouped filter set (`{ 22 counter packets …`, `192.0.2.7 . 22 counter packets …`).
    func listsPort(_ port: Int) -> Bool {
        contains("dport \(port) ") || contains("dport \(port)\n") || contains(" \(port) counter packets")
    }
}

/// Polls `condition` until it holds, for 30 s at most; throws naming `what` when it never does.
func waitUntil(_ what: String, seconds: Double = 30, _ condition: () throws -> Bool) throws {
    let deadline = Date().addingTimeInterval(seconds)
    while Date() < deadline {
        if try condition() { return }
        usleep(20_000)
    }
    throw ShellError(message: "timed out after \(seconds) s waiting until \(what)")
}

/// A fresh lab whose server has `script` applied once with `rampart apply`, torn down (with its
/// store directory) after `body`.
func withAppliedLab(_ script: String, _ body: (Lab, RampartCLI) throws -> Void) throws {
    let lab = try Lab()
    defer { lab.teardown() }
    let cli = try RampartCLI()
    defer { cli.cleanup() }
    try cli.exec(script)
    try cli.run(["apply"], in: lab.server)
    try body(lab, cli)
}
