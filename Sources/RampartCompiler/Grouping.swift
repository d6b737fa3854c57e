import RampartPolicy

/// Runs of filters become one rule over a set. In a first-match chain, consecutive rules with the
/// same verdict and the same matches but one address form a union: the first of them that matches
/// decides, and none of the rules between them has another verdict, so one rule matching the union
/// decides every packet the same way. Its elements keep their filters' identifiers (the element
/// comments) and their own counters, so `counters` and `explain` still name the filter.
///
/// A run is only ever *consecutive* rules of the chain in its order, which is never changed here;
/// within it the varying address has one prefix length, so two elements overlap only when they are
/// equal, and an equal later one can never decide (the earlier one always matches first): it is
/// left out. Rules that log (drop logging names its filter in the log prefix), negotiate's rules
/// (their matches differ from one another) and ranges are never grouped.
enum Grouping {
    struct Varying: Equatable {
        var index: Int
        var side: PacketSide
        var family: IPAddress.Family
        var length: Int
        var address: IPAddress
    }

    /// Runs shorter than this stay separate rules.
    static let minimumRun = 2

    static func varying(_ rule: RuleSpec) -> Varying? {
        guard rule.statements == [.counter, .accept] || rule.statements == [.counter, .drop],
              rule.id.hasPrefix("F") || rule.id.hasPrefix("D") else { return nil }
        var found: Varying?
        for (i, m) in rule.matches.enumerated() {
            guard case .address(let side, let match) = m else { continue }
            guard case .prefix(let a, let length) = match, found == nil else { return nil }
            found = Varying(index: i, side: side, family: a.family, length: length, address: a)
        }
        return found
    }

    static func sameShape(_ a: RuleSpec, _ va: Varying, _ b: RuleSpec, _ vb: Varying) -> Bool {
        guard va.index == vb.index, va.side == vb.side, va.family == vb.family, va.length == vb.length,
              a.statements == b.statements, a.matches.count == b.matches.count else { return false }
        for i in a.matches.indices where i != va.index {
            if a.matches[i] != b.matches[i] { return false }
        }
        return true
    }

    /// The chain's filter rules with every run of at least `minimumRun` grouped; the new filter sets
    /// are appended to `sets`.
    static func group(_ rules: [RuleSpec], chain: String, sets: inout [NamedSet]) -> [RuleSpec] {
        var out: [RuleSpec] = []
        out.reserveCapacity(rules.count)
        var i = 0
        var count = 0
        while i < rules.count {
            guard let first = varying(rules[i]) else {
                out.append(rules[i])
                i += 1
                continue
            }
            var j = i + 1
            while j < rules.count, let v = varying(rules[j]), sameShape(rules[i], first, rules[j], v) { j += 1 }
            if j - i < minimumRun {
                out.append(contentsOf: rules[i..<j])
                i = j
                continue
            }
            count += 1
            let name = "\(chain)_f\(count)_\(SetNaming.suffix(first.family))"
            var seen = Set<AddressRange>()
            var elements: [(range: AddressRange, id: String)] = []
            for rule in rules[i..<j] {
                let v = varying(rule)!
                let range = AddressRange(prefix: v.address, length: v.length)
                // An equal element further down the run is shadowed by the first: it never decides.
                if seen.insert(range).inserted { elements.append((range, rule.id)) }
            }
            sets.append(NamedSet(filterSet: name, family: first.family, elements: elements))
            var grouped = rules[i]
            grouped.matches[first.index] = .address(first.side, .set(name, first.family))
            grouped.id = name
            grouped.origin = "\(elements.count) filters (set \(name))"
            out.append(grouped)
            i = j
        }
        return out
    }
}
