/// charon's security associations as the IP Security Monitor showed them: main mode (IKE_SAs)
/// and quick mode (CHILD_SAs), from VICI's `list-sas` stream.
public struct SAListing: Codable, Sendable, Equatable {
    public struct IKE: Codable, Sendable, Equatable {
        public var connection: String
        public var version: String
        public var state: String
        public var local: String
        public var peer: String
        public var peerID: String
        public var algorithms: String
        public var establishedSeconds: String
        public var rekeySeconds: String
        /// Which end is behind a NAT, as IKE detected it ("peer", "local", "both"; "-" for none):
        /// IKE and ESP then travel in UDP 4500.
        public var nat: String = "-"
        /// 500, or 4500 (and the port a NAT chose) once IKE moved for NAT traversal.
        public var localPort: String = "-", peerPort: String = "-"

        /// `198.51.100.1:4500`, `[2001:db8::1]:500`.
        public static func endpoint(_ host: String, _ port: String) -> String {
            guard port != "-" else { return host }
            return host.contains(":") ? "[\(host)]:\(port)" : "\(host):\(port)"
        }
    }

    public struct Child: Codable, Sendable, Equatable {
        public var connection: String
        public var name: String
        public var state: String
        public var mode: String
        public var protocol_: String
        public var algorithms: String
        public var bytesIn: String, packetsIn: String, bytesOut: String, packetsOut: String
        public var lifeSeconds: String
        public var localTS: [String], remoteTS: [String]
        /// ESP in UDP (NAT traversal).
        public var udpEncapsulated: Bool = false
    }

    public var ike: [IKE] = []
    public var children: [Child] = []

    public init(items: [ViciMessage]) {
        for item in items {
            for (connection, value) in item.entries {
                guard case .section(let sa) = value else { continue }
                func s(_ k: String, _ m: ViciMessage = sa) -> String { m.string(k) ?? "-" }
                var alg = [
                    sa.string("encr-alg"), sa.string("encr-keysize"), sa.string("integ-alg"), sa.string("prf-alg"),
                    sa.string("dh-group")
                ]
                .compactMap { $0 }.joined(separator: "/")
                if alg.isEmpty { alg = "-" }
                let natLocal = sa.string("nat-local") == "yes", natRemote = sa.string("nat-remote") == "yes"
                ike.append(
                    IKE(
                        connection: connection, version: "IKEv" + s("version"), state: s("state"),
                        local: s("local-host"),
                        peer: s("remote-host"), peerID: s("remote-id"), algorithms: alg,
                        establishedSeconds: s("established"), rekeySeconds: s("rekey-time"),
                        nat: natLocal && natRemote ? "both" : natLocal ? "local" : natRemote ? "peer" : "-",
                        localPort: s("local-port"), peerPort: s("remote-port")))
                for (_, cv) in sa.section("child-sas")?.entries ?? [] {
                    guard case .section(let c) = cv else { continue }
                    let calg = [
                        c.string("encr-alg"), c.string("encr-keysize"), c.string("integ-alg"), c.string("dh-group")
                    ]
                    .compactMap { $0 }.joined(separator: "/")
                    children.append(
                        Child(
                            connection: connection, name: s("name", c), state: s("state", c), mode: s("mode", c),
                            protocol_: s("protocol", c), algorithms: calg.isEmpty ? "-" : calg,
                            bytesIn: s("bytes-in", c), packetsIn: s("packets-in", c), bytesOut: s("bytes-out", c),
                            packetsOut: s("packets-out", c), lifeSeconds: s("life-time", c),
                            localTS: c.list("local-ts") ?? [], remoteTS: c.list("remote-ts") ?? [],
                            udpEncapsulated: c.string("encap") == "yes"))
                }
            }
        }
    }
}
