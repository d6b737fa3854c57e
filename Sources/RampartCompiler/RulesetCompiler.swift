import FoundationEssentials
import RampartPolicy

public struct CompileOptions: Sendable, Equatable {
    /// NFLOG group that drop logging uses (rampartd listens on it).
    public var logGroup: UInt16 = 1000
    /// Runs of filters become rules over sets (`Grouping`); off only to measure what it saves.
    public var groupsFilters = true

    public init(logGroup: UInt16 = 1000, groupsFilters: Bool = true) {
        self.logGroup = logGroup
        self.groupsFilters = groupsFilters
    }
}

/// Store + dynamic-address snapshot → the ruleset of table `inet rampart`. Pure.
///
/// Chain layout (input and output alike; forward is never touched):
/// 1. loopback accepted; 2. ICMPv6 neighbour discovery (types 133–136, hop limit 255), packet too
/// big and link-local MLD accepted;
/// 3. invalid packets logged (ipsecdiagnostics bit 4); 4. the ipsecexempt exemptions;
/// 5. the active filters, most specific first, as first-match rules (runs of them grouped into
/// one rule over a set, `Grouping`); 6. policy accept
/// (a packet that matches no filter is permitted, as in Windows).
public struct RulesetCompiler {
    public var options: CompileOptions

    public init(options: CompileOptions = CompileOptions()) { self.options = options }

    /// `time` picks the scheduled rules in force (docs/extensions.md).
    public func compile(
        _ store: Store, dynamic: DynamicState? = nil, addresses: DynamicAddresses = DynamicAddresses(),
        at time: Date = Date()
    ) -> Ruleset {
        compile(store, filters: EffectiveFilters.collect(store, dynamic: dynamic, at: time), addresses: addresses)
    }

    /// The ruleset of `filters`, the store's effective filters (`EffectiveFilters.collect`) when the
    /// caller has them already.
    public func compile(_ store: Store, filters: [ActiveFilter], addresses: DynamicAddresses) -> Ruleset {
        var sets = SetCollector(addresses: addresses, filters: filters, groups: GroupTable(store))
        let transport = NegotiationTransport(filters)
        var chains: [Chain] = []
        var filterSets: [FilterSet] = []
        for hook in [Chain.Hook.input, .output] {
            var chain = Chain(name: hook.rawValue, hook: hook, policy: .accept)
            chain.rules += RulesetCompiler.baseRules(hook)
            if store.config.logsInvalid {
                chain.rules.append(RuleSpec([.ctState([.invalid])], countedLog("rampart invalid "), id: "log-invalid"))
            }
            chain.rules += RulesetCompiler.exemptions(level: store.config.ipsecExempt, hook: hook)
            chain.rules += negotiationRules(transport, hook: hook, sets: &sets)
            let logDrops = hook == .input ? store.config.logsInboundDrops : store.config.logsOutboundDrops
            var filterRules: [RuleSpec] = []
            for filter in Ordering.sorted(filters, for: hook) {
                filterRules += rules(for: filter, hook: hook, logDrops: logDrops, sets: &sets)
            }
            chain.rules +=
                options.groupsFilters
                ? Grouping.group(filterRules, chain: hook.rawValue, sets: &filterSets) : filterRules
            chains.append(chain)
        }
        // Fragments reach the filters reassembled, whatever else the ruleset needs (`Chain.defrag`).
        chains.append(.defrag)
        return Ruleset(sets: sets.namedSets(), filterSets: filterSets, portSets: sets.portSets(), chains: chains)
    }

    /// Every logged packet goes to NFLOG, unlimited: rampartd aggregates them, so its records count
    /// exactly what was dropped and a flood cannot flood the journal (docs/logging.md). A filter's
    /// drop rule that follows carries the counter; a log rule that is the last word (boot mode's
    /// policy drop, invalid packets) counts for itself, so every logged total has a kernel count.
    func logStatements(_ prefix: String) -> [Statement] {
        [.log(prefix: prefix, group: options.logGroup)]
    }

    func countedLog(_ prefix: String) -> [Statement] {
        [.counter, .log(prefix: prefix, group: options.logGroup)]
    }

    /// Rules every ruleset starts with.
    static func baseRules(_ hook: Chain.Hook) -> [RuleSpec] {
        [
            RuleSpec([hook == .input ? .inputInterface("lo") : .outputInterface("lo")], [.accept], id: "loopback"),
            // IPv6's ARP: an IPv4 filter never sees ARP either, and a block-all must not break IPv6
            // itself. Only with hop limit 255, which no router forwards: neighbour discovery from
            // off the link is the policy's to decide (RFC 4861 §7.1.1; docs/netsh-compatibility.md).
            RuleSpec([.icmpv6TypeRange(133, 136), .hopLimit(255)], [.accept], id: "icmpv6-nd"),
            // Path MTU discovery: a block-all must not black-hole the flows it permits (RFC 4890 §4.3.1).
            RuleSpec([.icmpv6TypeRange(2, 2)], [.accept], id: "icmpv6-ptb"),
            // Multicast listener queries and reports (MLDv1 130-132, MLDv2 143) stay on the link
            // (hop limit 1): without them a switch that snoops MLD stops forwarding ND's multicast.
            RuleSpec([.icmpv6TypeRange(130, 132), .hopLimit(1)], [.accept], id: "icmpv6-mld"),
            RuleSpec([.icmpv6TypeRange(143, 143), .hopLimit(1)], [.accept], id: "icmpv6-mld")
        ]
    }

    /// Default exemptions (reference §6.1): 0 exempts multicast, broadcast, RSVP, Kerberos and ISAKMP;
    /// 1 multicast, broadcast and ISAKMP; 2 RSVP, Kerberos and ISAKMP; 3 ISAKMP only.
    static func exemptions(level: Int, hook: Chain.Hook) -> [RuleSpec] {
        var rules = [
            RuleSpec(
                [.port(.source, proto: 17, port: 500), .port(.destination, proto: 17, port: 500)], [.accept],
                id: "exempt-isakmp")
        ]
        if level == 0 || level == 2 {
            for proto: UInt8 in [6, 17] {
                rules.append(RuleSpec([.port(.source, proto: proto, port: 88)], [.accept], id: "exempt-kerberos"))
                rules.append(RuleSpec([.port(.destination, proto: proto, port: 88)], [.accept], id: "exempt-kerberos"))
            }
            rules.append(RuleSpec([.l4proto(46)], [.accept], id: "exempt-rsvp"))
        }
        if level == 0 || level == 1 {
            rules.append(RuleSpec([.fibAddressType(.destination, .broadcast)], [.accept], id: "exempt-broadcast"))
            rules.append(RuleSpec([.fibAddressType(.destination, .multicast)], [.accept], id: "exempt-multicast"))
        }
        return rules
    }

    /// ESP, AH and IKE for the negotiate peers, before the filters (`NegotiationTransport`):
    ///   input:  ip saddr PEER meta l4proto esp accept; … ah …; ip saddr PEER udp dport 500 accept; … 4500 …
    ///   output: ip daddr PEER meta l4proto esp accept; … ah …; ip daddr PEER udp sport 500 accept; … 4500 …
    func negotiationRules(_ transport: NegotiationTransport, hook: Chain.Hook, sets: inout SetCollector) -> [RuleSpec] {
        let side: PacketSide = hook == .input ? .source : .destination
        let localPort: PacketSide = hook == .input ? .destination : .source
        var rules: [RuleSpec] = []
        for peer in transport.peers {
            for family in peerFamilies(peer.address) {
                let address = self.address(peer.address, side: side, family: family, origin: peer.origin, sets: &sets)
                for proto in NegotiationTransport.protocols {
                    rules.append(RuleSpec(address + [.l4proto(proto.number)], [.accept], id: proto.id))
                }
                for port in NegotiationTransport.ikePorts {
                    rules.append(
                        RuleSpec(address + [.port(localPort, proto: 17, port: port)], [.accept], id: "ipsec-ike"))
                }
            }
        }
        return rules
    }

    func peerFamilies(_ spec: AddressSpec) -> [IPAddress.Family?] {
        switch spec {
        case .server, .dnsName, .group: return [.ipv4, .ipv6]
        default: return [spec.family]
        }
    }

    /// The rules of one filter half in one chain: one per address family it needs, each followed
    /// by the verdict its action gives in this direction.
    func rules(for f: ActiveFilter, hook: Chain.Hook, logDrops: Bool, sets: inout SetCollector) -> [RuleSpec] {
        // `me` as a source never reaches input (local traffic uses lo), nor as a destination output.
        if hook == .input && f.source.isMe { return [] }
        if hook == .output && f.destination.isMe { return [] }
        var out: [RuleSpec] = []
        for family in families(of: f) {
            var matches: [Match] = []
            if f.connection != .all { matches.append(.linkType(hook, f.connection)) }
            // A stateful mirror's reply half: only what the first half's traffic opened.
            if f.repliesOnly { matches.append(.ctState([.established, .related])) }
            matches += address(f.source, side: .source, family: family, origin: f.origin, sets: &sets)
            matches += address(f.destination, side: .destination, family: family, origin: f.origin, sets: &sets)
            // A port list is one set (`tcp dport @ports_F12_d`): one rule per filter half and
            // family, however long the list (issue 29: lists must not amplify into rules).
            out += verdict(
                f, matches: matches + transport(f, family: family, sets: &sets), hook: hook, logDrops: logDrops)
        }
        return out
    }

    /// nil means one rule for both families.
    func families(of f: ActiveFilter) -> [IPAddress.Family?] {
        if let family = f.source.family ?? f.destination.family { return [family] }
        func setBased(_ a: AddressSpec) -> Bool {
            switch a {
            case .server, .dnsName, .group: return true
            default: return false
            }
        }
        if setBased(f.source) || setBased(f.destination) || f.proto == .icmp { return [.ipv4, .ipv6] }
        return [nil]
    }

    func address(
        _ spec: AddressSpec, side: PacketSide, family: IPAddress.Family?, origin: FilterOrigin, sets: inout SetCollector
    ) -> [Match] {
        switch spec {
        case .any: return []
        // A packet to a broadcast or multicast address is addressed to this host as much as one to
        // its own address: `me` as a destination takes all four (docs/netsh-compatibility.md).
        case .me:
            return side == .destination
                ? [.fibAddressTypeRange(side, .local, .multicast)] : [.fibAddressType(side, .local)]
        case .subnet(let a, let p): return [.address(side, .prefix(a, p))]
        case .range(let a, let b): return [.address(side, .range(a, b))]
        case .server(let t):
            let family = family ?? .ipv4
            return [.address(side, .set(sets.serverSet(t, family), family))]
        case .dnsName(let name, let prefix):
            let family = family ?? .ipv4
            return [.address(side, .set(sets.hostSet(name, prefix: prefix, family), family))]
        case .group(let name):
            let family = family ?? .ipv4
            // ip saddr @group_l_NAME_v4: a group the store no longer has (refused by the store's
            // checks) would match nothing; the empty set says so without opening anything.
            return [.address(side, .set(sets.groupSet(name, origin: origin, family), family))]
        }
    }

    /// The protocol, port and flag matches of a filter half. A single port or range is matched
    /// in the rule; a list of them is a set of its own.
    func transport(_ f: ActiveFilter, family: IPAddress.Family?, sets: inout SetCollector) -> [Match] {
        switch f.proto {
        case .any: return []
        case .icmp: return [.l4proto(family == .ipv6 ? 58 : 1)]
        case .number(let n):
            func match(_ p: PortMatch, _ side: PacketSide) -> Match? {
                if p.isAny { return nil }
                if p.ranges.count > 1 {
                    return .portSet(
                        side, proto: n, set: sets.portSet(f.id, side, p.ranges.map { $0.lowerBound...$0.upperBound }))
                }
                let r = p.ranges[0]
                return r.lowerBound == r.upperBound
                    ? .port(side, proto: n, port: r.lowerBound)
                    : .portRange(side, proto: n, first: r.lowerBound, last: r.upperBound)
            }
            var m = [match(f.sourcePort, .source), match(f.destinationPort, .destination)].compactMap { $0 }
            // `tcp flags` implies the protocol, as a port match does.
            if m.isEmpty && f.tcpFlags == nil { m = [.l4proto(n)] }
            if let flags = f.tcpFlags { m.append(.tcpFlags(flags)) }
            return m
        }
    }

    func verdict(_ f: ActiveFilter, matches: [Match], hook: Chain.Hook, logDrops: Bool) -> [RuleSpec] {
        let origin = f.origin
        let direction = hook == .input ? "in" : "out"
        func drop() -> [RuleSpec] {
            var r: [RuleSpec] = []
            if logDrops {
                r.append(RuleSpec(matches, logStatements("rampart \(direction) \(f.id) "), id: f.id, filter: origin))
            }
            r.append(RuleSpec(matches, [.counter, .drop], id: f.id, filter: origin))
            return r
        }
        switch f.action(for: hook) {
        case .permit:
            return [RuleSpec(matches, [.counter, .accept], id: f.id, filter: origin)]
        case .block:
            return drop()
        case .negotiate:
            // Negotiate never silently permits: traffic protected by an IPsec SA passes; clear
            // traffic passes only where inpass (inbound) or soft allow it, else it is blocked.
            let secured = RuleSpec(
                matches + [hook == .input ? .ipsecInbound : .ipsecOutbound], [.counter, .accept], id: f.id,
                filter: origin)
            let clearAllowed = f.soft || (hook == .input && f.inpass)
            return [secured]
                + (clearAllowed ? [RuleSpec(matches, [.counter, .accept], id: f.id, filter: origin)] : drop())
        }
    }
}

/// Collects the named sets the rules refer to, filled from the snapshot.
struct SetCollector {
    let addresses: DynamicAddresses
    var servers: Set<ServerSetKey> = []
    var hosts: Set<SetNaming.HostKey> = []
    let hostNames: [SetNaming.HostKey: String]

    struct ServerSetKey: Hashable {
        var type: ServerType
        var family: IPAddress.Family
    }

    let groups: GroupTable
    var usedGroups: [String: (group: AddressGroup, family: IPAddress.Family)] = [:]
    var ports: [String: PortSet] = [:]

    init(addresses: DynamicAddresses, filters: [ActiveFilter], groups: GroupTable = GroupTable()) {
        self.addresses = addresses
        self.groups = groups
        var keys = Set<SetNaming.HostKey>()
        for f in filters {
            for side in [f.source, f.destination] {
                if case .dnsName(let n, let p) = side { keys.insert(.init(name: n, prefix: p)) }
            }
        }
        hostNames = SetNaming.hostSets(Array(keys))
    }

    mutating func serverSet(_ type: ServerType, _ family: IPAddress.Family) -> String {
        servers.insert(.init(type: type, family: family))
        return SetNaming.server(type, family)
    }

    mutating func hostSet(_ name: String, prefix: Int?, _ family: IPAddress.Family) -> String {
        let key = SetNaming.HostKey(name: name, prefix: prefix)
        hosts.insert(key)
        return hostNames[key]! + "_" + SetNaming.suffix(family)
    }

    mutating func groupSet(_ name: String, origin: FilterOrigin, _ family: IPAddress.Family) -> String {
        let scope = GroupTable.scope(origin) ?? "x"
        let group = groups.group(name, for: origin) ?? AddressGroup(name: name, members: [], seq: 0)
        let set = GroupTable.setName(group, scope: scope, family)
        usedGroups[set] = (group, family)
        return set
    }

    /// `ports_F12_d`: the list of one filter half's side (shared by both families and chains).
    mutating func portSet(_ filter: String, _ side: PacketSide, _ ranges: [ClosedRange<UInt16>]) -> String {
        let name = "ports_\(filter)_\(side == .source ? "s" : "d")"
        ports[name] = PortSet(name: name, ranges: ranges)
        return name
    }

    func portSets() -> [PortSet] { ports.keys.sorted().map { ports[$0]! } }

    func namedSets() -> [NamedSet] {
        var out: [NamedSet] = []
        for name in usedGroups.keys.sorted() {
            let (group, family) = usedGroups[name]!
            out.append(NamedSet(name: name, family: family, elements: group.elements, source: "group:\(group.name)"))
        }
        for key in servers.sorted(by: { ($0.type, $0.family == .ipv4 ? 0 : 1) < ($1.type, $1.family == .ipv4 ? 0 : 1) })
        {
            let elements = addresses.addresses(for: key.type).map { AddressRange(prefix: $0, length: $0.family.bits) }
            out.append(
                NamedSet(
                    name: SetNaming.server(key.type, key.family), family: key.family, elements: elements,
                    source: key.type.rawValue))
        }
        for key in hosts.sorted() {
            for family in IPAddress.Family.allCases {
                let elements = (addresses.names[key.name] ?? []).filter { $0.family == family }.map { a in
                    // The filter's mask applies to IPv4 records; IPv6 records are matched as hosts.
                    AddressRange(prefix: a, length: family == .ipv4 ? (key.prefix ?? 32) : 128)
                }
                out.append(
                    NamedSet(
                        name: hostNames[key]! + "_" + SetNaming.suffix(family), family: family, elements: elements,
                        source: key.name))
            }
        }
        return out
    }
}
