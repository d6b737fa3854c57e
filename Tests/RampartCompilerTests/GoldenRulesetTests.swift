import Foundation
import Testing
import RampartTestKit
@testable import RampartCompiler
@testable import RampartPolicy

/// Golden rulesets: the rendered nft text is compared with `Golden/NAME.nft` (run with
/// RAMPART_UPDATE_GOLDEN=1 to rewrite them after an intended change), and every golden is
/// checked by the kernel itself with `nft -c -f` in a fresh network namespace.
@Suite(.serialized) struct GoldenRulesetTests {
    static func snapshot() -> DynamicAddresses {
        var a = DynamicAddresses()
        a.dns = [IPAddress("192.0.2.53")!, IPAddress("2001:db8::53")!]
        a.gateway = [IPAddress("192.0.2.254")!]
        a.names["update.example.com"] = [IPAddress("203.0.113.10")!, IPAddress("2001:db8:1::10")!]
        return a
    }

    static func cases() throws -> [(String, String)] {
        let web = try exampleStore("web-server.netsh")
        let compiler = RulesetCompiler()
        var bootBlock = web.config
        bootBlock.bootExemptions = try Values.bootExemptions("tcp:0:22:inbound udp:0:123:outbound").get()
        var bootStateful = bootBlock
        bootStateful.bootMode = .stateful
        var bootPermit = bootBlock
        bootPermit.bootMode = .permit
        let mixed = try storeFrom(Fixtures.mixedFamilies)
        return [
            ("web-server", NftRenderer.script(compiler.compile(web, addresses: snapshot()))),
            ("web-server-unresolved", NftRenderer.script(compiler.compile(web))),
            ("mixed-families", NftRenderer.script(compiler.compile(mixed, addresses: snapshot()))),
            (
                "extensions",
                NftRenderer.script(
                    compiler.compile(
                        try storeFrom(Fixtures.extensions + "ipsec dynamic set config ipsecdiagnostics 7\n")))
            ),
            (
                "negotiate-web",
                NftRenderer.script(
                    compiler.compile(
                        try storeFrom(Fixtures.webServerNegotiating(peer: "198.51.100.20")), addresses: snapshot()))
            ),
            ("negotiate-all", NftRenderer.script(compiler.compile(try storeFrom(Fixtures.requireSecurity())))),
            ("negotiate-subnets", NftRenderer.script(compiler.compile(try storeFrom(Fixtures.negotiateSubnets)))),
            ("boot-block", NftRenderer.script(compiler.compileBoot(bootBlock))),
            ("boot-stateful", NftRenderer.script(compiler.compileBoot(bootStateful))),
            ("boot-permit", NftRenderer.script(compiler.compileBoot(bootPermit)))
        ]
    }

    @Test func renderedRulesetsMatchTheirGoldenFiles() throws {
        let update = ProcessInfo.processInfo.environment["RAMPART_UPDATE_GOLDEN"] == "1"
        for (name, text) in try Self.cases() {
            let url = goldenDirectory.appendingPathComponent("\(name).nft")
            if update {
                try text.write(to: url, atomically: true, encoding: .utf8)
                continue
            }
            let golden = try String(contentsOf: url, encoding: .utf8)
            #expect(text == golden, "\(name).nft differs from the compiler's output")
        }
    }

    @Test func everyGoldenRulesetPassesTheKernelCheck() throws {
        let goldens = try FileManager.default.contentsOfDirectory(atPath: goldenDirectory.path).filter {
            $0.hasSuffix(".nft")
        }.sorted()
        #expect(goldens.count >= 6)
        for name in goldens {
            let text = try String(contentsOf: goldenDirectory.appendingPathComponent(name), encoding: .utf8)
            let check = try nftCheck(text)
            #expect(check.status == 0, "nft -c rejected \(name): \(check.output)")
        }
    }

    @Test func theKernelCheckCanFail() throws {
        let check = try nftCheck(
            "table inet rampart {\n\tchain input {\n\t\ttype filter hook input priority filter; policy accept;\n\t\tip saddr @missing accept\n\t}\n}\n"
        )
        #expect(check.status != 0)
    }

    /// Large synthetic policies (a 10,000-filter policy and one shaped like a real 1,850-filter
    /// block list) compile into rulesets the kernel accepts; the block list's runs are grouped.
    @Test func largePoliciesPassTheKernelCheck() throws {
        for (name, script) in [
            ("synthetic-10000", Fixtures.synthetic(filters: 10_000)),
            ("blocklist-1850", Fixtures.blocklist(entries: 1_850))
        ] {
            let s = try storeFrom(script, file: name)
            let ruleset = RulesetCompiler().compile(s, addresses: Self.snapshot())
            #expect(ruleset.ruleCount < 50, "the runs are sets: \(ruleset.ruleCount) rules")
            let elements = ruleset.filterSets.reduce(0) { $0 + $1.elements.count }
            #expect(elements > (name.hasPrefix("blocklist") ? 3_000 : 9_000), "the filters as elements: \(elements)")
            let check = try nftCheck(NftRenderer.script(ruleset))
            #expect(check.status == 0, "nft -c rejected \(name): \(check.output.prefix(500))")
        }
    }
}
