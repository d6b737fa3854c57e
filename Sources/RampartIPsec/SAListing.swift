/// charon's security associations as the IP Security Monitor showed them: main mode (IKE_SAs)
/// and quick mode (CHILD_SAs), from VICI's `list-sas` stream.
public struct SAListing: Sendable, Equatable {
    public struct IKE: Sendable, Equatable {
        public var connection: String
        public var version: String
        public var state: String
        public var local: String
        public var peer: String
        public var peerID: String
        public var algorithms: String
        public var establishedSeconds: String
        public var rekeySeconds: String
    }

    public struct Child: Sendable, Equatable {
        public var connection: String
        public var name: String
        public var state: String
        public var mode: String
        public var protocol_: String
        public var algorithms: String
        public var bytesIn: String, packetsIn: String, bytesOut: String, packetsOut: String
        public var lifeSeconds: String
        public var localTS: [String], remoteTS: [String]
    }

    public var ike: [IKE] = []
    public var children: [Child] = []

    public init(items: [ViciMessage]) {
        for item in items {
            for (connection, value) in item.entries {
                guard case .section(let sa) = value else { continue }
                func s(_ k: String, _ m: ViciMessage = sa) -> String { m.string(k) ?? "-" }
                var alg = [sa.string("encr-alg"), sa.string("encr-keysize"), sa.string("integ-alg"), sa.string("prf-alg"), sa.string("dh-group")]
                    .compactMap { $0 }.joined(separator: "/")
                if alg.isEmpty { alg = "-" }
                ike.append(IKE(connection: connection, version: "IKEv" + s("version"), state: s("state"), local: s("local-host"),
                               peer: s("remote-host"), peerID: s("remote-id"), algorithms: alg,
                               establishedSeconds: s("established"), rekeySeconds: s("rekey-time")))
                for (_, cv) in sa.section("child-sas")?.entries ?? [] {
                    guard case .section(let c) = cv else { continue }
                    let calg = [c.string("encr-alg"), c.string("encr-keysize"), c.string("integ-alg"), c.string("dh-group")]
                        .compactMap { $0 }.joined(separator: "/")
                    children.append(Child(connection: connection, name: s("name", c), state: s("state", c), mode: s("mode", c),
                                          protocol_: s("protocol", c), algorithms: calg.isEmpty ? "-" : calg,
                                          bytesIn: s("bytes-in", c), packetsIn: s("packets-in", c), bytesOut: s("bytes-out", c),
                                          packetsOut: s("packets-out", c), lifeSeconds: s("life-time", c),
                                          localTS: c.list("local-ts") ?? [], remoteTS: c.list("remote-ts") ?? []))
                }
            }
        }
    }

    /// Two tables, main mode then quick mode.
    public var text: String {
        func table(_ header: [String], _ rows: [[String]]) -> String {
            let all = [header] + rows
            let widths = header.indices.map { i in all.map { $0[i].count }.max() ?? 0 }
            return all.map { row in
                row.enumerated().map { i, cell in i == row.count - 1 ? cell : cell + String(repeating: " ", count: widths[i] - cell.count) }
                    .joined(separator: "  ")
            }.joined(separator: "\n") + "\n"
        }
        var out = "Main mode security associations (IKE_SAs): \(ike.count)\n"
        if !ike.isEmpty {
            out += table(["CONNECTION", "VERSION", "STATE", "LOCAL", "PEER", "PEER ID", "ALGORITHMS", "UP (s)", "REKEY (s)"],
                         ike.map { [$0.connection, $0.version, $0.state, $0.local, $0.peer, $0.peerID, $0.algorithms, $0.establishedSeconds, $0.rekeySeconds] })
        }
        out += "\nQuick mode security associations (CHILD_SAs): \(children.count)\n"
        if !children.isEmpty {
            out += table(["CONNECTION", "FILTER", "STATE", "MODE", "PROTO", "ALGORITHMS", "BYTES IN", "PKTS IN", "BYTES OUT", "PKTS OUT", "LIFE (s)", "SELECTORS"],
                         children.map { [$0.connection, $0.name, $0.state, $0.mode, $0.protocol_, $0.algorithms, $0.bytesIn, $0.packetsIn, $0.bytesOut,
                                          $0.packetsOut, $0.lifeSeconds, "\($0.localTS.joined(separator: ",")) === \($0.remoteTS.joined(separator: ","))"] })
        }
        return out
    }
}
