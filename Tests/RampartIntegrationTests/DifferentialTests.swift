import Foundation
import Testing
import RampartNamespaceKit
import RampartTestKit

/// The differential oracle: in fresh namespaces, `nft list ruleset` after our netlink apply must be
/// byte-identical to `nft list ruleset` after `nft -f` of `rampart compile --nft` of the same store.
@Suite(.serialized) struct DifferentialTests {
    static let addresses = """
        { "dns": ["192.0.2.53", "2001:db8::53"], "wins": ["198.51.100.7"], "dhcp": [], "gateway": ["192.0.2.254", "2001:db8::1"],
          "names": { "update.example.com": ["203.0.113.10", "203.0.113.11", "2001:db8:1::10"] } }
        """

    static let cases: [(String, @Sendable () throws -> String, [String])] = [
        ("web-server", { try String(contentsOfFile: Fixtures.webServerExample, encoding: .utf8) }, []),
        ("mixed-families", { Fixtures.mixedFamilies }, []),
        ("grouped-shapes", { Fixtures.groupedShapes }, []),
        ("extensions", { Fixtures.extensions + "ipsec dynamic set config ipsecdiagnostics 7\n" }, []),
        ("grouped-logged", { Fixtures.groupedShapes + "ipsec dynamic set config ipsecdiagnostics 7\n" }, []),
        ("negotiate-web", { try Fixtures.webServerNegotiating(peer: "198.51.100.20") }, []),
        ("negotiate-all", { Fixtures.requireSecurity() }, []),
        ("negotiate-subnets", { Fixtures.negotiateSubnets }, []),
        ("conntype", { Fixtures.connectionTypes }, []),
        (
            "blocklist-logged",
            { Fixtures.blocklist(entries: 1_850) + "ipsec dynamic set config ipsecdiagnostics 7\n" }, []
        ),
        (
            "boot-block",
            {
                try String(contentsOfFile: Fixtures.webServerExample, encoding: .utf8)
                    + "\nipsec dynamic set config bootexemptions tcp:0:22:inbound,udp:0:123:outbound\n"
            }, ["--boot"]
        ),
        (
            "boot-stateful",
            {
                try String(contentsOfFile: Fixtures.webServerExample, encoding: .utf8)
                    + "\nipsec dynamic set config bootmode stateful\nipsec dynamic set config bootexemptions tcp:0:22:inbound\n"
            }, ["--boot"]
        ),
        ("boot-permit", { "ipsec dynamic set config bootmode permit\n" }, ["--boot"]),
        ("synthetic-10000", { Fixtures.synthetic(filters: 10_000) }, []),
        ("blocklist-1850", { Fixtures.blocklist(entries: 1_850) }, [])
    ]

    @Test(arguments: cases.map(\.0))
    func netlinkApplyListsExactlyLikeNftF(name: String) throws {
        let (_, script, flags) = Self.cases.first { $0.0 == name }!
        let cli = try RampartCLI()
        defer { cli.cleanup() }
        try cli.exec(try script())
        let addressFile = try cli.addresses(Self.addresses)
        let ours = try Namespace("ours"), theirs = try Namespace("nft")
        defer {
            ours.delete()
            theirs.delete()
        }

        let applied = try cli.run(["apply", "--addresses", addressFile] + flags, in: ours)
        #expect(applied.out.hasPrefix("applied "))
        let text = try cli.compile(["--addresses", addressFile] + flags)
        try theirs.run(["nft", "-f", "-"], input: text)

        let a = try ours.nftList(), b = try theirs.nftList()
        #expect(a.contains("table inet rampart {"))
        #expect(a.split(separator: "\n").count > 5)
        #expect(a == b, "\(name): nft list ruleset differs after netlink apply")
    }

    /// A second apply replaces the table whole; another table in the same namespace survives
    /// every apply and `rampart flush`.
    @Test func foreignTablesAreNeverTouched() throws {
        let cli = try RampartCLI()
        defer { cli.cleanup() }
        try cli.exec(try String(contentsOfFile: Fixtures.webServerExample, encoding: .utf8))
        let ns = try Namespace("foreign")
        defer { ns.delete() }
        let other =
            "table inet other {\n\tchain c {\n\t\ttype filter hook input priority 10; policy accept;\n\t\ttcp dport 9999 counter accept\n\t}\n}\n"
        try ns.run(["nft", "-f", "-"], input: other)
        let before = try ns.run(["nft", "list", "table", "inet", "other"]).out
        try cli.run(["apply"], in: ns)
        try cli.run(["apply", "--boot"], in: ns)
        try cli.run(["apply"], in: ns)
        #expect(
            try ns.run(["nft", "list", "tables"]).out.split(separator: "\n").sorted() == [
                "table inet other", "table inet rampart"
            ])
        #expect(try cli.run(["flush"], in: ns, store: false).out == "removed table inet rampart\n")
        #expect(try cli.run(["flush"], in: ns, store: false).out == "table inet rampart was not present\n")
        #expect(try ns.run(["nft", "list", "table", "inet", "other"]).out == before)
        #expect(try ns.run(["nft", "list", "tables"]).out == "table inet other\n")
    }

    /// The table outlives the process that programmed it (no owner flag).
    @Test func tableOutlivesTheApplyingProcess() throws {
        let cli = try RampartCLI()
        defer { cli.cleanup() }
        try cli.exec("ipsec dynamic set config bootmode block\n")
        let ns = try Namespace("persist")
        defer { ns.delete() }
        try cli.run(["apply", "--boot"], in: ns)
        #expect(try ns.nftList().contains("policy drop;"))
        #expect(try ns.run(["nft", "list", "table", "inet", "rampart"]).out.contains("flags owner") == false)
    }
}
