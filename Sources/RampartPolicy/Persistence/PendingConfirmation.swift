import FoundationEssentials

/// A change applied with `rampart exec --confirm`, waiting for `rampart confirm`.
public struct PendingConfirmation: Sendable, Equatable {
    /// When the rollback is due (wall clock, for people and for a restart).
    public var deadline: Date
    /// The store to return to.
    public var previous: Store
    /// Who made the change: `pid 123 uid 0 gid 0`.
    public var requestedBy: String

    public init(deadline: Date, previous: Store, requestedBy: String) {
        self.deadline = deadline
        self.previous = previous
        self.requestedBy = requestedBy
    }
}

extension DynamicConfig.BootMode {
    /// permit < stateful < block.
    public var strictness: Int {
        switch self {
        case .permit: return 0
        case .stateful: return 1
        case .block: return 2
        }
    }
}

extension DynamicConfig {
    /// Boot settings no more permissive than either: the stricter boot mode, and only the boot
    /// exemptions both have. The other settings are `b`'s.
    public static func bootMeet(_ a: DynamicConfig, _ b: DynamicConfig) -> DynamicConfig {
        var out = b
        if a.bootMode.strictness > b.bootMode.strictness { out.bootMode = a.bootMode }
        out.bootExemptions = b.bootExemptions.filter { a.bootExemptions.contains($0) }
        return out
    }
}
