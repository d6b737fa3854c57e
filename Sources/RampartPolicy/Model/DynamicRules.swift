/// Runtime-only state (`netsh ipsec dynamic add …`): held by rampartd in memory and gone on restart.
public struct DynamicState: Hashable, Sendable, Codable {
    public struct MainModePolicy: Hashable, Sendable, Codable {
        public var name: String
        public var qmpermm: Int = 0
        public var mmlifetime: Int = 480
        public var softSAExpirationTime: Int = 0
        public var mmsecmethods: [MainModeOffer] = []

        public init(name: String) { self.name = name }
    }

    public struct QuickModePolicy: Hashable, Sendable, Codable {
        public var name: String
        public var soft: Bool = false
        public var pfsGroup: String = "NOPFS"
        public var qmsecmethods: [QuickModeOffer] = []

        public init(name: String) { self.name = name }
    }

    /// A dynamic rule is one filter with separate inbound and outbound actions.
    public struct Rule: Hashable, Sendable, Codable {
        public var seq: Int
        public var filter: Filter
        public var mmpolicy: String
        public var qmpolicy: String?
        public var connectionType: ConnectionType = .all
        public var inbound: FilterActionKind
        public var outbound: FilterActionKind
        public var tunnelDestination: AddressSpec?
        public var authMethods: [AuthMethod] = []

        public init(seq: Int, filter: Filter, mmpolicy: String, inbound: FilterActionKind, outbound: FilterActionKind) {
            self.seq = seq
            self.filter = filter
            self.mmpolicy = mmpolicy
            self.inbound = inbound
            self.outbound = outbound
        }

        /// Fields that identify a dynamic rule for `dynamic set rule` / `dynamic delete rule`.
        public func sameIdentity(as other: Rule) -> Bool {
            filter.sameMatch(as: other.filter) && connectionType == other.connectionType
                && tunnelDestination == other.tunnelDestination
        }
    }

    public var mainModePolicies: [MainModePolicy] = []
    public var quickModePolicies: [QuickModePolicy] = []
    public var rules: [Rule] = []
    public var sequence: Int = 0

    public init() {}
}
