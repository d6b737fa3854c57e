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
        let sessions = Self.guardedSessions(client: request.sessions ?? [])
        guard !sessions.isEmpty else { return nil }
        let host = Host(LocalAddresses.snapshot())
        let now = wallNow
        // In the boot mode the stored policy is not what filters: every drop is the change's.
        let before: ReferenceEvaluator? =
            if case .policy = enforcement {
                ReferenceEvaluator(store: store, dynamic: dynamic, addresses: addresses, host: host, at: now)
            } else { nil }
        let after = ReferenceEvaluator(store: newStore, dynamic: newDynamic, addresses: addresses, host: host, at: now)
        let cuts = SessionGuard.cuts(sessions, before: before, after: after)
        guard !cuts.isEmpty else { return nil }
        logger.warning("refused a \(request.op.rawValue) request: it would cut \(cuts.map(\.description))")
        return .failure(.wouldCutSession, SessionGuard.refusal(cuts, exec: request.op == .exec))
    }

    /// The established connections in this namespace (/proc/self/net/tcp and tcp6) to local port
    /// 22 or to the port of one of the client's sessions, the client's marked: a session the client
    /// names that does not end here (another namespace, one long gone) cannot be cut by this table.
    static func guardedSessions(client: [String]) -> [Session] {
        let own = Set(client.compactMap(Session.init(sshConnection:)))
        let ports = Set([22] + own.map(\.localPort))
        var found: [Session] = []
        for path in ["/proc/self/net/tcp", "/proc/self/net/tcp6"] {
            guard case .success(let bytes) = SourceFile.read(path, limit: 64 << 20) else { continue }
            found += Session.established(procNetTCP: String(decoding: bytes, as: UTF8.self), localPorts: ports)
        }
        return found.map { session in
            var marked = session
            marked.yours = own.contains { $0.endpoints == session.endpoints }
            return marked
        }
    }
}
