/// The domain policy of a fleet (docs/fleet.md): a netsh script published in etcd for a group
/// of hosts. As with Group Policy, an assigned domain policy replaces the local store's assigned
/// policy; the persistent store still applies first. It is held beside the store, never in it:
/// the store file stays what the admin of this host wrote.
public struct DomainLayer: Hashable, Sendable {
    /// The etcd group the policy was published for.
    public var group: String
    /// The etcd mod_revision of the policy key: what `rampart domain status` compares.
    public var revision: Int64
    /// When this host received it (seconds since the epoch).
    public var arrived: Double
    /// Enforced from the on-disk cache, not (yet) confirmed by etcd since this start.
    public var cached: Bool
    /// The objects the script made.
    public var store: PolicyStore

    public init(group: String, revision: Int64, arrived: Double, cached: Bool, store: PolicyStore) {
        self.group = group
        self.revision = revision
        self.arrived = arrived
        self.cached = cached
        self.store = store
    }
}

/// What a domain script may contain and what it makes. A domain script describes policy
/// objects only: it runs against an empty store, must assign exactly one policy, and may not
/// reach the host's runtime state (dynamic commands), its other store, or its files.
public enum DomainScript {
    public static let maximumBytes = 1 << 20

    public static func evaluate(_ text: String, file: String) throws(Diagnostic) -> PolicyStore {
        let start = SourceLocation(file: file, line: 1, column: 1)
        guard text.utf8.count <= maximumBytes else {
            throw .error(
                "a domain script is limited to \(maximumBytes) bytes; this one has \(text.utf8.count)", at: start)
        }
        let script = try ScriptPlan.exec(text, file: file)
        for command in script.commands {
            let spec = command.spec
            if spec.context == .dynamic {
                throw .error(
                    "'\(spec.name)' changes the runtime state of one host; a domain policy holds static objects only (set boot mode and logging in each host's store)",
                    at: command.location)
            }
            switch (spec.verb, spec.noun) {
            case ("set", "store"?):
                throw .error(
                    "'static set store' in a domain script: a domain policy is its own store", at: command.location)
            case ("importpolicy", nil), ("exportpolicy", nil):
                throw .error(
                    "'\(spec.name)' reads or writes files of the host; a domain script must be self-contained",
                    at: command.location)
            default:
                break
            }
        }
        var interpreter = Interpreter(
            store: Store(), workingDirectory: "/",
            readFile: { path in
                throw Diagnostic.error("a domain script reads no file (\(path))", at: nil)
            })
        interpreter.location = .local
        try ScriptRunner.run(script, in: &interpreter)
        let made = interpreter.store.local
        let assigned = made.policies.filter(\.assigned)
        guard assigned.count == 1 else {
            throw .error(
                assigned.isEmpty
                    ? "the domain script assigns no policy (add 'assign=yes' to one policy): hosts would enforce nothing from it"
                    : "the domain script assigns \(assigned.count) policies; exactly one can be in force",
                at: start)
        }
        return made
    }
}

/// Group and host names in etcd keys: one path segment, nothing to escape.
public enum FleetNames {
    public static func valid(_ name: String) -> Bool {
        !name.isEmpty && name.utf8.count <= 64 && name != "." && name != ".."
            && name.utf8.allSatisfy { c in
                (c >= 0x30 && c <= 0x39) || (c >= 0x41 && c <= 0x5a) || (c >= 0x61 && c <= 0x7a) || c == 0x2d
                    || c == 0x5f || c == 0x2e
            }
    }
}
