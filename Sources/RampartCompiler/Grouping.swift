import RampartPolicy

/// Runs of filters become rules over hash sets. In a first-match chain, rules with the same verdict
/// and the same matches except for one address prefix and/or one port form a union: the first of
/// them that matches decides, and none of the rules between them has another verdict, so rules
/// matching the union decide every packet the same way. The union is split by prefix length: one
/// rule per length looks the packet's masked address (and port) up in a hash set, so a lookup costs
/// the same for 10 or 100,000 filters (`ip saddr & 255.255.255.0 . tcp dport @input_f2_v4`). Its
/// elements keep their filters' ids (the element comments) and their own counters, so `counters`
/// and `explain` still name the filter.
///
/// A run may gather later rules of its shape across rules in between only when the moved rule is
/// disjoint from each of them (no packet matches both: two such first-match rules commute); every
/// other order is kept. Within a run every packet must be counted by its first-match filter: an
/// element covered by an earlier one (the same or a shorter prefix holding it, the same port) can
/// never decide and is left out, and the per-length rules come longest prefix first, so where a
/// narrower element survives it was earlier than every wider one holding it. A logged drop (its
/// log rule and its drop rule) is grouped as one unit; the rules of a filter that has more than one
/// verdict rule in the chain (negotiate's pair, a filter for both address families) are never
/// grouped, nor are address ranges.
enum Grouping {
    /// Where a rule's key fields are and what they hold.
    struct Keyed {
        var addressIndex: Int?
        var address: (side: PacketSide, family: IPAddress.Family, value: IPAddress, length: Int)?
        var portIndex: Int?
        var port: (side: PacketSide, proto: UInt8, value: UInt16)?
    }

    /// Runs shorter than this stay separate rules.
    static let minimumRun = 2

    /// A rule's first literal address prefix and its only port match; nil when it has neither or
    /// does not end in a plain counted verdict.
    static func keyed(_ rule: RuleSpec) -> Keyed? {
        guard rule.statements == [.counter, .accept] || rule.statements == [.counter, .drop],
            rule.id.hasPrefix("F") || rule.id.hasPrefix("G") || rule.id.hasPrefix("D")
        else { return nil }
        var keyed = Keyed()
        var ports = 0
        for (i, m) in rule.matches.enumerated() {
            switch m {
            case .address(let side, .prefix(let a, let length)) where keyed.addressIndex == nil && length > 0:
                keyed.addressIndex = i
                keyed.address = (side, a.family, a.masked(prefix: length), length)
            case .port(let side, let proto, let value):
                ports += 1
                keyed.portIndex = i
                keyed.port = (side, proto, value)
            default:
                break
            }
        }
        if ports != 1 {
            keyed.portIndex = nil
            keyed.port = nil
        }
        return keyed.addressIndex == nil && keyed.portIndex == nil ? nil : keyed
    }

    /// The same verdict and matches, the key fields in the same places (their values may differ).
    static func sameShape(_ a: RuleSpec, _ ka: Keyed, _ b: RuleSpec, _ kb: Keyed) -> Bool {
        guard ka.addressIndex == kb.addressIndex, ka.portIndex == kb.portIndex,
            ka.address?.side == kb.address?.side, ka.address?.family == kb.address?.family,
            ka.port?.side == kb.port?.side, ka.port?.proto == kb.port?.proto,
            a.statements == b.statements, a.matches.count == b.matches.count
        else { return false }
        for i in a.matches.indices where i != ka.addressIndex && i != ka.portIndex {
            if a.matches[i] != b.matches[i] { return false }
        }
        return true
    }

    /// The address family and protocol a rule requires, where it requires one.
    struct Requirement {
        var family: IPAddress.Family?
        var proto: UInt8?

        init(_ rule: RuleSpec) {
            for m in rule.matches {
                switch m {
                case .address(_, let a): family = family ?? a.family
                case .l4proto(let p), .port(_, let p, _), .portRange(_, let p, _, _): proto = proto ?? p
                case .tcpFlags: proto = proto ?? 6
                case .icmpv6TypeRange:
                    family = .ipv6
                    proto = 58
                default: break
                }
            }
        }

        /// No packet has both: rules with these requirements commute.
        func excludes(_ other: Requirement) -> Bool {
            if let f = family, let g = other.family, f != g { return true }
            if let p = proto, let q = other.proto, p != q { return true }
            return false
        }
    }

    /// Rules a candidate may be moved across (among those of its family and protocol) before the
    /// search for more of its run stops.
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
        case (.linkType(let h1, let c1), .linkType(let h2, let c2)): return h1 == h2 && c1 != c2
        case (.address(let s1, let m1), .address(let s2, let m2)):
            if m1.family != m2.family { return true }
            guard s1 == s2, let r1 = literal(m1), let r2 = literal(m2) else { return false }
            return r1.last.numeric < r2.first.numeric || r2.last.numeric < r1.first.numeric
        case (.l4proto(let p), .l4proto(let q)): return p != q
        case (.l4proto(let p), .port(_, let q, _)), (.port(_, let q, _), .l4proto(let p)): return p != q
        case (.port(let s1, let p, let n), .port(let s2, let q, let m)): return p != q || (s1 == s2 && n != m)
        case (.portRange(let s1, let p, let a, let b), .portRange(let s2, let q, let c, let d)):
            return p != q || (s1 == s2 && (b < c || d < a))
        case (.portRange(let s1, let p, let a, let b), .port(let s2, let q, let n)),
            (.port(let s2, let q, let n), .portRange(let s1, let p, let a, let b)):
            return p != q || (s1 == s2 && !(a...b).contains(n))
        case (.l4proto(let p), .portRange(_, let q, _, _)), (.portRange(_, let q, _, _), .l4proto(let p)): return p != q
        case (.tcpFlags(let f), .tcpFlags(let g)):
            // Same mask: two different values, or one value and its negation, exclude each other.
            guard f.mask == g.mask else { return false }
            return (!f.negated && !g.negated && f.value != g.value) || (f.value == g.value && f.negated != g.negated)
        case (.tcpFlags, .l4proto(let p)), (.l4proto(let p), .tcpFlags): return p != 6
        case (.tcpFlags, .port(_, let p, _)), (.port(_, let p, _), .tcpFlags), (.tcpFlags, .portRange(_, let p, _, _)),
            (.portRange(_, let p, _, _), .tcpFlags):
            return p != 6
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

    /// One filter of a run, in first-match order.
    struct Member {
        var rule: Int
        var address: IPAddress?
        var length: Int?
        var port: UInt16?
        var id: String
    }

    struct Covered: Hashable {
        var address: IPAddress?
        var length: Int?
        var port: UInt16?
    }

    /// The members that can decide a packet: each one that an earlier member covers (an equal or
    /// shorter prefix holding its address, the same port) is left out. Linear in the members times
    /// the prefix lengths seen.
    static func deciding(_ members: [Member]) -> [Member] {
        var seen = Set<Covered>()
        var lengths: [Int] = []
        var kept: [Member] = []
        kept.reserveCapacity(members.count)
        for m in members {
            let covered: Bool
            if let a = m.address, let length = m.length {
                covered = lengths.contains {
                    $0 <= length && seen.contains(Covered(address: a.masked(prefix: $0), length: $0, port: m.port))
                }
            } else {
                covered = seen.contains(Covered(address: nil, length: nil, port: m.port))
            }
            guard !covered else { continue }
            kept.append(m)
            seen.insert(Covered(address: m.address, length: m.length, port: m.port))
            if let length = m.length, !lengths.contains(length) { lengths.append(length) }
        }
        return kept
    }

    /// The chain's filter rules with every run of at least `minimumRun` grouped; the new filter sets
    /// are appended to `sets`. A run gathers the rules of its shape that follow it, moving each one
    /// forward across the rules in between only when it is disjoint from every one of them (two
    /// first-match rules that no packet matches both commute; any other order is kept).
    static func group(_ chainRules: [RuleSpec], chain: String, sets: inout [FilterSet]) -> [RuleSpec] {
        var pass = Pass(chainRules, chain: chain)
        pass.run(&sets)
        return pass.out
    }

    /// One chain's grouping: its units (a rule, or a logged drop's pair), which are taken, and
    /// what has been emitted.
    struct Pass {
        let chain: String
        /// A logged drop is two rules of one filter (log, then counter + drop, the same matches):
        /// it is grouped as one unit, and a grouped run of them keeps the pair, the log rule's
        /// prefix naming the set (the logger finds the element, so the filter, from the packet).
        private(set) var rules: [RuleSpec] = []
        private var logRule: [Int: RuleSpec] = [:]
        private var keys: [Keyed?] = []
        private var requirements: [Requirement] = []
        private var taken: [Bool] = []
        private(set) var out: [RuleSpec] = []
        /// The set names given so far in this chain (`SetNaming.filterSet`).
        private var names = Set<String>()

        init(_ chainRules: [RuleSpec], chain: String) {
            self.chain = chain
            rules.reserveCapacity(chainRules.count)
            out.reserveCapacity(chainRules.count)
            var j = 0
            while j < chainRules.count {
                if j + 1 < chainRules.count, isLog(chainRules[j]), chainRules[j + 1].statements == [.counter, .drop],
                    chainRules[j].id == chainRules[j + 1].id, chainRules[j].matches == chainRules[j + 1].matches
                {
                    logRule[rules.count] = chainRules[j]
                    rules.append(chainRules[j + 1])
                    j += 2
                } else {
                    rules.append(chainRules[j])
                    j += 1
                }
            }
            // A filter with more than one rule here (negotiate's pair, both families) keeps them.
            var rulesPerFilter: [String: Int] = [:]
            rulesPerFilter.reserveCapacity(rules.count)
            for rule in rules { rulesPerFilter[rule.id, default: 0] += 1 }
            keys = rules.map { rulesPerFilter[$0.id] == 1 ? keyed($0) : nil }
            requirements = rules.map(Requirement.init)
            taken = [Bool](repeating: false, count: rules.count)
        }

        private mutating func emit(_ unit: Int) {
            if let log = logRule[unit] { out.append(log) }
            out.append(rules[unit])
        }

        mutating func run(_ sets: inout [FilterSet]) {
            for i in rules.indices where !taken[i] {
                taken[i] = true
                guard let first = keys[i] else {
                    emit(i)
                    continue
                }
                let members = gather(from: i, first: first)
                if members.count < minimumRun {
                    // Alone: it stays where it was, and what it passed over is considered again.
                    for m in members.dropFirst() { taken[m] = false }
                    emit(i)
                    continue
                }
                let kept = deciding(
                    members.map { m in
                        let key = keys[m]!
                        return Member(
                            rule: m, address: key.address?.value, length: key.address?.length, port: key.port?.value,
                            id: rules[m].id)
                    })
                emitGroups(kept, first: first, template: i, sets: &sets)
            }
        }

        /// The run that unit `i` starts: the units of its shape that follow it, each moved forward
        /// across the rules in between only when it is disjoint from every one of them.
        private mutating func gather(from i: Int, first: Keyed) -> [Int] {
            let logged = logRule[i] != nil
            var members = [i]
            var barriers: [Int] = []
            var k = i + 1
            while k < rules.count {
                // A rule of another family or protocol commutes with every member: no check, no count.
                if !taken[k], !requirements[i].excludes(requirements[k]) {
                    if let v = keys[k], (logRule[k] != nil) == logged, sameShape(rules[i], first, rules[k], v),
                        barriers.allSatisfy({ disjoint(rules[$0], rules[k]) })
                    {
                        members.append(k)
                        taken[k] = true
                    } else {
                        barriers.append(k)
                        if barriers.count > maximumBarriers { break }
                    }
                }
                k += 1
            }
            return members
        }

        /// One rule per prefix length, the longest first; a length with one member stays a rule.
        private mutating func emitGroups(_ kept: [Member], first: Keyed, template i: Int, sets: inout [FilterSet]) {
            var byLength: [Int: [Member]] = [:]
            for m in kept { byLength[m.length ?? 0, default: []].append(m) }
            for length in byLength.keys.sorted(by: >) {
                let part = byLength[length]!
                if part.count == 1 {
                    emit(part[0].rule)
                    continue
                }
                let (set, rule) = Grouping.rule(
                    over: part, first: first, template: rules[i], chain: chain, logged: logRule[i] != nil,
                    names: &names)
                sets.append(set)
                if let log = logRule[i] { out.append(Self.logRule(log, over: rule)) }
                out.append(rule)
            }
        }

        /// `log prefix "rampart in input_f3_v4 " group G`, over the grouped rule's key.
        static func logRule(_ log: RuleSpec, over rule: RuleSpec) -> RuleSpec {
            var grouped = log
            grouped.matches = rule.matches
            grouped.id = rule.id
            grouped.origin = rule.origin
            grouped.statements = log.statements.map { statement in
                guard case .log(let prefix, let group) = statement else { return statement }
                // "rampart in F12 " → "rampart in input_f3_v4 "
                let named =
                    prefix.hasSuffix(" \(log.id) ") ? String(prefix.dropLast(log.id.count + 1)) + rule.id + " " : prefix
                return .log(prefix: named, group: group)
            }
            return grouped
        }
    }

    static func isLog(_ rule: RuleSpec) -> Bool {
        guard rule.statements.count == 1, case .log = rule.statements[0] else { return false }
        return true
    }

    /// The rule and set for members of one prefix length: the key holds the fields that vary
    /// among them; a field they all share stays a plain match.
    static func rule(
        over part: [Member], first: Keyed, template: RuleSpec, chain: String, logged: Bool, names: inout Set<String>
    ) -> (FilterSet, RuleSpec) {
        let sharedAddress = part.allSatisfy { $0.address == part[0].address } ? part[0].address : nil
        let sharedPort = part.allSatisfy { $0.port == part[0].port } ? part[0].port : nil
        var key = FilterSet.Key()
        if let a = first.address, sharedAddress == nil {
            key.address = FilterSet.AddressField(side: a.side, family: a.family, length: part[0].length!)
        }
        if let p = first.port, sharedPort == nil {
            key.port = FilterSet.PortField(side: p.side, proto: p.proto)
        }
        // The lookup takes the place of its first field; a second key field's own match goes.
        var matches = template.matches
        var lookupAt: Int?, folded: Int?
        if let index = first.addressIndex, let a = first.address {
            if key.address == nil {
                matches[index] = .address(a.side, .prefix(sharedAddress!, part[0].length!))
            } else {
                lookupAt = index
            }
        }
        if let index = first.portIndex, let p = first.port {
            if key.port == nil {
                matches[index] = .port(p.side, proto: p.proto, port: sharedPort!)
            } else if lookupAt == nil {
                lookupAt = index
            } else {
                folded = index
            }
        }
        // The lookup goes last: an element's counter counts every packet the lookup finds, so every
        // other match must have passed by then (`ip saddr @set udp dport 5001` would count the
        // address's packets to every port).
        matches[lookupAt!] = .filterSet("", key)
        if let folded { matches.remove(at: folded) }
        matches.append(matches.remove(at: lookupAt!))
        lookupAt = matches.count - 1
        // Named after the rule's shape, not its place: a filter added elsewhere renames no set,
        // so a delta transaction touches only the sets whose members changed.
        let name = SetNaming.filterSet(
            chain: chain, shape: "\(matches)|\(template.statements)|\(logged)", family: key.address?.family,
            taken: &names)
        matches[lookupAt!] = .filterSet(name, key)
        let set = FilterSet(
            name: name, key: key,
            elements: part.map {
                FilterSet.Element(
                    address: key.address == nil ? nil : $0.address, port: key.port == nil ? nil : $0.port, id: $0.id)
            })
        var rule = template
        rule.matches = matches
        rule.id = name
        rule.origin = "\(part.count) filters (set \(name))"
        return (set, rule)
    }
}
