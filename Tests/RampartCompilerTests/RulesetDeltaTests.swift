import Foundation
import RampartTestKit
import Testing
@testable import RampartCompiler
@testable import RampartPolicy

/// The delta between two rulesets, without a kernel: applied to a model of the table in force it
/// gives the new ruleset; a typical edit touches one element or one rule; set names stay.
struct RulesetDeltaTests {
    /// The table in force after `delta`, as nf_tables would make it: rules deleted by index, new
    /// ones placed next to the rules that stay, sets dropped, created, refilled, elements edited.
    static func applied(_ delta: RulesetDelta, to old: Ruleset) -> Ruleset {
        var out = old
        for edit in delta.chains {
            let c = out.chains.firstIndex { $0.name == edit.chain }!
            let deleted = Set(edit.deleted)
            var before: [Int: [RuleSpec]] = [:], after: [Int: [RuleSpec]] = [:], end: [RuleSpec] = []
            for insertion in edit.inserted {
                switch insertion.place {
                case .after(let i):
                    #expect(!deleted.contains(i), "a rule goes after one that is deleted")
                    after[i, default: []] += insertion.rules
                case .before(let i):
                    #expect(!deleted.contains(i), "a rule goes before one that is deleted")
                    before[i, default: []] += insertion.rules
                case .end:
                    #expect(deleted.count == old.chains[c].rules.count, "appended while rules stay")
                    end += insertion.rules
                }
            }
            var rules: [RuleSpec] = []
            for (i, rule) in old.chains[c].rules.enumerated() {
                rules += before[i] ?? []
                if !deleted.contains(i) { rules.append(rule) }
                rules += after[i] ?? []
            }
            out.chains[c].rules = rules + end
        }
        let removed = Set(delta.removedSets)
        out.sets.removeAll { removed.contains($0.name) }
        out.filterSets.removeAll { removed.contains($0.name) }
        out.portSets.removeAll { removed.contains($0.name) }
        out.sets += delta.addedSets
        out.filterSets += delta.addedFilterSets
        out.portSets += delta.addedPortSets
        for set in delta.refilledSets { out.sets[out.sets.firstIndex { $0.name == set.name }!] = set }
        for set in delta.refilledPortSets { out.portSets[out.portSets.firstIndex { $0.name == set.name }!] = set }
        for edit in delta.elements {
            let i = out.filterSets.firstIndex { $0.name == edit.set }!
            let gone = Set(edit.removed)
            for e in edit.added { #expect(!out.filterSets[i].elements.contains(e), "\(e) added twice") }
            out.filterSets[i] = FilterSet(
                name: edit.set, key: edit.key,
                elements: out.filterSets[i].elements.filter { !gone.contains($0) } + edit.added)
        }
        return out
    }

    /// What the kernel holds, in a comparable form: rules as sent, sets by name.
    static func kernelView(_ r: Ruleset) -> [String] {
        r.chains.map { c in
            "\(c.name) \(c.policy): "
                + c.rules.map { "\($0.id)|\($0.matches)|\($0.statements)" }.joined(separator: "; ")
        }
            + r.sets.sorted { $0.name < $1.name }.map { "set \($0.name) \($0.elements)" }
            + r.filterSets.sorted { $0.name < $1.name }.map { "fset \($0.name) \($0.key) \($0.elements)" }
            + r.portSets.sorted { $0.name < $1.name }.map { "pset \($0.name) \($0.ranges)" }
    }

    static func randomFilter(_ rng: inout SplitMix, _ n: Int) -> String {
        let v6 = rng.next() % 3 == 0
        let source: String =
            switch rng.next() % 4 {
            case 0: v6 ? "2001:db8:\(n % 5)::/48" : "198.51.\(n % 5).0 srcmask=24"
            case 1: "any"
            case 2: v6 ? "2001:db8:3::\(n % 200 + 1)" : "203.0.113.\(n % 200 + 1)"
            default: "192.0.2.\(n % 50 + 10)-192.0.2.\(n % 50 + 20)"
            }
        let ports = rng.next() % 4 == 0 ? "\(n % 9 + 1),443" : "\(n % 30 + 20)"
        return "filterlist=\(rng.next() % 3 == 0 ? "B" : "A") srcaddr=\(source) dstaddr=me "
            + "protocol=\(rng.next() % 2 == 0 ? "tcp" : "udp") dstport=\(ports)"
            + (rng.next() % 2 == 0 ? " mirrored=no" : "")
    }

    /// `script` run on `store`, as rampartd runs a request on the store in force (filters keep their ids).
    static func run(_ script: String, on store: inout Store) throws {
        var interpreter = Interpreter(store: store)
        try ScriptRunner.run(ScriptRunner.lines(of: script, file: "edit.netsh"), in: &interpreter)
        store = interpreter.store
    }

    @Test(arguments: [UInt64(11), 12, 13, 14, 15, 16])
    func aDeltaAppliedToTheTableInForceGivesTheNewRuleset(seed: UInt64) throws {
        var rng = SplitMix(state: seed)
        var filters = (0..<30).map { Self.randomFilter(&rng, $0) }
        var policy = try storeFrom(
            "pushd ipsec static\nadd filteraction name=permit action=permit\nadd filteraction name=block action=block\n"
                + filters.map { "add filter \($0)\n" }.joined()
                + "add policy name=P assign=yes\nadd rule name=a policy=P filterlist=A filteraction=permit\n"
                + "add rule name=b policy=P filterlist=B filteraction=block\npopd\n")
        var logged = false
        var current = RulesetCompiler().compile(policy)
        var deltas = 0
        for step in 0..<60 {
            switch rng.next() % 7 {
            case 0, 1, 2:
                let filter = Self.randomFilter(&rng, step + 100)
                filters.append(filter)
                try Self.run("ipsec static add filter \(filter)\n", on: &policy)
            case 3, 4:
                guard !filters.isEmpty else { continue }
                let filter = filters.remove(at: Int(rng.next() % UInt64(filters.count)))
                try Self.run("ipsec static delete filter \(filter)\n", on: &policy)
            case 5:
                let rule = rng.next() % 2 == 0 ? "a" : "b"
                let action = rng.next() % 2 == 0 ? "permit" : "block"
                try Self.run("ipsec static set rule name=\(rule) policy=P filteraction=\(action)\n", on: &policy)
            default:
                logged.toggle()
                try Self.run("ipsec dynamic set config ipsecdiagnostics \(logged ? 7 : 0)\n", on: &policy)
            }
            let next = RulesetCompiler().compile(policy)
            if let delta = RulesetDelta.between(current, next) {
                deltas += 1
                #expect(
                    Self.kernelView(Self.applied(delta, to: current)) == Self.kernelView(next),
                    "seed \(seed) step \(step)")
            }
            current = next
        }
        #expect(deltas >= 50, "only \(deltas) of 60 edits were deltas")
    }

    /// The measure of locality: one filter added to or removed from 10,000 is one element
    /// (a grouped filter) or one rule (an ungroupable one), and no set changes its name.
    @Test func oneFilterAmongTenThousandIsOneElementOrOneRule() throws {
        let base = Fixtures.synthetic(filters: 10_000)
        let before = RulesetCompiler().compile(try storeFrom(base))
        let grouped = base.replacingOccurrences(
            of: "add policy name=Synthetic",
            with:
                "add filter filterlist=L0 srcaddr=198.51.77.77 dstaddr=me protocol=tcp dstport=1 mirrored=no\nadd policy name=Synthetic"
        )
        let after = RulesetCompiler().compile(try storeFrom(grouped))
        let added = try #require(RulesetDelta.between(before, after))
        #expect(added.operations == 1 && added.elementsAdded == 1 && added.rulesInserted == 0, "\(added)")
        #expect(Set(before.filterSets.map(\.name)) == Set(after.filterSets.map(\.name)))
        let removed = try #require(RulesetDelta.between(after, before))
        #expect(removed.operations == 1 && removed.elementsRemoved == 1, "\(removed)")

        let range = base.replacingOccurrences(
            of: "add policy name=Synthetic",
            with:
                "add filter filterlist=L0 srcaddr=192.0.2.10-192.0.2.20 dstaddr=me protocol=tcp dstport=9 mirrored=no\nadd policy name=Synthetic"
        )
        let ranged = try #require(RulesetDelta.between(before, RulesetCompiler().compile(try storeFrom(range))))
        #expect(ranged.rulesInserted == 1 && ranged.operations == 1, "\(ranged)")
    }

    /// A set is named after its rule's shape: a run of another shape added before it renames nothing.
    @Test func setNamesFollowTheShapeNotThePlace() throws {
        var policy = try store([
            ("srcaddr=203.0.113.1 dstaddr=me protocol=tcp dstport=80 mirrored=no", "permit"),
            ("srcaddr=203.0.113.2 dstaddr=me protocol=tcp dstport=80 mirrored=no", "permit")
        ])
        let a = RulesetCompiler().compile(policy)
        // A block run placed before it (a more specific filter sorts first).
        try Self.run(
            "pushd ipsec static\nadd filter filterlist=X srcaddr=198.51.100.1 dstaddr=me protocol=udp dstport=53 mirrored=no\n"
                + "add filter filterlist=X srcaddr=198.51.100.2 dstaddr=me protocol=udp dstport=53 mirrored=no\n"
                + "add rule name=x policy=P filterlist=X filteraction=block\npopd\n", on: &policy)
        let b = RulesetCompiler().compile(policy)
        #expect(a.filterSets.count == 1 && b.filterSets.count == 2)
        #expect(b.filterSets.contains { $0.name == a.filterSets[0].name })
        #expect(a.filterSets.allSatisfy { SetNaming.isFilterSet($0.name) })
        let delta = try #require(RulesetDelta.between(a, b))
        #expect(delta.addedFilterSets.count == 1 && delta.rulesInserted == 1 && delta.elements.isEmpty, "\(delta)")
    }

    /// Chains that differ in policy, or rules changed wholesale, are a replacement.
    @Test func whatADeltaCannotSayIsAReplacement() throws {
        let a = RulesetCompiler().compile(try store([("srcaddr=any dstaddr=me protocol=tcp dstport=22", "permit")]))
        var b = a
        b.chains[0].policy = .drop
        #expect(RulesetDelta.between(a, b) == nil)
        var c = a
        c.chains[0].rules = (0..<600).map {
            RuleSpec(
                [.l4proto(6), .port(.destination, proto: 6, port: UInt16($0 + 1))], [.counter, .accept], id: "X\($0)")
        }
        #expect(RulesetDelta.between(a, c) == nil, "600 new rules cost more than a replacement")
        #expect(RulesetDelta.between(a, a)?.isEmpty == true)
    }
}
