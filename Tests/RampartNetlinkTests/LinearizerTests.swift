import Foundation
import Testing
@testable import RampartCompiler
@testable import RampartNetlink
@testable import RampartPolicy
import RampartNamespaceKit
import RampartNetlinkFake
import RampartTestKit

/// The linearizer must emit, instruction for instruction, what nft emits for the same rule text.
/// nft itself is the oracle (`nft --debug=netlink -c -f` prints its bytecode without committing);
/// its answers are checked in as `Golden/*.payload`, so the comparison runs without root too.
@Suite struct LinearizerTests {
    func storeFrom(_ script: String) throws -> Store {
        var i = Interpreter(store: Store())
        try ScriptRunner.run(ScriptRunner.lines(of: script, file: "t"), in: &i)
        return i.store
    }

    static func snapshot() -> DynamicAddresses {
        var a = DynamicAddresses()
        a.dns = [IPAddress("192.0.2.53")!, IPAddress("2001:db8::53")!]
        a.gateway = [IPAddress("192.0.2.254")!]
        a.names["update.example.com"] = [IPAddress("203.0.113.10")!]
        return a
    }

    /// nft's bytecode for a ruleset, rule by rule, in chain order.
    func nftBytecode(_ ruleset: Ruleset) throws -> [[String]] {
        let text = NftRenderer.table(ruleset)
        let file = FileManager.default.temporaryDirectory.appendingPathComponent("rampart-lin-\(UUID().uuidString).nft")
        try text.write(to: file, atomically: true, encoding: .utf8)
        defer { try? FileManager.default.removeItem(at: file) }
        let out = try sh(["unshare", "--net", "nft", "--debug=netlink", "-c", "-f", file.path])
        var rules: [[String]] = []
        var current: [String]?
        for line in (out.out + out.err).split(separator: "\n", omittingEmptySubsequences: false) {
            if line.hasPrefix("inet rampart ") {
                if let c = current { rules.append(c) }
                current = []
            } else if line.hasPrefix("  [") {
                current?.append(String(line.dropFirst(2)))
            }
        }
        if let c = current { rules.append(c) }
        return rules
    }

    func ours(_ ruleset: Ruleset) throws -> [[String]] {
        let l = Linearizer()
        return try ruleset.chains.flatMap { try $0.rules.map { try l.linearize($0).map(\.debugText) } }
    }

    /// The rulesets the goldens cover: both examples and every address form, protocol, port and
    /// action, and the three boot modes with exemptions.
    func cases() throws -> [(String, Ruleset)] {
        let web = try storeFrom(String(contentsOfFile: Fixtures.webServerExample, encoding: .utf8))
        let mixed = try storeFrom(Fixtures.mixedFamilies)
        let extra = try storeFrom(
            """
            pushd ipsec static
            add filteraction name=P action=permit
            add filter filterlist=Y srcaddr=198.51.128.0 srcmask=17 dstaddr=me protocol=tcp srcport=1024 dstport=80
            add filter filterlist=Y srcaddr=2001:db8::/33 dstaddr=2001:db8:1::/127 mirrored=no
            add filter filterlist=Y srcaddr=192.0.2.1 dstaddr=192.0.2.2 protocol=sctp dstport=9
            add filter filterlist=Y srcaddr=2001:db8::1 dstaddr=me protocol=icmp
            add filter filterlist=Y srcaddr=me dstaddr=192.0.2.0/25 protocol=udp srcport=53 mirrored=no
            add policy name=E assign=yes
            add rule name=y policy=E filterlist=Y filteraction=P
            ipsec dynamic set config ipsecdiagnostics 7
            """)
        var boot = web.config
        boot.bootExemptions = try Values.bootExemptions("tcp:0:22:inbound udp:0:123:outbound icmp:0:0:inbound").get()
        let compiler = RulesetCompiler()
        var cases: [(String, Ruleset)] = [
            ("web", compiler.compile(web, addresses: Self.snapshot())),
            ("mixed", compiler.compile(mixed, addresses: Self.snapshot())),
            ("extra", compiler.compile(extra)),
            ("grouped", compiler.compile(try storeFrom(Fixtures.groupedShapes))),
            (
                "extensions",
                compiler.compile(try storeFrom(Fixtures.extensions + "ipsec dynamic set config ipsecdiagnostics 7\n"))
            ),
            (
                "grouped-logged",
                compiler.compile(
                    try storeFrom(Fixtures.groupedShapes + "ipsec dynamic set config ipsecdiagnostics 7\n"))
            ),
            (
                "negotiate-web",
                compiler.compile(
                    try storeFrom(Fixtures.webServerNegotiating(peer: "198.51.100.20")), addresses: Self.snapshot())
            ),
            ("negotiate-all", compiler.compile(try storeFrom(Fixtures.requireSecurity()))),
            ("negotiate-subnets", compiler.compile(try storeFrom(Fixtures.negotiateSubnets))),
            ("conntype", compiler.compile(try storeFrom(Fixtures.connectionTypes)))
        ]
        for mode in DynamicConfig.BootMode.allCases {
            boot.bootMode = mode
            cases.append(("boot-\(mode)", compiler.compileBoot(boot)))
        }
        return cases
    }

    static let goldenDirectory = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent(
        "Golden")

    /// A ruleset's bytecode as a `.payload` file: a comment naming each rule, then its instructions.
    static func payload(_ ruleset: Ruleset, _ rules: [[String]]) -> String {
        let ids = ruleset.chains.flatMap { chain in chain.rules.map { "\(chain.name) \($0.id)" } }
        return zip(ids, rules).map { id, lines in "# \(id)\n" + lines.map { $0 + "\n" }.joined() }.joined(
            separator: "\n")
    }

    static func golden(_ name: String) throws -> String {
        try String(contentsOf: goldenDirectory.appendingPathComponent("\(name).payload"), encoding: .utf8)
    }

    /// No root needed: the linearizer against the checked-in bytecode nft produced.
    @Test func matchesTheCheckedInGoldens() throws {
        let all = try cases()
        #expect(all.map(\.1.ruleCount).reduce(0, +) > 100)
        for (name, ruleset) in all {
            #expect(Self.payload(ruleset, try ours(ruleset)) == (try Self.golden(name)), "\(name).payload")
        }
    }

    /// No root needed: what goes over the wire, parsed back by libnftnl from the batch bytes
    /// (the recording transport), is the golden bytecode too — objects, attributes and all.
    @Test func theBatchBytesCarryTheGoldenBytecode() throws {
        for (name, ruleset) in try cases() {
            let transport = RecordingTransport()
            let client = NftablesClient(transport: transport)
            try client.apply(ruleset)
            let sent = try #require(transport.transactions.last)
            let rules = sent.messages.filter { $0.hasPrefix("add rule") }.map { message in
                message.split(separator: "\n").dropFirst().map { String($0.drop { $0 == " " }) }.filter {
                    $0.hasPrefix("[")
                }
            }
            let sentText = Self.payload(ruleset, rules), golden = try Self.golden(name)
            if sentText != golden,
                let line = zip(sentText.split(separator: "\n"), golden.split(separator: "\n")).first(where: { $0 != $1 }
                )
            {
                Issue.record("\(name): bytes sent differ: \(line.0) vs golden \(line.1)")
            }
            #expect(sentText == golden, "\(name): bytes sent")
        }
    }

    /// The oracle, where nft can run (root, for unshare): nft's own bytecode for the same rule
    /// text is the golden. RAMPART_UPDATE_GOLDEN=1 rewrites the goldens from nft.
    @Test(.enabled(if: geteuid() == 0, "needs root for unshare --net"))
    func goldensAreWhatNftEmits() throws {
        let update = ProcessInfo.processInfo.environment["RAMPART_UPDATE_GOLDEN"] == "1"
        for (name, ruleset) in try cases() {
            let theirs = try nftBytecode(ruleset)
            #expect(
                theirs.count == ruleset.ruleCount,
                "\(name): nft printed bytecode for \(theirs.count) of \(ruleset.ruleCount) rules")
            let text = Self.payload(ruleset, theirs)
            if update {
                try text.write(
                    to: Self.goldenDirectory.appendingPathComponent("\(name).payload"), atomically: true,
                    encoding: .utf8)
            }
            #expect(text == (try Self.golden(name)), "\(name).payload differs from nft's bytecode")
        }
    }

    @Test func intervalElementsAsNftSendsThem() {
        let r = [
            AddressRange(prefix: IPAddress("192.0.2.53")!, length: 32),
            AddressRange(prefix: IPAddress("198.51.100.0")!, length: 24)
        ]
        let e = Linearizer.intervalElements(r, family: .ipv4)
        #expect(
            e.map { Expr.words($0.key) + ($0.end ? " end" : "") } == [
                "0x00000000 end", "0x350200c0", "0x360200c0 end", "0x006433c6", "0x006533c6 end"
            ])
        let top = Linearizer.intervalElements(
            [AddressRange(first: IPAddress("255.255.255.0")!, last: IPAddress("255.255.255.255")!)], family: .ipv4)
        #expect(top.count == 2 && top.last?.end == false)
        let zero = Linearizer.intervalElements([AddressRange(prefix: IPAddress("0.0.0.0")!, length: 8)], family: .ipv4)
        #expect(zero.map(\.end) == [false, true])
    }

    @Test func ruleCommentsRoundTrip() {
        #expect(RuleComment.encode("F12") == [0, 4, 70, 49, 50, 0])
        #expect(RuleComment.decode(RuleComment.encode("F12m")) == "F12m")
        #expect(RuleComment.decode([1, 2, 9, 9, 0, 3, 65, 66, 0]) == "AB")
        #expect(RuleComment.decode([0, 9, 65]) == nil)
    }

    @Test func unknownInterfaceIsAnError() {
        let l = Linearizer(interfaceIndex: { _ in nil })
        #expect(throws: Linearizer.Failure.self) {
            try l.linearize(RuleSpec([.inputInterface("nope0")], [.accept], id: "x"))
        }
    }
}
