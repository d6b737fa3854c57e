import Foundation
import Testing
import RampartNamespaceKit
import RampartTestKit

/// Every `rampart` command shown in README.md, docs/rampart.md and the `--help` texts (which are
/// the man page) runs, as written, in a namespace of its own against a running rampartd, and
/// exits 0 without an error. What a command needs to exist (the files it names, an etcd for
/// `domain push`, a pending change for `confirm`) is made first; the few rewrites are listed in
/// `rewrite` with their reason.
@Suite(.serialized) struct DocExampleTests {
    struct Example: CustomStringConvertible {
        var source: String
        var command: String
        var description: String { "\(source): \(command)" }
    }

    /// The examples in their documents' order: README's first line exec's the web-server example.
    static func examples() throws -> [Example] {
        let root = Fixtures.repositoryRoot
        var out: [Example] = []
        for doc in ["README.md", "docs/rampart.md", "docs/migration.md"] {
            let lines = try String(contentsOf: root.appendingPathComponent(doc), encoding: .utf8).split(
                separator: "\n", omittingEmptySubsequences: false)
            var fenced = false, synopsis = false
            for (n, raw) in lines.enumerated() {
                let line = raw.trimmingCharacters(in: .whitespaces)
                if line.hasPrefix("## ") { synopsis = line == "## SYNOPSIS" }
                if line.hasPrefix("```") {
                    fenced.toggle()
                    continue
                }
                // The SYNOPSIS lists syntax, not commands.
                guard fenced, !synopsis else { continue }
                var command = line.hasPrefix("$ ") ? String(line.dropFirst(2)) : line
                // A shell comment after the command (no example quotes a '#').
                if let hash = command.range(of: " #") { command = String(command[..<hash.lowerBound]) }
                command = command.trimmingCharacters(in: .whitespaces)
                guard command.hasPrefix("rampart ") || command.hasPrefix("ip netns exec ") else { continue }
                // migration.md's premise is a host the policy moves to: its own store, no rampartd.
                if doc == "docs/migration.md" {
                    command = "RAMPART_SOCKET=$PWD/none.sock RAMPART_STORE=$PWD/migrated.json " + command
                }
                out.append(Example(source: "\(doc):\(n + 1)", command: command))
            }
        }
        let sources = root.appendingPathComponent("Sources/rampart")
        for file in try FileManager.default.contentsOfDirectory(atPath: sources.path).sorted() {
            let text = try String(contentsOf: sources.appendingPathComponent(file), encoding: .utf8)
            for (n, raw) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated()
            where raw.hasPrefix("              rampart ") {
                var command = raw.trimmingCharacters(in: .whitespaces)
                if command.hasSuffix("\\") { command.removeLast() }
                out.append(Example(source: "Sources/rampart/\(file):\(n + 1) (--help)", command: command))
            }
        }
        return out
    }

    /// The rewrites, each for a reason the document states itself.
    static func rewrite(_ command: String, otherNamespace: String) -> (command: String, seconds: Double) {
        var c = command
        // The installed example's path, in this checkout.
        c = c.replacingOccurrences(
            of: "/etc/rampart/examples/", with: Fixtures.repositoryRoot.path + "/etc/rampart/examples/")
        // "try it in a network namespace first": the lab's other namespace.
        c = c.replacingOccurrences(of: "ip netns exec test ", with: "ip netns exec \(otherNamespace) ")
        // The monitor is full-screen until q; without a terminal, --once is its one frame.
        if c.hasPrefix("rampart monitor"), !c.contains("--once") { c += " --once" }
        // --follow prints until stopped: 3 s of it, stopped by the timeout, is its success.
        return (c, c.contains("--follow") ? 3 : 60)
    }

    @Test(.enabled(if: HeavySuites.EtcdClientTests.haveEtcd)) func everyDocumentedCommandRunsAsWritten() throws {
        let examples = try Self.examples()
        #expect(examples.count >= 25, "\(examples)")
        try withLab { lab, cli in
            let work = try Self.workDirectory(cli)
            let etcd = try EtcdCluster(basePort: 23_860, namespace: lab.server)
            defer { etcd.cleanup() }
            let daemon = try DaemonHarness(
                cli: cli, ns: lab.server, config: "log_file = \(work)/drops.log\nlog_interval_seconds = 1\n")
            defer { daemon.stop() }
            try daemon.start()
            let environment = [
                "PATH=\(URL(fileURLWithPath: RampartCLI.binary).deletingLastPathComponent().path):/usr/sbin:/usr/bin:/sbin:/bin",
                "RAMPART_STORE=\(cli.store)", "RAMPART_SOCKET=\(daemon.socket)",
                "RAMPART_ETCD_ENDPOINTS=\(etcd.endpoints.joined(separator: ","))",
                "RAMPART_ETCD_CA=\(etcd.path("ca.crt"))", "RAMPART_ETCD_CERT=\(etcd.path("host.crt"))",
                "RAMPART_ETCD_KEY=\(etcd.path("host.key"))"
            ]
            var failures: [String] = []
            for example in examples {
                let (command, seconds) = Self.rewrite(example.command, otherNamespace: lab.external.name)
                let r: (status: Int32, out: String, err: String)
                do {
                    r = try sh(
                        ["ip", "netns", "exec", lab.server.name, "env"] + environment + [
                            "sh", "-c", "cd \(work) && \(command)"
                        ], allowFailure: true, timeout: seconds)
                } catch let stopped as ShellError where seconds < 60 {
                    // Stopped by its timeout, as planned: what it said until then must hold no error.
                    if stopped.message.contains("error:") {
                        failures.append("\(example): \(stopped.message.suffix(600))")
                    }
                    continue
                }
                if r.status != 0 || r.err.contains("error:") {
                    failures.append("\(example) exited \(r.status): \(r.err.suffix(600))")
                }
                // "rolled back unless 'rampart confirm' follows": it follows.
                if command.contains("--confirm") { _ = try sh(["env"] + environment + ["rampart", "confirm"]) }
            }
            #expect(
                failures.isEmpty,
                "\(failures.count) of \(examples.count) examples failed:\n\(failures.joined(separator: "\n"))")
        }
    }

    /// The files the examples name, in the directory they run in.
    static func workDirectory(_ cli: RampartCLI) throws -> String {
        let work = cli.directory.appendingPathComponent("examples")
        try FileManager.default.createDirectory(at: work, withIntermediateDirectories: true)
        let examples = Fixtures.repositoryRoot.appendingPathComponent("etc/rampart/examples")
        try FileManager.default.createDirectory(
            at: work.appendingPathComponent("etc/rampart"), withIntermediateDirectories: true)
        try FileManager.default.createSymbolicLink(
            at: work.appendingPathComponent("etc/rampart/examples"), withDestinationURL: examples)
        let web = try String(contentsOf: examples.appendingPathComponent("web-server.netsh"), encoding: .utf8)
        for name in ["web-server.netsh", "new-policy.netsh"] {
            try web.write(to: work.appendingPathComponent(name), atomically: true, encoding: .utf8)
        }
        // A domain policy is its own store: no 'set store' (docs/fleet.md).
        try DomainPolicyScripts.ssh(port: 22).write(
            to: work.appendingPathComponent("web.netsh"), atomically: true, encoding: .utf8)
        try """
        @echo off\r
        rem SSH from the admin host only.\r
        netsh ipsec static add filter filterlist="Admin In" srcaddr=198.51.100.10 dstaddr=me protocol=tcp dstport=22 mirrored=yes\r

        """.write(to: work.appendingPathComponent("lockdown.bat"), atomically: true, encoding: .utf8)
        // A regedit export of a Windows server's local policy store (docs/migration.md).
        try FileManager.default.copyItem(
            at: Fixtures.repositoryRoot.appendingPathComponent("Tests/RampartCLITests/Golden/windows/web.reg"),
            to: work.appendingPathComponent("policy.reg"))
        // The same store as a hardening script's `reg add` lines.
        try FileManager.default.copyItem(
            at: Fixtures.repositoryRoot.appendingPathComponent("Tests/RampartCLITests/Golden/windows/web-reg-add.bat"),
            to: work.appendingPathComponent("hardening.bat"))
        return work.path
    }
}
