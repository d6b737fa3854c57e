import RampartPolicy

/// The compiled `Ruleset` model, evaluated as nf_tables evaluates it: the hook's chain, rule by
/// rule, the first rule whose matches all hold and that ends in a verdict decides (log
/// statements do not), else the chain's policy. Pure; checked against `ReferenceEvaluator`.
public struct RulesetEvaluator: Sendable {
    public var ruleset: Ruleset
    public var host: Host
    let sets: [String: NamedSet]
    let filterSets: [String: FilterSet]
    let portSets: [String: PortSet]

    public init(ruleset: Ruleset, host: Host) {
        self.ruleset = ruleset
        self.host = host
        var sets: [String: NamedSet] = [:]
        for set in ruleset.sets { sets[set.name] = set }
        self.sets = sets
        var filterSets: [String: FilterSet] = [:]
        for set in ruleset.filterSets { filterSets[set.name] = set }
        self.filterSets = filterSets
        portSets = Dictionary(ruleset.portSets.map { ($0.name, $0) }, uniquingKeysWith: { a, _ in a })
    }

    /// The verdict, and what decided it: the rule's id, or for a rule over a filter set the id of
    /// the element that matched (its comment, as `counters` reads it back).
    public func verdict(_ packet: Packet, _ hook: Chain.Hook) -> PacketVerdict {
        packet.throughBothPasses(hook) { chainVerdict($0, hook) }
    }

    func chainVerdict(_ packet: Packet, _ hook: Chain.Hook) -> PacketVerdict {
        guard let chain = ruleset.chains.first(where: { $0.hook == hook }) else { return PacketVerdict(.accept, nil) }
        for rule in chain.rules where rule.matches.allSatisfy({ matches($0, packet) }) {
            for statement in rule.statements {
                switch statement {
                case .accept: return PacketVerdict(.accept, decidedBy(rule, packet))
                case .drop: return PacketVerdict(.drop, decidedBy(rule, packet))
                case .counter, .log, .tproxy: continue
                }
            }
        }
        return PacketVerdict(chain.policy == .accept ? .accept : .drop, nil)
    }

    func decidedBy(_ rule: RuleSpec, _ p: Packet) -> String {
        for m in rule.matches {
            if case .filterSet(let name, _) = m, let id = filterSets[name]?.elementID(p) { return id }
        }
        return rule.id
    }

    func matches(_ m: Match, _ p: Packet) -> Bool {
        switch m {
        case .inputInterface(let name), .outputInterface(let name):
            return p.interface == name
        case .linkType(_, let connection):
            return connection.includes(linkType: p.linkType)
        case .address(let side, let match):
            let a = side == .source ? p.source : p.destination
            // `ip saddr …` / `ip6 saddr …` imply the family.
            guard a.family == match.family else { return false }
            switch match {
            case .prefix(let net, let length): return a.masked(prefix: length) == net.masked(prefix: length)
            case .range(let first, let last): return first.numeric <= a.numeric && a.numeric <= last.numeric
            case .set(let name, _):
                guard let set = sets[name] else { return false }
                return set.elements.contains { $0.first.numeric <= a.numeric && a.numeric <= $0.last.numeric }
            }
        case .filterSet(let name, _):
            return filterSets[name]?.elementID(p) != nil
        case .fibAddressType(let side, let type):
            let a = side == .source ? p.source : p.destination
            return host.addressType(a) == type
        case .fibAddressTypeRange(let side, let low, let high):
            let type = host.addressType(side == .source ? p.source : p.destination)
            return low <= type && type <= high
        case .l4proto(let n):
            return p.proto == n
        case .port(let side, let proto, let port):
            return p.proto == proto && (side == .source ? p.sourcePort : p.destinationPort) == port
        case .portSet(let side, let proto, let set):
            return p.proto == proto
                && portSets[set]?.contains(side == .source ? p.sourcePort : p.destinationPort) == true
        case .portRange(let side, let proto, let first, let last):
            return p.proto == proto && (first...last).contains(side == .source ? p.sourcePort : p.destinationPort)
        case .tcpFlags(let flags):
            return p.proto == 6 && flags.matches(p.tcpFlags)
        case .hopLimit(let n):
            return p.family == .ipv6 && p.hopLimit == n
        case .icmpv6TypeRange(let low, let high):
            return p.proto == 58 && (low...high).contains(p.icmpType)
        case .ctState(let states):
            return states.contains(p.conntrack)
        case .ipsecInbound, .ipsecOutbound:
            return p.ipsec
        }
    }
}
