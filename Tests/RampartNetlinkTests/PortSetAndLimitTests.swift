import Testing
import RampartCompiler
import RampartPolicy
@testable import RampartNetlink
import RampartNetlinkFake

/// Port-list sets as nft sends them, and the limit on what is applied at all (issue 29, item 10).
@Suite struct PortSetAndLimitTests {
    @Test func adjacentAndOverlappingItemsMerge() {
        #expect(
            PortSet(name: "p", ranges: [443...443, 80...80, 81...90, 85...100, 65535...65535]).ranges == [
                80...100, 443...443, 65535...65535
            ])
        // Interval elements as nft sends them: an end at 0 first, no end after 65535.
        let keys = Linearizer.intervalElements([80...100, 65535...65535]).map { ($0.key, $0.end) }
        #expect(keys.map(\.0) == [[0, 0], [0, 80], [0, 101], [255, 255]])
        #expect(keys.map(\.1) == [true, false, true, false])
    }

    @Test func rulesetsOverTheLimitAreRefusedBeforeAnythingIsSent() throws {
        var chain = Chain(name: "input", hook: .input, policy: .accept)
        chain.rules = Array(repeating: RuleSpec([.l4proto(6)], [.accept], id: "F1"), count: RulesetLimits.maxRules + 1)
        let ruleset = Ruleset(chains: [chain])
        let problem = try #require(RulesetLimits.problem(ruleset))
        #expect(problem.contains("\(RulesetLimits.maxRules + 1) rules") && problem.contains("address groups"))
        let transport = RecordingTransport()
        #expect(throws: NetlinkError.self) { try NftablesClient(transport: transport).apply(ruleset) }
        #expect(transport.transactions.isEmpty, "nothing was sent")
        chain.rules.removeLast()
        #expect(RulesetLimits.problem(Ruleset(chains: [chain])) == nil)
    }
}
