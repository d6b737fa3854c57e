import FoundationEssentials
import RampartPolicy

/// Windows' filtering semantics, evaluated directly on the active filters — no ruleset, no nft:
/// the fixed exemptions first, then the most specific matching filter decides (the order of
/// `Ordering.sorted`), and a packet no filter matches is permitted. The oracle the compiled
/// ruleset is checked against (`RulesetEvaluator`), and what `rampart explain` runs.
public struct ReferenceEvaluator: Sendable {
    public var filters: [ActiveFilter]
    public var config: DynamicConfig
    public var addresses: DynamicAddresses
    public var host: Host
    public var groups: GroupTable
    /// The filters in decision order, per direction.
    let ordered: [Chain.Hook: [ActiveFilter]]
    /// ESP, AH and IKE of the negotiate peers pass before the filters.
    public let transport: NegotiationTransport

    public init(
        filters: [ActiveFilter], config: DynamicConfig, addresses: DynamicAddresses, host: Host,
        groups: GroupTable = GroupTable()
    ) {
        self.filters = filters
        self.config = config
        self.addresses = addresses
        self.host = host
        self.groups = groups
        ordered = [.input: Ordering.sorted(filters, for: .input), .output: Ordering.sorted(filters, for: .output)]
        transport = NegotiationTransport(filters)
    }

    public init(
        store: Store, dynamic: DynamicState? = nil, addresses: DynamicAddresses, host: Host, at time: Date = Date()
    ) {
        self.init(
            filters: EffectiveFilters.collect(store, dynamic: dynamic, at: time), config: store.config,
            addresses: addresses, host: host, groups: GroupTable(store))
    }

    /// Why a filter did not match a packet.
    public enum Mismatch: Sendable, Equatable, CustomStringConvertible {
        case source, destination, proto, sourcePort, destinationPort, tcpFlags, connectionState
        /// The rule's `conntype=` does not take the packet's interface.
        case connectionType(ConnectionType)

        public var description: String {
            switch self {
            case .source: return "source address"
            case .destination: return "destination address"
            case .proto: return "protocol"
            case .sourcePort: return "source port"
            case .destinationPort: return "destination port"
            case .tcpFlags: return "TCP flags"
            case .connectionState: return "connection state (a stateful mirror's reply half takes replies only)"
            case .connectionType(let c):
                return
                    "interface type (its rule has conntype=\(c.rawValue); the interface is \(c == .lan ? "dialup" : "lan"))"
            }
        }
    }

    /// The verdict, with the filters looked at before it (in order) and why each did not match.
    public struct Explanation: Sendable {
        public var verdict: PacketVerdict
        /// The deciding filter, when a filter decided; its 1-based rank in the direction's order.
        public var filter: ActiveFilter?
        public var rank: Int?
        public var considered: [(filter: ActiveFilter, rank: Int, mismatch: Mismatch)]
        /// A fixed rule decided before any filter (loopback, neighbour discovery, an exemption).
        public var fixedRule: String?
        /// For a packet an SA carries: the encrypted packet's pass (`Packet.throughBothPasses`).
        public var encryptedPass: EncryptedPass?
    }

    public struct EncryptedPass: Sendable {
        public var packet: Packet
        public var verdict: PacketVerdict
        /// The encrypted packet's pass decided: it was dropped, so the clear packet never passes
        /// (arriving: never decrypted; leaving: never sent). This explanation is then that pass's.
        public var decided: Bool
    }

    public func verdict(_ packet: Packet, _ hook: Chain.Hook) -> PacketVerdict {
        packet.throughBothPasses(hook) { evaluate($0, hook, trace: false).verdict }
    }

    /// Both passes of a protected packet, as `verdict` decides them.
    public func explain(_ packet: Packet, _ hook: Chain.Hook) -> Explanation {
        let clear = evaluate(packet, hook, trace: true)
        guard let outer = packet.encrypted else { return clear }
        if hook == .output && clear.verdict.action == .drop { return clear }
        var encrypted = evaluate(outer, hook, trace: true)
        if encrypted.verdict.action == .drop {
            encrypted.encryptedPass = EncryptedPass(packet: outer, verdict: encrypted.verdict, decided: true)
            return encrypted
        }
        var both = clear
        both.encryptedPass = EncryptedPass(packet: outer, verdict: encrypted.verdict, decided: false)
        return both
    }

    func evaluate(_ packet: Packet, _ hook: Chain.Hook, trace: Bool) -> Explanation {
        if let fixed = fixedRule(packet, hook) {
            return Explanation(
                verdict: PacketVerdict(.accept, fixed), filter: nil, rank: nil, considered: [], fixedRule: fixed,
                encryptedPass: nil)
        }
        var considered: [(ActiveFilter, Int, Mismatch)] = []
        for (i, f) in (ordered[hook] ?? []).enumerated() {
            if let mismatch = self.mismatch(f, packet, hook) {
                if trace { considered.append((f, i + 1, mismatch)) }
                continue
            }
            return Explanation(
                verdict: PacketVerdict(action(f, packet, hook), f.id), filter: f, rank: i + 1, considered: considered,
                fixedRule: nil,
                encryptedPass: nil)
        }
        return Explanation(
            verdict: PacketVerdict(.accept, nil), filter: nil, rank: nil, considered: considered, fixedRule: nil,
            encryptedPass: nil)
    }

    /// Traffic that is never filtered: loopback, IPv6 neighbour discovery, the `ipsecexempt`
    /// level's exemptions (0: multicast, broadcast, RSVP, Kerberos, ISAKMP; 1: multicast,
    /// broadcast, ISAKMP; 2: RSVP, Kerberos, ISAKMP; 3: ISAKMP), then the negotiate peers' IPsec.
    func fixedRule(_ p: Packet, _ hook: Chain.Hook) -> String? {
        if p.interface == "lo" { return "loopback" }
        if p.proto == 58, (133...136).contains(p.icmpType), p.hopLimit == 255 { return "icmpv6-nd" }
        if p.proto == 58, p.icmpType == 2 { return "icmpv6-ptb" }
        if p.proto == 58, (130...132).contains(p.icmpType) || p.icmpType == 143, p.hopLimit == 1 { return "icmpv6-mld" }
        if p.proto == 17, p.sourcePort == 500, p.destinationPort == 500 { return "exempt-isakmp" }
        let level = config.ipsecExempt
        if level == 0 || level == 2 {
            if p.proto == 6 || p.proto == 17, p.sourcePort == 88 || p.destinationPort == 88 { return "exempt-kerberos" }
            if p.proto == 46 { return "exempt-rsvp" }
        }
        if level == 0 || level == 1 {
            if host.addressType(p.destination) == .broadcast { return "exempt-broadcast" }
            if host.addressType(p.destination) == .multicast { return "exempt-multicast" }
        }
        return transport.passes(p, hook) { peer, a in matches(peer.address, a, peer.origin, receiving: false) }
    }

    /// What a matching filter does to the packet in this direction.
    func action(_ f: ActiveFilter, _ p: Packet, _ hook: Chain.Hook) -> PacketVerdict.Action {
        switch f.action(for: hook) {
        case .permit: return .accept
        case .block: return .drop
        case .negotiate:
            // Protected traffic passes; clear traffic only with inpass (inbound) or soft.
            if p.ipsec || f.soft || (hook == .input && f.inpass) { return .accept }
            return .drop
        }
    }

    /// nil when `f` matches `p`, else the first part that does not.
    public func mismatch(_ f: ActiveFilter, _ p: Packet, _ hook: Chain.Hook) -> Mismatch? {
        if !f.connection.includes(linkType: p.linkType) { return .connectionType(f.connection) }
        if let m = fieldMismatch(f, p, hook) { return m }
        if f.repliesOnly, p.conntrack != .established, p.conntrack != .related { return .connectionState }
        return nil
    }

    func fieldMismatch(_ f: ActiveFilter, _ p: Packet, _ hook: Chain.Hook) -> Mismatch? {
        guard matches(f.source, p.source, f.origin, receiving: false) else { return .source }
        guard matches(f.destination, p.destination, f.origin, receiving: hook == .input) else { return .destination }
        switch f.proto {
        case .any: return nil
        case .icmp: return p.proto == (p.family == .ipv4 ? 1 : 58) ? nil : .proto
        case .number(let n):
            guard p.proto == n else { return .proto }
            if f.sourcePort != 0, !(p.hasPorts && f.sourcePort.contains(p.sourcePort)) { return .sourcePort }
            if f.destinationPort != 0, !(p.hasPorts && f.destinationPort.contains(p.destinationPort)) {
                return .destinationPort
            }
            if let flags = f.tcpFlags, !flags.matches(p.tcpFlags) { return .tcpFlags }
            return nil
        }
    }

    /// `receiving`: `a` is the destination of a packet this host receives, where `me` stands for
    /// every address it receives on (broadcast, multicast and anycast too); elsewhere `me` is its
    /// own addresses.
    func matches(_ spec: AddressSpec, _ a: IPAddress, _ origin: FilterOrigin, receiving: Bool) -> Bool {
        switch spec {
        case .group(let name): return groups.contains(name, for: origin, a)
        case .any: return true
        case .me: return receiving ? host.receives(a) : host.isLocal(a)
        case .subnet(let net, let prefix):
            return net.family == a.family && a.masked(prefix: prefix) == net.masked(prefix: prefix)
        case .range(let first, let last):
            return first.family == a.family && first.numeric <= a.numeric && a.numeric <= last.numeric
        case .server(let type):
            return addresses.addresses(for: type).contains(a)
        case .dnsName(let name, let prefix):
            // The filter's mask applies to each IPv4 record; IPv6 records match as hosts.
            return (addresses.names[name] ?? []).contains { r in
                guard r.family == a.family else { return false }
                return r.family == .ipv4 ? a.masked(prefix: prefix ?? 32) == r.masked(prefix: prefix ?? 32) : a == r
            }
        }
    }
}
