import Foundation
import Testing
import RampartNamespaceKit
import RampartTestKit

/// The `rampart` binary built next to this test bundle, run inside namespaces with its own store
/// directory, removed when the last reference goes (or by `cleanup`).
final class RampartCLI: @unchecked Sendable {
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

    deinit { cleanup() }

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
/// Torn down (listeners killed, namespaces deleted) when the last reference goes, or by `teardown`.
final class Lab: @unchecked Sendable {
    let server: Namespace, inside: Namespace, external: Namespace
    private var servers: [ChildProcess] = []
    private var tornDown = false

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
        try waitUntil("the probe listener in \(ns.name) listens", seconds: 10) {
            let out = try ns.run(["ss", "-lnH"]).out
            return tcp.allSatisfy({ out.contains(":\($0) ") }) && udp.allSatisfy({ out.contains(":\($0) ") })
        }
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
        guard !tornDown else { return }
        tornDown = true
        // SIGKILL: a child may inherit a signal mask with SIGTERM blocked from the test runner's thread.
        stopListeners()
        for ns in [server, inside, external] { ns.delete() }
    }

    deinit { teardown() }
}

/// Packets the drop rules of rampart's `chain` counted in `ns` (`nft -j`, the independent oracle):
/// what tests wait on to know that traffic is reaching the ruleset, instead of sleeping.
func rampartDrops(_ ns: Namespace, chain: String) throws -> Int {
    let out = try ns.run(["nft", "-j", "list", "table", "inet", "rampart"]).out
    let items =
        ((try? JSONSerialization.jsonObject(with: Data(out.utf8))) as? [String: Any])?["nftables"] as? [[String: Any]]
        ?? []
    return items.compactMap { $0["rule"] as? [String: Any] }
        .filter { $0["chain"] as? String == chain }
        .compactMap { $0["expr"] as? [[String: Any]] }
        .filter { expr in expr.contains { $0.keys.contains("drop") } }
        .flatMap { $0 }.compactMap { ($0["counter"] as? [String: Any])?["packets"] as? Int }.reduce(0, +)
}

extension String {
    /// An `nft list ruleset` text matches TCP/UDP port `port`: in a rule (`tcp dport 22`) or as an
    /// element of a grouped filter set (`{ 22 counter packets …`, `192.0.2.7 . 22 counter packets …`).
    func listsPort(_ port: Int) -> Bool {
        contains("dport \(port) ") || contains("dport \(port)\n") || contains(" \(port) counter packets")
    }
}

/// The integration tests' fixture: a fresh lab and a store directory for the server's rampart,
/// both cleaned up when `body` returns or throws (their deinit), and alive until then.
func withLab<T>(_ body: (Lab, RampartCLI) throws -> T) throws -> T {
    let lab = try Lab()
    let cli = try RampartCLI()
    return try withExtendedLifetime((lab, cli)) { try body(lab, cli) }
}

func withLab<T>(_ body: (Lab, RampartCLI) async throws -> T) async throws -> T {
    let lab = try Lab()
    let cli = try RampartCLI()
    defer { withExtendedLifetime((lab, cli)) {} }
    return try await body(lab, cli)
}

/// A fresh lab whose server has `script` applied once with `rampart apply` (`withLab`), with the
/// server types' `addresses` (JSON) or as the boot ruleset (`boot`).
func withAppliedLab(
    _ script: String, addresses: String? = nil, boot: Bool = false, _ body: (Lab, RampartCLI) throws -> Void
) throws {
    try withLab { lab, cli in
        try cli.exec(script)
        var args = ["apply"] + (boot ? ["--boot"] : [])
        if let addresses { args += ["--addresses", try cli.addresses(addresses)] }
        try cli.run(args, in: lab.server)
        try body(lab, cli)
    }
}

/// rampartd in a namespace of its own (`nsName`), its store loaded from `script` (none when
/// empty), stopped and cleaned up when `body` returns or throws. `membersReachSocket` opens the
/// store directory, where the socket is, to other users.
func withDaemon(
    _ script: String = DaemonTests.policy, config: String = "", fileLimit: Int? = nil, nsName: String = "d",
    membersReachSocket: Bool = false, _ body: (DaemonHarness, Namespace) throws -> Void
) throws {
    let cli = try RampartCLI()
    if !script.isEmpty { try cli.exec(script) }
    let ns = try Namespace(nsName)
    defer { ns.delete() }
    let daemon = try DaemonHarness(cli: cli, ns: ns, config: config)
    daemon.fileLimit = fileLimit
    defer { daemon.stop() }
    if membersReachSocket { chmod(cli.directory.path, 0o755) }
    try withExtendedLifetime(cli) { try body(daemon, ns) }
}
