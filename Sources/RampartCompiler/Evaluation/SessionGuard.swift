import RampartPolicy

/// An established TCP connection of this host's that a change must not cut: the admin's own SSH
/// session, or any connection to a local SSH port.
public struct Session: Sendable, Equatable, Hashable, CustomStringConvertible {
    public var remote: IPAddress
    public var remotePort: UInt16
    public var local: IPAddress
    public var localPort: UInt16
    /// The session the client runs in (its `SSH_CONNECTION`).
    public var yours = false
    /// The link type of the interface of its local address (`conntype=`): Ethernet unless known.
    public var linkType: UInt16 = 1

    public init(remote: IPAddress, remotePort: UInt16, local: IPAddress, localPort: UInt16) {
        (self.remote, self.remotePort, self.local, self.localPort) = (remote, remotePort, local, localPort)
    }

    /// OpenSSH's `SSH_CONNECTION`: "client-address client-port server-address server-port".
    public init?(sshConnection: String) {
        let words = sshConnection.split(separator: " ")
        guard words.count == 4, let remote = IPAddress(words[0]).map(Self.unmapped),
            let local = IPAddress(words[2]).map(Self.unmapped), let rp = UInt16(words[1]), let lp = UInt16(words[3]),
            remote.family == local.family
        else { return nil }
        self.init(remote: remote, remotePort: rp, local: local, localPort: lp)
    }

    /// The four numbers that name the connection.
    public var endpoints: String {
        func endpoint(_ a: IPAddress, _ port: UInt16) -> String {
            a.family == .ipv6 ? "[\(a)]:\(port)" : "\(a):\(port)"
        }
        return "\(endpoint(remote, remotePort)) -> \(endpoint(local, localPort))"
    }

    public var description: String { yours ? "your session \(endpoints)" : "session \(endpoints)" }

    /// The established connections in a `/proc/net/tcp` or `/proc/net/tcp6` text whose local port
    /// is one of `ports`. Addresses there are the kernel's network-order words printed as native
    /// integers; ports are in host order.
    public static func established(procNetTCP text: String, localPorts ports: Set<UInt16>) -> [Session] {
        text.split(separator: "\n").dropFirst().compactMap { line in
            let fields = line.split(separator: " ")
            guard fields.count > 3, fields[3] == "01" else { return nil }
            guard let (local, localPort) = endpoint(fields[1]), ports.contains(localPort),
                let (remote, remotePort) = endpoint(fields[2])
            else { return nil }
            return Session(remote: remote, remotePort: remotePort, local: local, localPort: localPort)
        }
    }

    /// The sessions a change must not cut, in the caller's network namespace: the established
    /// connections to local port 22 and to the local port of each of the client's own sessions
    /// (`SSH_CONNECTION` values), the client's marked. A session the client names that does not
    /// end here (another namespace, one long gone) cannot be cut by this table and is left out.
    /// `read` gives /proc/self/net/tcp and tcp6 (nil: unreadable).
    public static func guarded(client: [String], read: (String) -> String?) -> [Session] {
        let own = Set(client.compactMap(Session.init(sshConnection:)))
        let ports = Set([22] + own.map(\.localPort))
        let found = ["/proc/self/net/tcp", "/proc/self/net/tcp6"].compactMap(read).flatMap {
            established(procNetTCP: $0, localPorts: ports)
        }
        return found.map { session in
            var marked = session
            marked.yours = own.contains { $0.endpoints == session.endpoints }
            return marked
        }
    }

    static func endpoint(_ field: Substring) -> (IPAddress, UInt16)? {
        let parts = field.split(separator: ":")
        guard parts.count == 2, let port = UInt16(parts[1], radix: 16), parts[0].count == 8 || parts[0].count == 32
        else { return nil }
        var bytes: [UInt8] = []
        var rest = parts[0]
        while !rest.isEmpty {
            guard let word = UInt32(rest.prefix(8), radix: 16) else { return nil }
            withUnsafeBytes(of: word) { bytes += $0 }
            rest = rest.dropFirst(8)
        }
        let numeric = bytes.reduce(UInt128(0)) { $0 << 8 | UInt128($1) }
        let address: IPAddress = bytes.count == 4 ? .v4(UInt32(numeric)) : IPAddress(family: .ipv6, numeric: numeric)
        return (unmapped(address), port)
    }

    /// An IPv4-mapped IPv6 address (`::ffff:192.0.2.1`, a v4 client of a v6 socket) as IPv4.
    static func unmapped(_ a: IPAddress) -> IPAddress {
        guard case .v6(let v) = a, v >> 32 == 0xffff else { return a }
        return .v4(UInt32(truncatingIfNeeded: v))
    }
}

/// Whether a change cuts an established session: its packets, both ways, through the policy in
/// force and through the new one (the reference evaluator). A session the policy in force already
/// drops is not the change's doing and is not reported.
public enum SessionGuard {
    public struct Cut: Sendable, Equatable, CustomStringConvertible {
        public var session: Session
        /// "arriving" or "leaving".
        public var direction: String
        /// The filter that drops it (`F3 [local/P/r/L/#1]`), or the fixed rule.
        public var decidedBy: String

        public var description: String {
            "\(session): its \(direction) packets would be dropped by \(decidedBy)"
        }
    }

    public static func cuts(_ sessions: [Session], before: ReferenceEvaluator?, after: ReferenceEvaluator) -> [Cut] {
        var cuts: [Cut] = []
        for session in Set(sessions).sorted(by: { ($0.yours ? 0 : 1, $0.endpoints) < ($1.yours ? 0 : 1, $1.endpoints) })
        {
            for (hook, packet) in packets(session) {
                let now = before?.verdict(packet, hook).action ?? .accept
                let explanation = after.explain(packet, hook)
                guard now == .accept, explanation.verdict.action == .drop else { continue }
                let by =
                    explanation.filter.map { "\($0.id) [\($0.origin)]" } ?? explanation.verdict.decidedBy
                    ?? "the policy"
                cuts.append(Cut(session: session, direction: hook == .input ? "arriving" : "leaving", decidedBy: by))
                break
            }
        }
        return cuts
    }

    /// The sessions with the link types of their local addresses' interfaces.
    public static func onLinks(_ sessions: [Session], _ types: [IPAddress: UInt16]) -> [Session] {
        sessions.map { s in
            var s = s
            s.linkType = types[s.local] ?? 1
            return s
        }
    }

    /// The session's next packets: an ACK arriving from the peer, one leaving for it.
    static func packets(_ s: Session) -> [(Chain.Hook, Packet)] {
        [
            (
                .input,
                Packet(
                    source: s.remote, destination: s.local, proto: 6, sourcePort: s.remotePort,
                    destinationPort: s.localPort, tcpFlags: 0x10, conntrack: .established
                ).onLink(s.linkType)
            ),
            (
                .output,
                Packet(
                    source: s.local, destination: s.remote, proto: 6, sourcePort: s.localPort,
                    destinationPort: s.remotePort, tcpFlags: 0x10, conntrack: .established
                ).onLink(s.linkType)
            )
        ]
    }

    /// How the refused change can still be tried: again with --confirm (a script through
    /// rampartd), from a file with it (a single command), or only in a test namespace (offline
    /// apply, where nothing rolls back).
    public enum Retry: Sendable { case execConfirm, fileConfirm, testNamespace }

    /// The refusal: each session cut and what cuts it, nothing changed, and the two ways on.
    public static func refusal(_ cuts: [Cut], retry: Retry) -> String {
        let list = cuts.map { "  \($0)" }.joined(separator: "\n")
        let what = cuts.count == 1 ? "an established SSH session" : "\(cuts.count) established SSH sessions"
        let rollback = ": the previous policy comes back unless 'rampart confirm' follows within 60 seconds."
        let first: String
        switch retry {
        case .execConfirm: first = "To try it with an automatic rollback, run it again with --confirm 60" + rollback
        case .fileConfirm:
            first =
                "To try it with an automatic rollback, put the commands in a file and run 'rampart exec --confirm 60 FILE'"
                + rollback
        case .testNamespace:
            first =
                "Nothing rolls back a one-shot apply: try the policy in a test namespace first ('ip netns exec test rampart apply'), or through rampartd with 'rampart exec --confirm 60'."
        }
        return """
            this change would cut \(what); nothing was changed:
            \(list)
            \(first)
            To apply it anyway, add --force (or set RAMPART_ASSUME_YES=1).
            """
    }
}
