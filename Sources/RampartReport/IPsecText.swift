import RampartPolicy
import RampartVici

/// The IPsec views as text (`rampart monitor`, `show mmsas|qmsas|stats`, `rampart sas`).
extension IPsecView {
    var unavailable: String { "charon is not reachable: \(charonError ?? "no answer")\n" }

    public func mainModeText() -> String {
        guard let l = listing else { return "Main mode security associations (IKE_SAs): unknown, \(unavailable)" }
        var out = "Main mode security associations (IKE_SAs): \(l.ike.count)\n"
        if !l.ike.isEmpty {
            out += TextTable.render(
                [
                    [
                        "CONNECTION", "VERSION", "STATE", "LOCAL", "PEER", "PEER ID", "BEHIND NAT", "ALGORITHMS",
                        "UP (s)", "REKEY (s)"
                    ]
                ]
                    + l.ike.map {
                        [
                            $0.connection, $0.version, $0.state, SAListing.IKE.endpoint($0.local, $0.localPort),
                            SAListing.IKE.endpoint($0.peer, $0.peerPort),
                            $0.peerID, $0.nat, $0.algorithms, $0.establishedSeconds, $0.rekeySeconds
                        ]
                    })
        }
        return out
    }

    public func quickModeText() -> String {
        guard let l = listing else { return "Quick mode security associations (CHILD_SAs): unknown, \(unavailable)" }
        var out = "Quick mode security associations (CHILD_SAs): \(l.children.count)\n"
        if !l.children.isEmpty {
            out += TextTable.render(
                [
                    [
                        "CONNECTION", "FILTER", "STATE", "MODE", "PROTO", "ALGORITHMS", "BYTES IN", "PKTS IN",
                        "BYTES OUT", "PKTS OUT", "LIFE (s)", "SELECTORS"
                    ]
                ]
                    + l.children.map {
                        [
                            $0.connection, $0.name, $0.state, $0.mode,
                            $0.udpEncapsulated ? "\($0.protocol_)-in-UDP" : $0.protocol_, $0.algorithms, $0.bytesIn,
                            $0.packetsIn, $0.bytesOut,
                            $0.packetsOut, $0.lifeSeconds,
                            "\($0.localTS.joined(separator: ",")) === \($0.remoteTS.joined(separator: ","))"
                        ]
                    })
        }
        return out
    }

    /// `show stats`: `ike` (charon and rampartd's event counts), `ipsec` (the kernel's xfrm counters), or both.
    public func statsText(ike: Bool = true, ipsec: Bool = true) -> String {
        var out = ""
        if ike {
            out += "IKE (main mode) statistics\n"
            var rows: [[String]] = []
            if charonError != nil { rows.append(["charon", "not reachable: \(charonError!)"]) }
            if let charonSince { rows.append(["charon", "running since \(charonSince)"]) }
            for c in charon { rows.append([c.name, String(c.value)]) }
            for c in daemon ?? [] { rows.append([c.name, String(c.value)]) }
            if let lastFailure { rows.append(["Last negotiation failure", lastFailure]) }
            if daemon == nil { rows.append(["(rampartd's event counts)", "not running or not asked"]) }
            out += TextTable.render(rows)
        }
        if ipsec {
            out += (ike ? "\n" : "") + "IPsec (quick mode) statistics, this host's kernel\n"
            if let xfrm {
                var rows = XfrmStats.labels.compactMap { key, label in xfrm[key].map { [label, String($0), key] } }
                let sas = listing?.children ?? []
                let sum: (KeyPath<SAListing.Child, String>) -> String = { kp in
                    String(sas.reduce(UInt64(0)) { $0 + (UInt64($1[keyPath: kp]) ?? 0) })
                }
                if listing != nil {
                    rows.insert(["Bytes protected, received (current SAs)", sum(\.bytesIn), "charon"], at: 0)
                    rows.insert(["Bytes protected, sent (current SAs)", sum(\.bytesOut), "charon"], at: 1)
                }
                out += TextTable.render(rows)
            } else {
                out += "  the kernel keeps no xfrm statistics (/proc/net/xfrm_stat is missing)\n"
            }
        }
        return out
    }
}

extension IPsecView {
    /// The answer to one `show mmsas|qmsas|stats`.
    public func text(_ q: IPsecQuery) -> String {
        let v = selecting(source: q.source, destination: q.destination)
        switch q.view {
        case .mainMode: return v.mainModeText()
        case .quickMode: return v.quickModeText()
        case .stats: return v.statsText(ike: q.ike, ipsec: q.ipsec)
        }
    }

    public func json(_ q: IPsecQuery) -> JSONValue {
        let v = selecting(source: q.source, destination: q.destination)
        let error: JSONValue = charonError.map { .string($0) } ?? .null
        switch q.view {
        case .mainMode:
            let rows = (v.listing?.ike ?? []).map { s -> JSONValue in
                .object([
                    ("connection", .string(s.connection)), ("version", .string(s.version)), ("state", .string(s.state)),
                    ("local", .string(s.local)), ("peer", .string(s.peer)), ("peer_id", .string(s.peerID)),
                    ("algorithms", .string(s.algorithms)), ("established_seconds", .string(s.establishedSeconds)),
                    ("rekey_seconds", .string(s.rekeySeconds)), ("behind_nat", .string(s.nat)),
                    ("local_port", .string(s.localPort)), ("peer_port", .string(s.peerPort))
                ])
            }
            return .object([("mmsas", v.listing == nil ? .null : .array(rows)), ("charon_error", error)])
        case .quickMode:
            let rows = (v.listing?.children ?? []).map { c -> JSONValue in
                .object([
                    ("connection", .string(c.connection)), ("filter", .string(c.name)), ("state", .string(c.state)),
                    ("mode", .string(c.mode)), ("protocol", .string(c.protocol_)),
                    ("algorithms", .string(c.algorithms)),
                    ("bytes_in", .string(c.bytesIn)), ("packets_in", .string(c.packetsIn)),
                    ("bytes_out", .string(c.bytesOut)),
                    ("packets_out", .string(c.packetsOut)), ("life_seconds", .string(c.lifeSeconds)),
                    ("local_ts", .array(c.localTS.map { .string($0) })),
                    ("remote_ts", .array(c.remoteTS.map { .string($0) })),
                    ("udp_encapsulated", .bool(c.udpEncapsulated))
                ])
            }
            return .object([("qmsas", v.listing == nil ? .null : .array(rows)), ("charon_error", error)])
        case .stats:
            var fields: [(String, JSONValue)] = [("charon_error", error)]
            if q.ike {
                fields.append(("charon", .object(charon.map { ($0.name, .int($0.value)) })))
                fields.append(("charon_since", charonSince.map { .string($0) } ?? .null))
                fields.append(("rampartd", daemon.map { d in .object(d.map { ($0.name, .int($0.value)) }) } ?? .null))
                fields.append(("last_failure", lastFailure.map { .string($0) } ?? .null))
            }
            if q.ipsec {
                fields.append(
                    (
                        "xfrm",
                        xfrm.map { x in .object(x.counters.map { ($0.name, .string(String($0.value))) }) } ?? .null
                    ))
            }
            return .object(fields)
        }
    }
}

extension IPsecView {
    static let unasked = IPsecView(
        listing: nil, charonError: "not asked", charon: [], daemon: nil, lastFailure: nil, xfrm: nil)
}

extension Array where Element == Output {
    /// Whether rendering these needs charon asked.
    public var asksIPsec: Bool { contains { if case .ipsec = $0 { true } else { false } } }
}
