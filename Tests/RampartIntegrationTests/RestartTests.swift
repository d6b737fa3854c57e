import Foundation
import RampartNamespaceKit
import RampartTestKit
import Testing

/// A restart of rampartd (an upgrade's, a crash's) opens no window: the new daemon keeps the table
/// the previous one left until its policy replaces it, instead of putting the boot mode in between
/// (stateful permits the outbound traffic this policy blocks).
@Suite(.serialized) struct RestartTests {
    typealias L = Lab

    /// Packets that passed rampart's output chain: counted by a table of the test's own, after it.
    static func passed(_ ns: Namespace) throws -> Int {
        let out = try ns.run(["nft", "-j", "list", "table", "inet", "probe"]).out
        let items =
            (try JSONSerialization.jsonObject(with: Data(out.utf8)) as! [String: Any])["nftables"] as! [[String: Any]]
        return items.compactMap { ($0["rule"] as? [String: Any])?["expr"] as? [[String: Any]] }
            .flatMap { $0 }.compactMap { ($0["counter"] as? [String: Any])?["packets"] as? Int }.reduce(0, +)
    }

    @Test func restartsLetNothingThroughThatThePolicyBlocks() throws {
        try withLab { lab, cli in
            try cli.exec(
                """
                pushd ipsec static
                add filteraction name=Block action=block
                add filter filterlist=Out srcaddr=me dstaddr=\(L.external4) protocol=udp dstport=9 mirrored=no
                add policy name=P assign=yes
                add rule name=out policy=P filterlist=Out filteraction=Block
                popd

                """)
            let daemon = try DaemonHarness(cli: cli, ns: lab.server)
            defer { daemon.stop() }
            try daemon.start()
            try lab.server.run([
                "nft",
                "add table inet probe; add chain inet probe out { type filter hook output priority 100; }; "
                    + "add rule inet probe out udp dport 9 counter"
            ])
            // 20,000 datagrams a second for 4 s (bounded) from the server itself, through 3 restarts.
            let flood = try ChildProcess([
                "/usr/sbin/ip", "netns", "exec", lab.server.name, "python3", RampartCLI.probe, "flood", L.external4,
                "--rate", "20000", "--seconds", "4", "--ports", "9-9"
            ])
            try waitUntil("the flood reaches the block rule") { try rampartDrops(lab.server, chain: "output") > 0 }
            for _ in 0..<3 {
                daemon.signal(SIGTERM)
                #expect(daemon.eventually(10) { daemon.process?.isRunning == false })
                try daemon.start()
            }
            _ = flood.wait(timeout: 30)
            let passed = try Self.passed(lab.server)
            #expect(passed == 0, "\(passed) datagrams the policy blocks went out during the restarts")
            #expect(
                daemon.log().components(separatedBy: "table inet rampart is in force from before (a restart)").count
                    == 4,
                "\(daemon.log())")
        }
    }
}
