import RampartPolicy

/// The nftables ruleset rampart owns, as plain values: what the nft text renderer prints and
/// what the netlink layer will linearize. It uses only named sets and single-value matches
/// (no anonymous sets), so every rule maps to a short, fixed expression sequence.
public struct Ruleset: Sendable, Equatable {
    public static let tableName = "rampart"

    /// Address sets, filled from the dynamic-address snapshot.
    public var sets: [NamedSet] = []
    /// The sets of grouped filters (`Grouping`).
    public var filterSets: [FilterSet] = []
    /// The port lists of filters (`dstport=80,443,8000-8080`): one set per list, one rule per filter.
    public var portSets: [PortSet] = []
    public var chains: [Chain] = []

    public init(sets: [NamedSet] = [], filterSets: [FilterSet] = [], portSets: [PortSet] = [], chains: [Chain] = []) {
        self.sets = sets
        self.filterSets = filterSets
        self.portSets = portSets
        self.chains = chains
    }

    public var ruleCount: Int { chains.reduce(0) { $0 + $1.rules.count } }

    /// The named sets whose elements differ from `current`'s, when that is the only difference
    /// (same chains, rules, filter sets and set names): the change a set-only transaction makes,
    /// keeping every rule and its counters. nil when anything else differs.
    public func setChanges(from current: Ruleset) -> [NamedSet]? {
        guard chains == current.chains, filterSets == current.filterSets, portSets == current.portSets,
            sets.count == current.sets.count
        else { return nil }
        var changed: [NamedSet] = []
        for (new, old) in zip(sets, current.sets) {
            guard new.name == old.name, new.family == old.family, new.source == old.source else { return nil }
            if new.elements != old.elements { changed.append(new) }
        }
        return changed
    }
    public var setCount: Int { sets.count + filterSets.count + portSets.count }
}

/// What rampart applies at most: a policy that compiles to more is refused where it is written
/// (`exec`, `domain push`) and where it would be applied (rampartd, `rampart apply`), never half
/// applied. 10,000 grouped filters are 15 rules; 100,000 ungroupable ones (ranges, lists) about
/// 200,000. Past these, one transaction takes seconds and hundreds of megabytes.
public enum RulesetLimits {
    public static let maxRules = 250_000
    public static let maxElements = 2_000_000

    /// nil when `ruleset` is within the limits, else what is over and what to do.
    public static func problem(_ ruleset: Ruleset) -> String? {
        let elements =
            ruleset.sets.reduce(0) { $0 + $1.elements.count } + ruleset.filterSets.reduce(0) { $0 + $1.elements.count }
            + ruleset.portSets.reduce(0) { $0 + $1.ranges.count }
        if ruleset.ruleCount > maxRules {
            return "the policy compiles to \(ruleset.ruleCount) rules, more than the \(maxRules) rampart applies; "
                + "filters with address ranges cannot be grouped into sets: use subnets (srcmask) or address groups, or split the policy"
        }
        if elements > maxElements {
            return
                "the policy compiles to \(elements) set elements, more than the \(maxElements) rampart applies; split the policy"
        }
        return nil
    }
}

/// A filter's list of ports or port ranges on one side, as an interval set of `inet_service`
/// (`set ports_F12_d { type inet_service; flags interval; elements = { 80, 443, 8000-8080 } }`).
public struct PortSet: Sendable, Equatable {
    public var name: String
    /// Sorted, with overlapping and adjacent ranges merged (as nft keeps an interval set).
    public var ranges: [ClosedRange<UInt16>]

    public init(name: String, ranges: [ClosedRange<UInt16>]) {
        self.name = name
        self.ranges = PortSet.normalize(ranges)
    }

    public func contains(_ port: UInt16) -> Bool { ranges.contains { $0.contains(port) } }

    static func normalize(_ ranges: [ClosedRange<UInt16>]) -> [ClosedRange<UInt16>] {
        var out: [ClosedRange<UInt16>] = []
        for r in ranges.sorted(by: { $0.lowerBound < $1.lowerBound }) {
            if let last = out.last, Int(r.lowerBound) <= Int(last.upperBound) + 1 {
                out[out.count - 1] = last.lowerBound...max(last.upperBound, r.upperBound)
            } else {
                out.append(r)
            }
        }
        return out
    }

    /// `80, 443, 8000-8080`
    public var elementsText: String {
        ranges.map { $0.lowerBound == $0.upperBound ? "\($0.lowerBound)" : "\($0.lowerBound)-\($0.upperBound)" }.joined(
            separator: ", ")
    }
}

/// A named interval set of addresses of one family, filled from the dynamic-address snapshot
/// (a server type's or a host name's addresses).
public struct NamedSet: Sendable, Equatable {
    public var name: String
    public var family: IPAddress.Family
    /// Sorted and merged (nft refuses overlapping interval elements).
    public var elements: [AddressRange]
    /// What fills it: `DNS`, `GATEWAY`, a host name.
    public var source: String

    public init(name: String, family: IPAddress.Family, elements: [AddressRange], source: String) {
        self.name = name
        self.family = family
        self.elements = AddressRange.normalize(elements.filter { $0.family == family })
        self.source = source
    }
}

/// The set of a run of grouped filters: a hash set whose key is the packet's address under one
/// mask, its port, or both concatenated (`ip saddr & 255.255.255.0 . tcp dport`); each element is
/// one filter, carries its id as its comment and counts its own packets.
public struct FilterSet: Sendable, Equatable {
    /// What the rule looks up: which fields, in this order.
    public struct Key: Sendable, Hashable {
        public var address: AddressField?
        public var port: PortField?

        public init(address: AddressField? = nil, port: PortField? = nil) {
            self.address = address
            self.port = port
        }
    }

    /// The packet's source or destination address, masked to `length` bits.
    public struct AddressField: Sendable, Hashable {
        public var side: PacketSide
        public var family: IPAddress.Family
        public var length: Int

        public init(side: PacketSide, family: IPAddress.Family, length: Int) {
            self.side = side
            self.family = family
            self.length = length
        }
    }

    /// The packet's source or destination port of one protocol.
    public struct PortField: Sendable, Hashable {
        public var side: PacketSide
        public var proto: UInt8

        public init(side: PacketSide, proto: UInt8) {
            self.side = side
            self.proto = proto
        }
    }

    public struct Element: Sendable, Hashable, Comparable {
        /// Already masked to the key's length.
        public var address: IPAddress?
        public var port: UInt16?
        /// The filter's id: the element's comment.
        public var id: String

        public init(address: IPAddress? = nil, port: UInt16? = nil, id: String) {
            self.address = address
            self.port = port
            self.id = id
        }

        public static func < (a: Element, b: Element) -> Bool {
            FilterSet.keyLess(a, b) || (!FilterSet.keyLess(b, a) && a.id < b.id)
        }
    }

    public var name: String
    public var key: Key
    /// Sorted by key; no two share a key (the compiler keeps the first-match one).
    public var elements: [Element]

    public init(name: String, key: Key, elements: [Element]) {
        self.name = name
        self.key = key
        self.elements = elements.sorted()
    }

    /// The id of the element `packet` hits, if any.
    public func elementID(_ packet: Packet) -> String? {
        if let a = key.address, packet.source.family != a.family { return nil }
        if let p = key.port, packet.proto != p.proto { return nil }
        let wanted = Element(
            address: key.address.map { a in
                (a.side == .source ? packet.source : packet.destination).masked(prefix: a.length)
            },
            port: key.port.map { $0.side == .source ? packet.sourcePort : packet.destinationPort }, id: "")
        // Sorted by (address, port): a binary search for the first element not below the key.
        var low = 0, high = elements.count
        while low < high {
            let mid = (low + high) / 2
            if FilterSet.keyLess(elements[mid], wanted) { low = mid + 1 } else { high = mid }
        }
        guard low < elements.count, elements[low].address == wanted.address, elements[low].port == wanted.port else {
            return nil
        }
        return elements[low].id
    }

    static func keyLess(_ a: Element, _ b: Element) -> Bool {
        if a.address != b.address, let x = a.address, let y = b.address { return x < y }
        return (a.port ?? 0) < (b.port ?? 0)
    }
}

public struct Chain: Sendable, Equatable {
    public enum Hook: String, Sendable {
        case input, output
    }

    public enum Policy: String, Sendable {
        case accept, drop
    }

    public var name: String
    /// nil: a regular chain, never jumped to (`defrag`).
    public var hook: Hook?
    /// nft's `filter` priority is 0.
    public var priority: Int = 0
    public var policy: Policy
    public var rules: [RuleSpec] = []

    public init(name: String, hook: Hook?, priority: Int = 0, policy: Policy, rules: [RuleSpec] = []) {
        self.name = name
        self.hook = hook
        self.priority = priority
        self.policy = policy
        self.rules = rules
    }
}

extension Chain {
    /// A chain nothing jumps to, holding one `tproxy` rule that never runs: creating it makes the
    /// kernel defragment IPv4 and IPv6 in this namespace (nft_tproxy takes the defragmentation
    /// references, without conntrack), so a fragmented datagram reaches the filters whole and
    /// `udp dport 53` sees every fragment's port (issue 29, item 9; docs/ruleset.md).
    public static var defrag: Chain {
        Chain(
            name: "defrag", hook: nil, policy: .accept,
            rules: [RuleSpec([.l4proto(6)], [.tproxy(port: 1)], id: "defrag")])
    }
}

public enum PacketSide: String, Sendable {
    case source, destination
}

public enum AddressMatch: Sendable, Equatable {
    case prefix(IPAddress, Int)
    case range(IPAddress, IPAddress)
    case set(String, IPAddress.Family)

    public var family: IPAddress.Family {
        switch self {
        case .prefix(let a, _), .range(let a, _): return a.family
        case .set(_, let f): return f
        }
    }
}

/// A route type as `fib … type` reads it (linux/rtnetlink.h's RTN_*, in that order).
public enum FibType: String, Sendable, Comparable, CaseIterable {
    case unicast, local, broadcast, anycast, multicast

    /// RTN_UNICAST 1 … RTN_MULTICAST 5.
    public var rtn: UInt32 {
        switch self {
        case .unicast: return 1
        case .local: return 2
        case .broadcast: return 3
        case .anycast: return 4
        case .multicast: return 5
        }
    }

    public static func < (a: FibType, b: FibType) -> Bool { a.rtn < b.rtn }
}

public enum CtState: String, Sendable {
    case invalid, established, related, new
}

/// One match of a rule. Each case is one nft statement and a fixed bytecode sequence.
public enum Match: Sendable, Equatable {
    case inputInterface(String)
    case outputInterface(String)
    /// `meta iiftype|oiftype >= 512` (dialup) or `< 512` (lan): the link type of the packet's
    /// interface at this hook (`ConnectionType.includes`); never `.all`.
    case linkType(Chain.Hook, ConnectionType)
    case address(PacketSide, AddressMatch)
    /// The key of a filter set (`ip saddr & MASK . tcp dport @name`), in it or not.
    case filterSet(String, FilterSet.Key)
    case fibAddressType(PacketSide, FibType)
    /// `fib daddr type local - multicast`: the address is one this host receives on (its own,
    /// a broadcast, an anycast or a multicast address): what `me` is as a destination.
    case fibAddressTypeRange(PacketSide, FibType, FibType)
    case l4proto(UInt8)
    case port(PacketSide, proto: UInt8, port: UInt16)
    /// `tcp dport 1024-65535`: a port range (an extension).
    case portRange(PacketSide, proto: UInt8, first: UInt16, last: UInt16)
    /// `tcp dport @ports_F12_d`: a list of ports and ranges (an extension), one set per list.
    case portSet(PacketSide, proto: UInt8, set: String)
    /// `tcp flags & MASK == VALUE` (`!=` when negated): an extension.
    case tcpFlags(TCPFlagMatch)
    case icmpv6TypeRange(UInt8, UInt8)
    /// `ip6 hoplimit N` (implies IPv6).
    case hopLimit(UInt8)
    case ctState([CtState])
    /// The packet was decrypted by an IPsec SA (input).
    case ipsecInbound
    /// The packet will be encrypted by an IPsec SA (output).
    case ipsecOutbound
}

public enum Statement: Sendable, Equatable {
    case counter
    case log(prefix: String, group: UInt16)
    case accept
    case drop
    /// `tproxy to :PORT`: only in the `defrag` chain, which nothing jumps to (`Chain.defrag`).
    case tproxy(port: UInt16)
}

public struct RuleSpec: Sendable, Equatable {
    public var matches: [Match]
    public var statements: [Statement]
    /// Carried into the kernel as the rule comment: maps a rule back to its filter (`F12`, `F12m`, `D3`).
    public var id: String
    /// Human-readable origin for listings; not sent to the kernel. Kept as the filter's origin
    /// and spelled out only when asked for: 10,000 filters would otherwise build 10,000 strings.
    public var origin: String {
        get {
            switch originStorage {
            case .text(let text): return text
            case .filter(let origin): return origin.description
            }
        }
        set { originStorage = .text(newValue) }
    }

    enum Origin: Sendable, Equatable {
        case text(String)
        case filter(FilterOrigin)
    }

    var originStorage: Origin

    public init(_ matches: [Match], _ statements: [Statement], id: String, origin: String = "") {
        self.matches = matches
        self.statements = statements
        self.id = id
        originStorage = .text(origin)
    }

    init(_ matches: [Match], _ statements: [Statement], id: String, filter origin: FilterOrigin) {
        self.matches = matches
        self.statements = statements
        self.id = id
        originStorage = .filter(origin)
    }
}

/// One rule's counter as read back from the kernel.
public struct RuleCounter: Sendable, Equatable {
    public var chain: String
    public var handle: UInt64
    /// The rule id from its comment: maps the rule to its filter.
    public var id: String
    public var packets: UInt64
    public var bytes: UInt64
    /// The NFLOG group of the rule's log statement, if it has one.
    public var logGroup: UInt16?
    /// Whether the rule has a counter of its own (a log rule before a drop rule has none).
    public var counted: Bool
    /// 4 or 6 when the rule matches one family only (an `ip`/`ip6` address or `meta nfproto`).
    public var family: UInt8?
    /// For a filter set's element: the set (its rule has the set's name as its id).
    public var set: String?

    public init(
        chain: String, handle: UInt64, id: String, packets: UInt64, bytes: UInt64, logGroup: UInt16? = nil,
        counted: Bool = true, family: UInt8? = nil, set: String? = nil
    ) {
        self.family = family
        self.set = set
        self.chain = chain
        self.handle = handle
        self.id = id
        self.packets = packets
        self.bytes = bytes
        self.logGroup = logGroup
        self.counted = counted
    }

    /// How many packets the rules read back (in chain order) sent to NFLOG `group`: a counted log
    /// rule counts itself; an uncounted one is followed by its drop rule over the same matches
    /// (RulesetCompiler.verdict, Grouping), whose counter saw exactly the packets it logged.
    public static func loggedPackets(_ rules: [RuleCounter], group: UInt16) -> UInt64 {
        var total: UInt64 = 0
        for (i, rule) in rules.enumerated() where rule.logGroup == group {
            if rule.counted {
                total &+= rule.packets
            } else if i + 1 < rules.count, rules[i + 1].chain == rule.chain, rules[i + 1].counted {
                total &+= rules[i + 1].packets
            }
        }
        return total
    }
}
