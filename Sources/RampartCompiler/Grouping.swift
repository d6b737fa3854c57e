import RampartPolicy

/// Runs of filters become one rule over a set. In a first-match chain, consecutive rules with the
/// same verdict and the same matches but one address form a union: the first of them that matches
/// decides, and none of the rules between them has another verdict, so one rule matching the union
/// decides every packet the same way. Its elements keep their filters' identifiers (the element
/// comments) and their own counters, so `counters` and `explain` still name the filter.
///
/// A run may gather later rules of its shape across rules in between only when the moved rule is
/// disjoint from each of them (no packet matches both: two such first-match rules commute); every
/// other order is kept. Its elements are painted in first-match order (`paint`): every address
/// belongs to the first element that holds it, so an element wholly covered by earlier ones is left
/// out (it can never decide) and a wider one keeps only the ranges around the narrower ones before
/// it. The rules of a filter that has more than one in the chain (negotiate's pair, a logged drop, a
/// filter for both address families) are never grouped, nor are address ranges.
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
        guard va.index == vb.index, va.side == vb.side, va.family == vb.family,
              a.statements == b.statements, a.matches.count == b.matches.count else { return false }
        for i in a.matches.indices where i != va.index {
            if a.matches[i] != b.matches[i] { return false }
        }
        return true
    }

    /// First match, as disjoint ranges: each address of the union belongs to the first element (in
    /// chain order) that holds it. A later element keeps only what no earlier one covers — nothing,
    /// when it is shadowed whole; the rest of a wider prefix around a narrower one, as ranges.
    /// Linear per stretch of one prefix length (a run's elements come in order of width).
    static func paint(_ ordered: [(range: AddressRange, id: String)]) -> [(range: AddressRange, id: String)] {
        var painted: [(range: AddressRange, id: String)] = []
        var start = ordered.startIndex
        while start < ordered.endIndex {
            // A stretch of one prefix length: its elements overlap only when equal; the first wins.
            let size = ordered[start].range.last.numeric &- ordered[start].range.first.numeric
            var end = start
            while end < ordered.endIndex, ordered[end].range.last.numeric &- ordered[end].range.first.numeric == size { end += 1 }
            var seen = Set<AddressRange>()
            let stretch = ordered[start..<end].filter { seen.insert($0.range).inserted }.sorted { $0.range < $1.range }
            // What each keeps after the earlier stretches (a merge walk over two sorted lists).
            var pieces: [(range: AddressRange, id: String)] = []
            var p = 0
            for element in stretch {
                var low = element.range.first.numeric
                let high = element.range.last.numeric
                let family = element.range.family
                while p < painted.count, painted[p].range.last.numeric < low { p += 1 }
                var q = p
                var exhausted = false
                while q < painted.count, painted[q].range.first.numeric <= high {
                    let covered = painted[q].range
                    if covered.first.numeric > low {
                        pieces.append((AddressRange(first: IPAddress(family: family, numeric: low), last: IPAddress(family: family, numeric: covered.first.numeric - 1)), element.id))
                    }
                    if covered.last.numeric >= high { exhausted = true; break }
                    low = covered.last.numeric + 1
                    q += 1
                }
                if !exhausted {
                    pieces.append((AddressRange(first: IPAddress(family: family, numeric: low), last: IPAddress(family: family, numeric: high)), element.id))
                }
            }
            // Merge, keeping the order by first address.
            var merged: [(range: AddressRange, id: String)] = []
            merged.reserveCapacity(painted.count + pieces.count)
            var a = 0, b = 0
            while a < painted.count || b < pieces.count {
                if b == pieces.count || (a < painted.count && painted[a].range.first.numeric < pieces[b].range.first.numeric) {
                    merged.append(painted[a]); a += 1
                } else {
                    merged.append(pieces[b]); b += 1
                }
            }
            painted = merged
            start = end
        }
        return painted
    }

    /// Rules a candidate may be moved across before the search for more of its run stops.
    static let maximumBarriers = 8

    /// True when no packet can match both rules, so their order does not matter: on some field
    /// they require different things (address families, disjoint literal addresses on the same
    /// side, protocols, ports on the same side). Sets (their contents change) and `me` prove nothing.
    static func disjoint(_ a: RuleSpec, _ b: RuleSpec) -> Bool {
        for x in a.matches {
            for y in b.matches where conflict(x, y) { return true }
        }
        return false
    }

    static func conflict(_ x: Match, _ y: Match) -> Bool {
        switch (x, y) {
        case (.address(let s1, let m1), .address(let s2, let m2)):
            if m1.family != m2.family { return true }
            guard s1 == s2, let r1 = literal(m1), let r2 = literal(m2) else { return false }
            return r1.last.numeric < r2.first.numeric || r2.last.numeric < r1.first.numeric
        case (.l4proto(let p), .l4proto(let q)): return p != q
        case (.l4proto(let p), .port(_, let q, _)), (.port(_, let q, _), .l4proto(let p)): return p != q
        case (.port(let s1, let p, let n), .port(let s2, let q, let m)): return p != q || (s1 == s2 && n != m)
        default: return false
        }
    }

    static func literal(_ m: AddressMatch) -> AddressRange? {
        switch m {
        case .prefix(let a, let length): return AddressRange(prefix: a, length: length)
        case .range(let a, let b): return AddressRange(first: a, last: b)
        case .set: return nil
        }
    }

    /// The chain's filter rules with every run of at least `minimumRun` grouped; the new filter sets
    /// are appended to `sets`. A run gathers the rules of its shape that follow it, moving each one
    /// forward across the rules in between only when it is disjoint from every one of them (two
    /// first-match rules that no packet matches both commute; any other order is kept).
    static func group(_ rules: [RuleSpec], chain: String, sets: inout [NamedSet]) -> [RuleSpec] {
        var out: [RuleSpec] = []
        out.reserveCapacity(rules.count)
        var taken = [Bool](repeating: false, count: rules.count)
        var count = 0
        // A filter with more than one rule here (negotiate's pair, a logged drop, both families) keeps them.
        var rulesPerFilter: [String: Int] = [:]
        for rule in rules { rulesPerFilter[rule.id, default: 0] += 1 }
        func varying(_ rule: RuleSpec) -> Varying? { rulesPerFilter[rule.id] == 1 ? Grouping.varying(rule) : nil }
        for i in rules.indices where !taken[i] {
            taken[i] = true
            guard let first = varying(rules[i]) else {
                out.append(rules[i])
                continue
            }
            var members = [i]
            var barriers: [Int] = []
            var k = i + 1
            while k < rules.count {
                if !taken[k] {
                    if let v = varying(rules[k]), sameShape(rules[i], first, rules[k], v), barriers.allSatisfy({ disjoint(rules[$0], rules[k]) }) {
                        members.append(k)
                        taken[k] = true
                    } else {
                        barriers.append(k)
                        if barriers.count > maximumBarriers { break }
                    }
                }
                k += 1
            }
            if members.count < minimumRun {
                // Alone: it stays where it was, and what it passed over is considered again.
                for m in members.dropFirst() { taken[m] = false }
                out.append(rules[i])
                continue
            }
            count += 1
            let name = "\(chain)_f\(count)_\(SetNaming.suffix(first.family))"
            let elements = paint(members.map { m in
                let v = varying(rules[m])!
                return (AddressRange(prefix: v.address, length: v.length), rules[m].id)
            })
            sets.append(NamedSet(filterSet: name, family: first.family, elements: elements))
            var grouped = rules[i]
            grouped.matches[first.index] = .address(first.side, .set(name, first.family))
            grouped.id = name
            grouped.origin = "\(elements.count) filters (set \(name))"
            out.append(grouped)
        }
        return out
    }
}
