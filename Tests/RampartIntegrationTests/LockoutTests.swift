import Foundation
import Testing
import RampartNamespaceKit
import RampartTestKit

/// An admin's SSH session, held from a LAN address to port 22 of the server (an echo server
/// stands in for sshd), through changes made with rampartd: a change that would cut it is refused
/// with the session and the deciding filter named and nothing changed; `--confirm` applies it and
/// rolls it back; `--force` applies it.
@Suite(.serialized) struct LockoutTests {
    static let before = """
        pushd ipsec static
        add filteraction name=Permit action=permit
        add filteraction name=Block action=block
        add filter filterlist=Everything srcaddr=any dstaddr=any description="Block all"
        add filter filterlist=SSH srcaddr=198.51.100.0 srcmask=24 dstaddr=me protocol=tcp dstport=22 mirrored=yes
        add filter filterlist=SSH srcaddr=2001:db8:100::/64 dstaddr=me protocol=tcp dstport=22 mirrored=yes
        add filter filterlist=Web srcaddr=any dstaddr=me protocol=tcp dstport=80 mirrored=yes
        add policy name=Server assign=yes
        add rule name=Block policy=Server filterlist=Everything filteraction=Block
        add rule name=SSH policy=Server filterlist=SSH filteraction=Permit
        add rule name=Web policy=Server filterlist=Web filteraction=Permit
        popd

        """
    /// The web-server change an admin makes: the SSH rule goes.
    static let change = "ipsec static delete rule name=SSH policy=Server\n"

    @Test(arguments: [Lab.serverInternal4, Lab.serverInternal6])
    func aChangeThatWouldCutTheAdminsSessionIsRefusedUnlessConfirmedOrForced(server: String) throws {
        try withLab { lab, cli in
            try cli.exec(Self.before)
            let daemon = try DaemonHarness(cli: cli, ns: lab.server)
            defer { daemon.stop() }
            try daemon.start()
            let sshd = try lab.server.spawn(["python3", RampartCLI.probe, "echo", "--tcp", "22"])
            defer { sshd.killGroup() }
            try waitUntil("the echo server listens on 22") { try lab.server.run(["ss", "-lnH"]).out.contains(":22 ") }
            let session = try HeldSession(lab.inside, server, 22)
            #expect(session.echoes(), "the session passes data before the change")
            let file = try cli.file("change.netsh", Self.change)
            // Without counters (`nft -s`): a rollback replaces the rules, and their counters start again.
            func rules() throws -> String { try lab.server.run(["nft", "-s", "list", "ruleset"]).out }
            let rulesBefore = try rules()
            let storeBefore = try String(contentsOfFile: cli.store, encoding: .utf8)

            // Refused: the session and the filter that would drop it are named; nothing changed.
            let refused = try daemon.rampart(["exec", file], allowFailure: true)
            #expect(refused.status == 1)
            #expect(
                refused.err.contains("this change would cut an established SSH session; nothing was changed"),
                "\(refused.err)")
            #expect(refused.err.contains("session \(session.endpoints):"), "\(refused.err)")
            #expect(refused.err.contains("dropped by F4 [local/Server/Block/Everything/#1]"), "\(refused.err)")
            #expect(refused.err.contains("run it again with --confirm 60"), "\(refused.err)")
            #expect(try rules() == rulesBefore)
            #expect(try String(contentsOfFile: cli.store, encoding: .utf8) == storeBefore)
            #expect(session.echoes(), "the session still passes data")

            // --confirm: applied (the session is cut), then rolled back (it passes data again).
            let confirmed = try daemon.rampart(["exec", "--confirm", "10", file])
            #expect(confirmed.status == 0, "\(confirmed.err)")
            #expect(!session.echoes(), "applied: the session's packets are dropped")
            try waitUntil("the change is rolled back") { try lab.server.nftList().listsPort(22) }
            #expect(try rules() == rulesBefore)
            #expect(pollUntil(seconds: 30) { session.echoes() }, "the session lives again after the rollback")

            // --force: applied.
            let forced = try daemon.rampart(["exec", "--force", file])
            #expect(forced.status == 0, "\(forced.err)")
            #expect(try rules() != rulesBefore)
            #expect(!session.echoes(), "forced: the session is cut")
        }
    }
}

extension LockoutTests {
    /// An interactive one-shot apply (a terminal, given by script(1)) in the namespace the session
    /// ends in: refused, nothing applied; with --force, applied.
    @Test func anInteractiveApplyThatWouldCutASessionIsRefused() throws {
        try withLab { lab, cli in
            try cli.exec(Self.before + Self.change)
            let sshd = try lab.server.spawn(["python3", RampartCLI.probe, "echo", "--tcp", "22"])
            defer { sshd.killGroup() }
            try waitUntil("the echo server listens on 22") { try lab.server.run(["ss", "-lnH"]).out.contains(":22 ") }
            let session = try HeldSession(lab.inside, Lab.serverInternal4, 22)
            #expect(session.echoes())
            func apply(_ extra: String) throws -> (status: Int32, out: String, err: String) {
                try lab.server.run(
                    [
                        "env", "RAMPART_STORE=\(cli.store)", "RAMPART_SOCKET=/nonexistent", "script", "-qec",
                        "\(RampartCLI.binary) apply\(extra)", "/dev/null"
                    ], allowFailure: true)
            }
            let refused = try apply("")
            #expect(refused.status == 1, "\(refused)")
            #expect(refused.out.contains("this change would cut an established SSH session"), "\(refused.out)")
            #expect(refused.out.contains("session \(session.endpoints):"), "\(refused.out)")
            #expect(refused.out.contains("Nothing rolls back a one-shot apply"), "\(refused.out)")
            #expect(try !lab.server.nftList().contains("table inet rampart"), "nothing applied")
            #expect(session.echoes())
            let forced = try apply(" --force")
            #expect(forced.status == 0, "\(forced)")
            #expect(try lab.server.nftList().contains("table inet rampart"))
            #expect(!session.echoes(), "forced: cut")
        }
    }
}

/// A TCP connection held open by `probe.py session` in `ns`: each `echoes()` sends a line and
/// says whether it came back within 2 s.
final class HeldSession: @unchecked Sendable {
    let process: ChildProcess
    let input = Pipe(), output = Pipe()
    /// "client:port -> server:port", as the refusal names it.
    private(set) var endpoints = ""
    private var buffer = Data()
    private var sent = 0

    init(_ ns: Namespace, _ host: String, _ port: Int) throws {
        process = try ChildProcess(
            ["/usr/sbin/ip", "netns", "exec", ns.name, "python3", RampartCLI.probe, "session", host, String(port)],
            stdin: .pipe(input), stdout: .pipe(output))
        let words = try #require(line()?.split(separator: " "))
        try #require(words.count == 3 && words[0] == "connected", "\(words)")
        let client = host.contains(":") ? "[\(words[1])]:\(words[2])" : "\(words[1]):\(words[2])"
        endpoints = "\(client) -> \(host.contains(":") ? "[\(host)]" : host):\(port)"
    }

    func echoes() -> Bool {
        sent += 1
        input.fileHandleForWriting.write(Data("t\(sent)\n".utf8))
        return line() == "echoed"
    }

    private func line() -> String? {
        while !buffer.contains(UInt8(ascii: "\n")) {
            let more = output.fileHandleForReading.availableData
            if more.isEmpty { return nil }
            buffer += more
        }
        let end = buffer.firstIndex(of: UInt8(ascii: "\n"))!
        defer { buffer = Data(buffer[buffer.index(after: end)...]) }
        return String(decoding: buffer[..<end], as: UTF8.self)
    }

    deinit {
        try? input.fileHandleForWriting.close()
        process.killGroup()
    }
}
