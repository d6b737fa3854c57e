import Foundation
import Testing
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
        let mixed = try storeFrom("""
            pushd ipsec static
            add filteraction name=Permit action=permit
            add filteraction name=Block action=block
            add filteraction name=Secure action=negotiate inpass=yes qmsec="ESP[3DES,SHA1]:3600s"
            add filter filterlist=Mixed srcaddr=2001:db8:1::/48 dstaddr=me protocol=tcp dstport=22
            add filter filterlist=Mixed srcaddr=192.0.2.10-192.0.2.20 dstaddr=me protocol=udp srcport=123 dstport=123
            add filter filterlist=Mixed srcaddr=me dstaddr=GATEWAY protocol=icmp mirrored=yes
            add filter filterlist=Mixed srcaddr=me dstaddr=update.example.com protocol=tcp dstport=443
            add filter filterlist=Mixed srcaddr=any dstaddr=me protocol=47 mirrored=no
            add filter filterlist=Ipsec srcaddr=198.51.100.0/24 dstaddr=me
            add filter filterlist=Ban srcaddr=203.0.113.66 dstaddr=me mirrored=no
            add policy name=Mixed assign=yes
            add rule name=m policy=Mixed filterlist=Mixed filteraction=Permit
            add rule name=s policy=Mixed filterlist=Ipsec filteraction=Secure
            add rule name=b policy=Mixed filterlist=Ban filteraction=Block
            popd
            ipsec dynamic set config ipsecexempt 0
            """)
        return [
            ("web-server", NftRenderer.script(compiler.compile(web, addresses: snapshot()))),
            ("web-server-unresolved", NftRenderer.script(compiler.compile(web))),
            ("mixed-families", NftRenderer.script(compiler.compile(mixed, addresses: snapshot()))),
            ("boot-block", NftRenderer.script(compiler.compileBoot(bootBlock))),
            ("boot-stateful", NftRenderer.script(compiler.compileBoot(bootStateful))),
            ("boot-permit", NftRenderer.script(compiler.compileBoot(bootPermit))),
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
        let goldens = try FileManager.default.contentsOfDirectory(atPath: goldenDirectory.path).filter { $0.hasSuffix(".nft") }.sorted()
        #expect(goldens.count >= 6)
        for name in goldens {
            let text = try String(contentsOf: goldenDirectory.appendingPathComponent(name), encoding: .utf8)
            let check = try nftCheck(text)
            #expect(check.status == 0, "nft -c rejected \(name): \(check.output)")
        }
    }

    @Test func theKernelCheckCanFail() throws {
        let check = try nftCheck("table inet rampart {\n\tchain input {\n\t\ttype filter hook input priority filter; policy accept;\n\t\tip saddr @missing accept\n\t}\n}\n")
        #expect(check.status != 0)
    }

    /// Large synthetic policies (a 10,000-filter policy and one shaped like a real 1,850-filter
    /// block list) compile into rulesets the kernel accepts.
    @Test func largePoliciesPassTheKernelCheck() throws {
        for (name, script) in [("synthetic-10000", Fixtures.synthetic(filters: 10_000)), ("blocklist-1850", Fixtures.blocklist(entries: 1_850))] {
            let s = try storeFrom(script, file: name)
            let ruleset = RulesetCompiler().compile(s, addresses: Self.snapshot())
            #expect(ruleset.ruleCount > 1_850)
            let check = try nftCheck(NftRenderer.script(ruleset))
            #expect(check.status == 0, "nft -c rejected \(name): \(check.output.prefix(500))")
        }
    }
}
