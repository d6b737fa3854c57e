import RampartVici

/// What charon reports over VICI that an admin needs to see: SAs coming up and going down, rekeys,
/// and negotiation failures with their reason — Windows' "IKE security association negotiation
/// failed" (event 547) with the failure point and reason.
public enum IPsecEvent: Sendable, Equatable {
    case ikeUp(connection: String, peer: String)
    case ikeDown(connection: String, peer: String)
    case ikeRekey(connection: String)
    case childUp(connection: String, child: String)
    case childDown(connection: String, child: String)
    case childRekey(connection: String, child: String)
    case failure(connection: String?, peer: String?, reason: String)

    /// The VICI events rampartd registers for.
    public static let registrations = ["ike-updown", "child-updown", "ike-rekey", "child-rekey", "log"]

    /// charon's level-0/1 log lines that mean a negotiation failed (src/libcharon/sa/ikev*/…).
    static let failureMarkers = [
        "AUTHENTICATION_FAILED", "MAC mismatched", "no shared key found", "NO_PROPOSAL_CHOSEN",
        "no acceptable proposal", "TS_UNACCEPTABLE", "traffic selectors unacceptable", "no matching peer config",
        "peer not responding", "giving up after", "establishing IKE_SA failed", "establishing CHILD_SA",
        "failed to establish CHILD_SA", "unable to add SAD entry", "unable to install", "INVALID_KE_PAYLOAD",
        "authentication of", "no trusted", "constraint check failed"
    ]

    /// Parses one event; nil for what is not worth a record (most log lines).
    public static func parse(name: String, _ m: ViciMessage) -> IPsecEvent? {
        func first() -> (String, ViciMessage)? {
            for (k, v) in m.entries { if case .section(let s) = v { return (k, s) } }
            return nil
        }
        switch name {
        case "ike-updown":
            guard let (conn, sa) = first() else { return nil }
            let peer = sa.string("remote-host") ?? "?"
            return m.string("up") == "yes"
                ? .ikeUp(connection: conn, peer: peer) : .ikeDown(connection: conn, peer: peer)
        case "child-updown":
            guard let (conn, sa) = first() else { return nil }
            let child =
                sa.section("child-sas")?.entries.first.flatMap { e -> String? in
                    if case .section(let c) = e.value { return c.string("name") ?? e.key } else { return nil }
                } ?? "?"
            return m.string("up") == "yes"
                ? .childUp(connection: conn, child: child) : .childDown(connection: conn, child: child)
        case "ike-rekey":
            guard let (conn, _) = first() else { return nil }
            return .ikeRekey(connection: conn)
        case "child-rekey":
            guard let (conn, sa) = first() else { return nil }
            let child = sa.section("child-sas")?.entries.first?.key ?? "?"
            return .childRekey(connection: conn, child: child)
        case "log":
            guard let text = m.string("msg"), let level = m.string("level").flatMap(Int.init), level <= 1 else {
                return nil
            }
            // "authentication of 'X' with pre-shared key successful" is not a failure.
            guard failureMarkers.contains(where: { text.contains($0) }), !text.hasSuffix("successful") else {
                return nil
            }
            if text.hasPrefix("authentication of") && !text.contains("failed") { return nil }
            if text.hasPrefix("establishing CHILD_SA") && !text.contains("failed") { return nil }
            let conn = m.string("ikesa-name").flatMap { $0.isEmpty || $0 == "(unnamed)" ? nil : $0 }
            return .failure(connection: conn, peer: address(in: text), reason: text)
        default:
            return nil
        }
    }

    /// The first IPv4 or IPv6 address in a log line (charon writes peers as `192.0.2.1[500]` or `'192.0.2.1'`).
    static func address(in text: String) -> String? {
        let separators: Set<Character> = [" ", "'", "[", "]", ",", "(", ")"]
        for token in text.split(whereSeparator: { separators.contains($0) }) {
            let t = String(token)
            if t.split(separator: ".").count == 4, t.split(separator: ".").allSatisfy({ UInt8($0) != nil }) { return t }
            if t.contains(":"), t.count >= 3, t.allSatisfy({ $0.isHexDigit || $0 == ":" }),
                t.filter({ $0 == ":" }).count >= 2
            {
                return t
            }
        }
        return nil
    }
}
