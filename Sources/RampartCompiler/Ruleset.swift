import RampartPolicy

/// The nftables ruleset rampart owns, as plain values: what the nft text renderer prints and
/// what the netlink layer will linearize. It uses only named sets and single-value matches
/// (no anonymous sets), so every rule maps to a short, fixed expression sequence.
public struct Ruleset: Sendable, Equatable {
    public static let tableName = "rampart"

    public var sets: [NamedSet] = []
    public var chains: [Chain] = []

    public init(sets: [NamedSet] = [], chains: [Chain] = []) {
        self.sets = sets
        self.chains = chains
    }

    public var ruleCount: Int { chains.reduce(0) { $0 + $1.rules.count } }
}

/// A named interval set of addresses of one family: filled from the dynamic-address snapshot
/// (a server type's or a host name's addresses), or a *filter set*, the addresses of a run of
/// filters the compiler grouped into one rule, each element carrying its filter's id.
public struct NamedSet: Sendable, Equatable {
    /// What fills a set of filters.
    public static let filterSource = "filters"

    public var name: String
    public var family: IPAddress.Family
    /// Sorted; merged for address sets (nft refuses overlapping interval elements). A filter set's
    /// elements never overlap and are not merged: each is one filter.
    public var elements: [AddressRange]
    /// For a filter set: the id of the filter each element comes from (the element's comment).
    public var elementIDs: [String] = []
    /// What fills it: `DNS`, `GATEWAY`, a host name, or `filters`.
    public var source: String

    public init(name: String, family: IPAddress.Family, elements: [AddressRange], source: String) {
        self.name = name
        self.family = family
        self.elements = AddressRange.normalize(elements.filter { $0.family == family })
        self.source = source
    }

    /// A filter set: `elements` must not overlap (the compiler guarantees it).
    public init(filterSet name: String, family: IPAddress.Family, elements: [(range: AddressRange, id: String)]) {
        self.name = name
        self.family = family
        let sorted = elements.sorted { $0.range < $1.range }
        self.elements = sorted.map(\.range)
        elementIDs = sorted.map(\.id)
        source = NamedSet.filterSource
    }

    /// Elements carry counters and their filters' ids.
    public var isFilterSet: Bool { source == NamedSet.filterSource }

    /// The id of the element that holds `address`, for a filter set.
    public func elementID(containing address: IPAddress) -> String? {
        guard address.family == family else { return nil }
        // Sorted and disjoint: a binary search on the first address.
        var low = 0, high = elements.count
        while low < high {
            let mid = (low + high) / 2
            if elements[mid].first.numeric <= address.numeric { low = mid + 1 } else { high = mid }
        }
        guard low > 0, address.numeric <= elements[low - 1].last.numeric else { return nil }
        return elementIDs.isEmpty ? "" : elementIDs[low - 1]
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
    public var hook: Hook
    /// nft's `filter` priority is 0.
    public var priority: Int = 0
    public var policy: Policy
    public var rules: [RuleSpec] = []

    public init(name: String, hook: Hook, priority: Int = 0, policy: Policy, rules: [RuleSpec] = []) {
        self.name = name
        self.hook = hook
        self.priority = priority
        self.policy = policy
        self.rules = rules
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

public enum FibType: String, Sendable {
    case local, broadcast, multicast
}

public enum CtState: String, Sendable {
    case invalid, established, related, new
}

/// One match of a rule. Each case is one nft statement and a fixed bytecode sequence.
public enum Match: Sendable, Equatable {
    case inputInterface(String)
    case outputInterface(String)
    case address(PacketSide, AddressMatch)
    case fibAddressType(PacketSide, FibType)
    case l4proto(UInt8)
    case port(PacketSide, proto: UInt8, port: UInt16)
    case icmpv6TypeRange(UInt8, UInt8)
    case ctState([CtState])
    /// The packet was decrypted by an IPsec SA (input).
    case ipsecInbound
    /// The packet will be encrypted by an IPsec SA (output).
    case ipsecOutbound
}

public enum Statement: Sendable, Equatable {
    case counter
    case limit(perSecond: Int)
    case log(prefix: String, group: UInt16)
    case accept
    case drop
}

public struct RuleSpec: Sendable, Equatable {
    public var matches: [Match]
    public var statements: [Statement]
    /// Carried into the kernel as the rule comment: maps a rule back to its filter (`F12`, `F12m`, `D3`).
    public var id: String
    /// Human-readable origin for listings; not sent to the kernel.
    public var origin: String

    public init(_ matches: [Match], _ statements: [Statement], id: String, origin: String = "") {
        self.matches = matches
        self.statements = statements
        self.id = id
        self.origin = origin
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

    public init(chain: String, handle: UInt64, id: String, packets: UInt64, bytes: UInt64) {
        self.chain = chain
        self.handle = handle
        self.id = id
        self.packets = packets
        self.bytes = bytes
    }
}
