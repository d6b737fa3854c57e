import FoundationEssentials
import RampartPolicy

/// A change applied with --confirm, waiting for `rampart confirm`.
struct PendingConfirm: Sendable {
    var token: Int
    var deadline: Date
    var previousStore: Store
    var previousDynamic: DynamicState
}

/// The lockout guard's state: at most one change waits for confirmation; each gets a new token,
/// so a deadline armed for an earlier change never rolls back a later one.
struct Confirmation: Sendable {
    private(set) var pending: PendingConfirm?
    private var tokens = 0

    /// A change is applied pending confirmation until `deadline`; its token names the rollback timer.
    mutating func begin(deadline: Date, previousStore: Store, previousDynamic: DynamicState) -> PendingConfirm {
        tokens += 1
        let change = PendingConfirm(
            token: tokens, deadline: deadline, previousStore: previousStore, previousDynamic: previousDynamic)
        pending = change
        return change
    }

    /// The change is confirmed, rolled back or abandoned: its deadline is disarmed.
    mutating func end() -> [Effect] {
        defer { pending = nil }
        return pending.map { [.cancel(.confirmDeadline(token: $0.token))] } ?? []
    }

    /// The change whose deadline `token` was armed for, if it still waits.
    func waiting(_ token: Int) -> PendingConfirm? {
        pending?.token == token ? pending : nil
    }
}
