/// Puts an `IPsecPlan` into charon over VICI: keys first, then every connection (charon replaces
/// one loaded under the same name and re-installs its traps), then unloads rampart's connections
/// and keys the plan no longer has — including those a previous rampartd loaded. Names rampart
/// owns start with `rampart-`; nothing else in charon is touched.
public enum IPsecSync {
    public struct Report: Sendable, Equatable {
        public var loaded: [String] = []
        public var unloaded: [String] = []
        public var children = 0
        public init() {}
    }

    public static let prefix = "rampart-"

    public static func apply(_ plan: IPsecPlan, socket: String) throws(ViciError) -> Report {
        let vici = try ViciClient(path: socket)
        var report = Report()
        for secret in plan.secrets {
            var m = ViciMessage()
            m["id"] = .string(secret.id)
            m["type"] = "IKE"
            m["data"] = .string(secret.key)
            m["owners"] = .strings(secret.owners)
            try vici.command("load-shared", m)
        }
        for connection in plan.connections {
            try vici.command("load-conn", message(connection))
            report.loaded.append(connection.name)
            report.children += connection.children.count
        }
        let wanted = Set(plan.connections.map(\.name))
        let loaded = try vici.call("get-conns").response.list("conns") ?? []
        for name in loaded where name.hasPrefix(prefix) && !wanted.contains(name) {
            var m = ViciMessage()
            m["name"] = .string(name)
            try vici.command("unload-conn", m)
            report.unloaded.append(name)
        }
        let keys = Set(plan.secrets.map(\.id))
        let shared = try vici.call("get-shared").response.list("keys") ?? []
        for id in shared where id.hasPrefix(prefix) && !keys.contains(id) {
            var m = ViciMessage()
            m["id"] = .string(id)
            try vici.command("unload-shared", m)
        }
        return report
    }

    /// The `load-conn` message (swanctl.conf's `connections.<name>` as a VICI section).
    public static func message(_ c: IPsecPlan.Connection) -> ViciMessage {
        var conn = ViciMessage()
        conn["version"] = .string(String(c.version))
        conn["remote_addrs"] = .strings(c.remoteAddresses)
        conn["proposals"] = .strings(c.proposals)
        conn["rekey_time"] = .string("\(c.rekeySeconds)s")
        // IKEv2 `force`: the IKE_SA first, then each CHILD_SA (RFC 6023), so one filter's failed
        // CHILD_SA leaves the peers' IKE_SA to the others; needs a peer that supports it.
        if c.version == 2 { conn["childless"] = .string(c.childless) }
        var local = ViciMessage()
        var remote = ViciMessage()
        switch c.authentication {
        case .psk:
            local["auth"] = "psk"
            remote["auth"] = "psk"
        }
        if let id = c.remoteID { remote["id"] = .string(id) }
        conn["local-1"] = .section(local)
        conn["remote-1"] = .section(remote)
        var children = ViciMessage()
        for ch in c.children {
            var child = ViciMessage()
            child["mode"] = "transport"
            child["local_ts"] = .strings(ch.localTS.split(separator: ",").map(String.init))
            child["remote_ts"] = .strings(ch.remoteTS.split(separator: ",").map(String.init))
            if !ch.espProposals.isEmpty { child["esp_proposals"] = .strings(ch.espProposals) }
            if !ch.ahProposals.isEmpty { child["ah_proposals"] = .strings(ch.ahProposals) }
            child["life_time"] = .string("\(ch.lifeSeconds)s")
            child["rekey_time"] = .string("\(ch.lifeSeconds * 9 / 10)s")
            if let bytes = ch.lifeBytes {
                child["life_bytes"] = .string(String(bytes))
                child["rekey_bytes"] = .string(String(bytes * 9 / 10))
            }
            child["start_action"] = .string(ch.startAction)
            child["reqid"] = .string(String(ch.reqid))
            children[ch.name] = .section(child)
        }
        conn["children"] = .section(children)
        var m = ViciMessage()
        m[c.name] = .section(conn)
        return m
    }
}
