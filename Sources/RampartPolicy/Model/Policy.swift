public enum FilterActionKind: String, Codable, Sendable, CaseIterable {
    case permit, block, negotiate

    /// Tie-break (d) of the ordering: block > negotiate > permit.
    public var restrictiveness: Int {
        switch self {
        case .block: return 0
        case .negotiate: return 1
        case .permit: return 2
        }
    }
}

public struct FilterAction: Hashable, Sendable, Codable {
    public var name: String
    public var description: String = ""
    public var guid: String
    public var seq: Int
    public var action: FilterActionKind
    public var qmpfs: Bool = false
    public var inpass: Bool = false
    public var soft: Bool = false
    public var qmsecmethods: [QuickModeOffer] = []

    public init(name: String, guid: String, seq: Int, action: FilterActionKind) {
        self.name = name
        self.guid = guid
        self.seq = seq
        self.action = action
    }
}

public enum ConnectionType: String, Codable, Sendable, CaseIterable {
    case lan, dialup, all

    /// Link types (ARPHRD_*) from here up are point-to-point or raw-IP links: PPP (512), raw-IP
    /// modems (519), IP-in-IP, SIT and GRE tunnels (768 and up), tun and WireGuard (65534). Below
    /// it: Ethernet and what presents itself as Ethernet (Wi-Fi, bridges, bonds, VLANs, veth,
    /// macvlan, tap), InfiniBand. Loopback (772) never reaches a filter.
    public static let firstDialupLinkType: UInt16 = 512

    /// Whether a rule of this connection type applies on an interface of link type `type`.
    public func includes(linkType type: UInt16) -> Bool {
        switch self {
        case .all: return true
        case .lan: return type < Self.firstDialupLinkType
        case .dialup: return type >= Self.firstDialupLinkType
        }
    }
}

public struct Rule: Hashable, Sendable, Codable {
    public var id: Int
    public var name: String
    public var description: String = ""
    public var seq: Int
    public var filterList: String
    public var filterAction: String
    public var tunnel: AddressSpec?
    public var connectionType: ConnectionType = .all
    public var active: Bool = true
    public var authMethods: [AuthMethod] = []
    /// An extension: the rule is in force only inside this schedule's windows (nil: always).
    public var schedule: String? = nil

    public init(id: Int, name: String, seq: Int, filterList: String, filterAction: String) {
        self.id = id
        self.name = name
        self.seq = seq
        self.filterList = filterList
        self.filterAction = filterAction
    }
}

/// The default response rule: it answers IKE requests only, so for a packet filter it is inert but kept.
public struct DefaultResponseRule: Hashable, Sendable, Codable {
    public var active: Bool = true
    public var qmpfs: Bool = false
    public var qmsecmethods: [QuickModeOffer] = []
    public var authMethods: [AuthMethod] = []

    public init() {}
}

public struct Policy: Hashable, Sendable, Codable {
    public var name: String
    public var description: String = ""
    public var guid: String
    public var seq: Int
    public var assigned: Bool = false
    public var mmpfs: Bool = false
    public var qmpermm: Int = 0
    /// Minutes.
    public var mmlifetime: Int = 480
    /// Seconds.
    public var pollingInterval: Int = 10800
    public var mmsecmethods: [MainModeOffer] = []
    public var defaultRule = DefaultResponseRule()
    public var rules: [Rule] = []
    public var nextRuleID: Int = 1

    public init(name: String, guid: String, seq: Int) {
        self.name = name
        self.guid = guid
        self.seq = seq
    }
}
