import Testing
@testable import RampartCompiler
@testable import RampartPolicy

/// Port lists are sets, not one rule per item (issue 29, item 10), and a policy that would still
/// compile to too much is refused before anything is sent.
@Suite struct PortListTests {
    @Test func twoListsOfThirtyTwoAreOneRulePerHalf() throws {
        let sources = (1...32).map { String(1000 + $0 * 3) }.joined(separator: ",")
        let destinations = (1...32).map { String(2000 + $0 * 5) }.joined(separator: ",")
        let s = try storeFrom(
            """
            pushd ipsec static
            add filteraction name=P action=permit
            add filter filterlist=L srcaddr=198.51.100.0 srcmask=24 dstaddr=me protocol=tcp srcport=\(sources) dstport=\(destinations)
            add policy name=X assign=yes
            add rule name=r policy=X filterlist=L filteraction=P
            """)
        let ruleset = RulesetCompiler().compile(s)
        let filterRules = ruleset.chains.flatMap(\.rules).filter { $0.id.hasPrefix("F") }
        #expect(filterRules.count == 2, "one rule in input, its mirror in output (was 2 × 32 × 32 = 2,048)")
        #expect(ruleset.portSets.map(\.name) == ["ports_F3_d", "ports_F3_s", "ports_F3m_d", "ports_F3m_s"])
        #expect(ruleset.portSets.allSatisfy { $0.ranges.count == 32 })
        // Both evaluators agree on every port of the lists and on their neighbours.
        let host = Host(localAddresses: [IPAddress("192.0.2.1")!])
        let reference = ReferenceEvaluator(store: s, addresses: DynamicAddresses(), host: host)
        let compiled = RulesetEvaluator(ruleset: ruleset, host: host)
        for sport in [1003, 1004, 1096, 1097] {
            for dport in [2005, 2006, 2160, 2161] {
                let p = Packet(
                    source: IPAddress("198.51.100.9")!, destination: IPAddress("192.0.2.1")!, proto: 6,
                    sourcePort: UInt16(sport), destinationPort: UInt16(dport))
                #expect(reference.verdict(p, .input) == compiled.verdict(p, .input), "\(sport) → \(dport)")
                #expect(
                    (compiled.verdict(p, .input).decidedBy == "F3") == (sport % 3 == 1 && dport % 5 == 0),
                    "\(sport) → \(dport)")
            }
        }
        #expect(
            NftRenderer.table(ruleset).contains(
                "tcp sport @ports_F3_s tcp dport @ports_F3_d counter accept comment \"F3\""))
    }
}
