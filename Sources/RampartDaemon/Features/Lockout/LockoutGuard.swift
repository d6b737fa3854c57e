import FoundationEssentials
import RampartCompiler
import RampartControl
import RampartPolicy
import RampartSystem

extension PolicyEngine {
    /// The lockout guard (docs/rampart.md, "Changes that would cut an SSH session"): before a
    /// change is applied, the sessions it must not cut — the client's own (`SSH_CONNECTION`) and
    /// every established connection to a local SSH port in rampartd's namespace — go through the
    /// policy in force and the new one (the reference evaluator). A change that drops one is
    /// refused, naming the session and the filter; `--confirm` (which rolls back by itself) and
    /// `--force` apply it anyway.
    func lockoutRefusal(_ newStore: Store, _ newDynamic: DynamicState, _ request: ControlRequest) -> ControlResponse? {
        guard request.force != true, request.confirmSeconds == nil, request.dryRun != true else { return nil }
        let cuts = sessionCuts(client: request.sessions ?? [], from: store, to: newStore, newDynamic)
        guard !cuts.isEmpty else { return nil }
        logger.warning("refused a \(request.op.rawValue) request: it would cut \(cuts.map(\.description))")
        return .failure(
            .wouldCutSession, SessionGuard.refusal(cuts, retry: request.op == .exec ? .execConfirm : .fileConfirm))
    }

    /// The sessions (the client's and every established one to a local SSH port) that the policy
    /// in force lets through and `newStore` would drop.
    func sessionCuts(
        client: [String], from current: Store, to newStore: Store, _ newDynamic: DynamicState
    )
        -> [SessionGuard.Cut]
    {
        let found = Session.guarded(client: client) { SourceFile.text($0, limit: 64 << 20) }
        guard !found.isEmpty else { return [] }
        let sessions = SessionGuard.onLinks(found, LocalAddresses.linkTypes())
        let host = Host(LocalAddresses.snapshot())
        let now = wallNow
        // In the boot mode the stored policy is not what filters: every drop is the change's.
        let before: ReferenceEvaluator? =
            if case .policy = enforcement {
                ReferenceEvaluator(store: current, dynamic: dynamic, addresses: addresses, host: host, at: now)
            } else { nil }
        let after = ReferenceEvaluator(store: newStore, dynamic: newDynamic, addresses: addresses, host: host, at: now)
        return SessionGuard.cuts(sessions, before: before, after: after)
    }
}
