import Foundation
import Testing
import RampartCompiler
import RampartNetlink
import RampartPolicy
import RampartNamespaceKit
import RampartTestKit

@Suite(.serialized) struct KernelBehaviourTests {
    func store(_ script: String) throws -> Store {
        var i = Interpreter(store: Store())
        try ScriptRunner.run(ScriptRunner.lines(of: script, file: "t"), in: &i)
        return i.store
    }

    /// A batch the kernel rejects changes nothing, and the error names the rule and the instruction.
    @Test func aRejectedBatchLeavesThePreviousRulesetAndNamesTheFilter() throws {
        let ns = try Namespace("atomic")
        defer { ns.delete() }
        let client = try ns.client()
        let good = RulesetCompiler().compile(
            try store(String(contentsOfFile: Fixtures.webServerExample, encoding: .utf8)))
        try client.apply(good)
        let before = try ns.nftList()

        var bad = good
        // A rule that looks up a set the ruleset does not define: the kernel refuses it.
        bad.chains[0].rules.insert(
            RuleSpec(
                [.address(.source, .set("nosuchset", .ipv4))], [.counter, .drop], id: "F999", origin: "local/P/R/L/#1"),
            at: 5)
        do {
            try client.apply(bad)
            Issue.record("the kernel accepted a rule on a missing set")
        } catch {
            #expect(error.errno == ENOENT)
            #expect(
                error.message.contains(
                    "rule F999 (chain input, local/P/R/L/#1), expression 4 [ lookup reg 1 set nosuchset ]"),
                "\(error.message)")
            #expect(error.message.contains("nothing was changed"))
        }
        #expect(try ns.nftList() == before)
    }

    /// nf_tables' generation id moves on with every commit, ours or another process's, and only
    /// then: what rampartd compares after lost notifications (issue 29, item 6).
    @Test func theGenerationIdMovesWithEveryCommitAndOnlyThen() throws {
        let ns = try Namespace("gen")
        defer { ns.delete() }
        let client = try ns.client()
        try client.apply(
            RulesetCompiler().compile(try store(String(contentsOfFile: Fixtures.webServerExample, encoding: .utf8))))
        let ours = try client.generation()
        _ = try ns.nftList()
        #expect(try client.generation() == ours, "reading changes nothing")
        try ns.run(["nft", "add", "table", "ip", "someone_else"])
        #expect(try client.generation() != ours, "another process's transaction, on another table")
    }

    /// 100,000 elements cross the 64 KiB attribute limit many times over; every one must arrive.
    @Test func setsWithOneHundredThousandElementsArriveWhole() throws {
        let ns = try Namespace("bigset")
        defer { ns.delete() }
        let client = try ns.client()
        var addresses = DynamicAddresses()
        // Every other address, so no two merge into one interval: 100,000 separate elements.
        addresses.dns = (0..<100_000).map { IPAddress.v6(UInt128(0x2001_0db8) << 96 | UInt128($0) * 2) }
        let s = try store(
            "ipsec static add filter filterlist=L srcaddr=me dstaddr=DNS protocol=udp dstport=53\nipsec static add filteraction name=P action=permit\nipsec static add policy name=X assign=yes\nipsec static add rule name=R policy=X filterlist=L filteraction=P\n"
        )
        let ruleset = RulesetCompiler().compile(s, addresses: addresses)
        let report = try client.apply(ruleset)
        #expect(report.setElements == 100_000)
        let json = try ns.run(["nft", "-j", "list", "set", "inet", "rampart", "dns_v6"]).out
        let elements = try Self.elements(json)
        #expect(elements.count == 100_000)
        #expect(elements.first == "2001:db8::")
        #expect(elements.last == "2001:db8::3:d3e")
        // And the replace path splits the same way.
        addresses.dns = (0..<100_000).map {
            IPAddress.v6(UInt128(0x2001_0db8) << 96 | UInt128(1) << 64 | UInt128($0) * 2)
        }
        try client.replaceElements(of: RulesetCompiler().compile(s, addresses: addresses).sets)
        let replaced = try Self.elements(ns.run(["nft", "-j", "list", "set", "inet", "rampart", "dns_v6"]).out)
        #expect(replaced.count == 100_000)
        #expect(replaced.last == "2001:db8:0:1::3:d3e")
    }

    static func elements(_ json: String) throws -> [String] {
        let object = try JSONSerialization.jsonObject(with: Data(json.utf8)) as? [String: Any]
        let items = object?["nftables"] as? [[String: Any]] ?? []
        let set = items.compactMap { $0["set"] as? [String: Any] }.first
        return (set?["elem"] as? [Any] ?? []).compactMap { $0 as? String }
    }

    /// Replacing set elements touches neither rules nor their counters.
    @Test func setOnlyUpdatesKeepRulesAndCounters() throws {
        let cli = try RampartCLI()
        defer { cli.cleanup() }
        try cli.exec(String(contentsOfFile: Fixtures.webServerExample, encoding: .utf8))
        let ns = try Namespace("setonly"), client = try Namespace("peer")
        defer {
            ns.delete()
            client.delete()
        }
        try link(ns, ["192.0.2.1/24"], client, ["192.0.2.2/24"])
        let a = try cli.addresses(#"{"dns": ["192.0.2.53"], "wins": [], "dhcp": [], "gateway": [], "names": {}}"#)
        let b = try cli.addresses(
            #"{"dns": ["192.0.2.54", "2001:db8::54"], "wins": [], "dhcp": [], "gateway": [], "names": {}}"#)
        try cli.run(["apply", "--addresses", a], in: ns)
        try ns.run([
            "python3", "-c",
            "import socket\ns = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)\nfor _ in range(2): s.sendto(b'q', ('192.0.2.53', 53))"
        ])
        // Three connection attempts to a blocked port: their SYNs are dropped and counted by F16.
        for _ in 0..<3 {
            _ = try client.run(
                ["python3", RampartCLI.probe, "tcp", "192.0.2.1", "9", "--timeout", "0.3"], allowFailure: true)
        }
        let before = try cli.run(["counters", "--json"], in: ns).out
        let blockAll = try (JSONSerialization.jsonObject(with: Data(before.utf8)) as? [[String: Any]] ?? [])
            .first { $0["id"] as? String == "F16" }
        let input = (blockAll?["parts"] as? [[String: Any]] ?? []).filter { $0["chain"] as? String == "input" }
        #expect(input.reduce(0) { $0 + ($1["packets"] as? Int ?? 0) } == 3, "\(before)")
        // Two DNS queries out, IPv4: counted by F13's IPv4 part (its rule reads `ip daddr @dns_v4`).
        let dns = try (JSONSerialization.jsonObject(with: Data(before.utf8)) as? [[String: Any]] ?? [])
            .first { $0["id"] as? String == "F13" }
        #expect(
            dns?["ipv4"] as? Int == 2 && dns?["ipv6"] as? Int == 0 && dns?["packets"] as? Int == 2
                && (dns?["rank"] as? Int ?? 0) > 0, "\(String(describing: dns))")
        #expect(blockAll?["origin"] as? String == "local/Web Server/Block all/All Traffic/#1")
        let update = try cli.run(["apply", "--sets-only", "--addresses", b], in: ns)
        #expect(update.out.hasPrefix("replaced the elements of 2 sets (2 elements)"))
        let after = try cli.run(["counters", "--json"], in: ns).out
        #expect(after == before, "rules or counters changed")
        let list = try ns.nftList()
        #expect(list.contains("elements = { 192.0.2.54 }"))
        #expect(list.contains("elements = { 2001:db8::54 }"))
        #expect(!list.contains("192.0.2.53"))
    }
}
