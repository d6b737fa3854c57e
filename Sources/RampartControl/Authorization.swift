import RampartPolicy

/// Who is asking, from the peer's credentials.
public enum Role: String, Sendable, CaseIterable {
    /// uid 0.
    case admin
    /// A member of the control group.
    case member
    /// Anyone else.
    case outsider
}

/// What a request may do. Decided once, from the operation and the parsed commands: never from
/// the words as typed, so no spelling, abbreviation or embedded blank changes the answer.
public enum Decision: Sendable, Equatable {
    /// Reads only: runs on a copy, applies and writes nothing.
    case query
    /// Changes the store or the runtime state (logged with the peer).
    case change
    case denied(String)
}

public enum Authorization {
    public static func decide(
        _ operation: ControlOperation, script: ParsedScript?, dryRun: Bool, role: Role, group: String
    ) -> Decision {
        guard role != .outsider else {
            return .denied("permission denied: only root and members of group \(group) may use rampartd")
        }
        let needsRoot = Decision.denied("permission denied: '\(operation.rawValue)' changes the policy and needs root")
        switch operation {
        case .status, .active, .counters, .dump, .dynamic, .explain, .metrics, .monitor:
            return .query
        case .reload, .confirm:
            return role == .admin ? .change : needsRoot
        case .netsh, .exec, .import:
            guard let script else { return .denied("no commands to authorize") }
            if script.isQuery { return .query }
            if dryRun && operation != .netsh {
                // importpolicy reads a file as rampartd (root): a dry run would still show its lines.
                if role != .admin, let reader = script.commands.first(where: { $0.spec.readsFiles }) {
                    return .denied(
                        "permission denied: \(reader.location): '\(reader.spec.name)' reads files with rampartd's privileges and needs root, even in a dry run"
                    )
                }
                return .query
            }
            return role == .admin ? .change : needsRoot
        }
    }
}
