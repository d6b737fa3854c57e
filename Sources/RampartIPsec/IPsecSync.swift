#if canImport(Glibc)
    import Glibc
#endif
import RampartSystem
import RampartVici

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

    public static let prefix = IPsecView.connectionPrefix

    public static func apply(_ plan: IPsecPlan, socket: String) throws(ViciError) -> Report {
        // Credentials are read before charon is touched: a missing key changes nothing there.
        let credentials = try Credentials(plan)
        let vici = try ViciClient(path: socket)
        try credentials.load(into: vici)
        for secret in plan.secrets {
            var m = ViciMessage()
            m["id"] = .string(secret.id)
            m["type"] = "IKE"
            m["data"] = .string(secret.key)
            m["owners"] = .strings(secret.owners)
            try vici.command("load-shared", m)
        }
        var report = Report()
        for connection in plan.connections {
            try vici.command("load-conn", message(connection, certificate: credentials.certificate))
            report.loaded.append(connection.name)
            report.children += connection.children.count
        }
        report.unloaded = try unloadConnections(except: Set(plan.connections.map(\.name)), vici)
        let keys = Set(plan.secrets.map(\.id))
        let shared = try vici.call("get-shared").response.list("keys") ?? []
        for id in shared where id.hasPrefix(prefix) && !keys.contains(id) {
            var m = ViciMessage()
            m["id"] = .string(id)
            try vici.command("unload-shared", m)
        }
        return report
    }

    /// This host's certificate, its key and the CAs, read from the files rampartd.conf names.
    struct Credentials {
        var certificate: [UInt8]?
        var key: [UInt8]?
        var cas: [(String, [UInt8])] = []

        init(_ plan: IPsecPlan) throws(ViciError) {
            guard plan.needsCertificates else { return }
            guard let paths = plan.credentials else {
                throw ViciError(.credentials, "rootca= rules need a certificate, but none is configured")
            }
            certificate = try CredentialFiles.read(
                paths.certificate, what: "this host's certificate (ipsec_certificate)")
            key = try CredentialFiles.read(paths.privateKey, what: "the private key (ipsec_private_key)", secret: true)
            cas = try CredentialFiles.directory(paths.caDirectory)
            guard !cas.isEmpty else {
                throw ViciError(.credentials, "no CA certificate in \(paths.caDirectory) (ipsec_ca_directory)")
            }
        }

        func load(into vici: ViciClient) throws(ViciError) {
            for (path, ca) in cas {
                var m = ViciMessage()
                m["type"] = "x509"
                m["flag"] = "CA"
                m["data"] = .value(ca)
                do { try vici.command("load-cert", m) } catch {
                    throw ViciError(error.kind, "CA certificate \(path): \(error.description)")
                }
            }
            guard let key else { return }
            var m = ViciMessage()
            m["type"] = "any"
            m["data"] = .value(key)
            // charon's answer may quote what it could not parse; never the key.
            do { try vici.command("load-key", m) } catch {
                throw ViciError(error.kind, "charon refused the private key (ipsec_private_key)")
            }
        }
    }

    /// Unloads rampart's connections that are not `wanted`, closing their SAs; their names.
    static func unloadConnections(except wanted: Set<String>, _ vici: ViciClient) throws(ViciError) -> [String] {
        var unloaded: [String] = []
        let loaded = try vici.call("get-conns").response.list("conns") ?? []
        for name in loaded where name.hasPrefix(prefix) && !wanted.contains(name) {
            var m = ViciMessage()
            m["name"] = .string(name)
            try vici.command("unload-conn", m)
            // Unloading removes the traps, not SAs already up: those are closed (DELETE sent to
            // the peer; charon does it in the background, -1 = do not wait). None up is fine.
            var t = ViciMessage()
            t["ike"] = .string(name)
            t["timeout"] = "-1"
            let answer = try vici.call("terminate", t).response
            if answer.string("success") != "yes", let why = answer.string("errmsg"), !why.contains("no matching") {
                throw ViciError(.refused, "terminate \(name): \(why)")
            }
            unloaded.append(name)
        }
        return unloaded
    }

    /// The `load-conn` message (swanctl.conf's `connections.<name>` as a VICI section).
    public static func message(_ c: IPsecPlan.Connection, certificate: [UInt8]? = nil) -> ViciMessage {
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
        case .certificate(let ca):
            local["auth"] = "pubkey"
            if let certificate { local["certs"] = .list([certificate]) }
            remote["auth"] = "pubkey"
            // Any identity the named CA certified: the CA must be in the peer's chain (swanctl.conf `ca_id`).
            remote["ca_id"] = .string(ca)
            remote["revocation"] = .string(c.revocation)
        }
        if let id = c.remoteID { remote["id"] = .string(id) }
        conn["local-1"] = .section(local)
        conn["remote-1"] = .section(remote)
        var children = ViciMessage()
        for ch in c.children {
            var child = ViciMessage()
            child["mode"] = .string(ch.mode)
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

/// Reading the files of certificate authentication (bounded, regular files only, `SourceFile`);
/// a private key is refused when group or others may read it (as ssh does).
enum CredentialFiles {
    static let limit = 64 * 1024

    static func read(_ path: String, what: String, secret: Bool = false) throws(ViciError) -> [UInt8] {
        var st = stat()
        guard stat(path, &st) == 0 else {
            throw ViciError(.credentials, "\(what) \(path): \(String(cString: strerror(errno)))")
        }
        if secret && st.st_mode & 0o077 != 0 {
            throw ViciError(
                .credentials,
                "\(what) \(path) may be read by group or others (mode \(String(st.st_mode & 0o777, radix: 8))); chmod 600 it"
            )
        }
        switch SourceFile.read(path, limit: limit) {
        case .success(let bytes) where !bytes.isEmpty: return bytes
        case .success: throw ViciError(.credentials, "\(what) \(path) is empty")
        case .failure(let f):
            let hint =
                access(path, R_OK) != 0 && errno == EACCES && geteuid() != 0
                ? "; rampartd runs as uid \(geteuid()): give it the file (chown rampart \(path))" : ""
            throw ViciError(.credentials, "\(what): \(f.message)\(hint)")
        }
    }

    /// Every regular file of the directory, by name (hidden files and subdirectories skipped).
    static func directory(_ path: String) throws(ViciError) -> [(String, [UInt8])] {
        let names: [String]
        do { names = try SourceFile.list(path) } catch {
            throw ViciError(.credentials, "CA directory (ipsec_ca_directory): \(error.message)")
        }
        var out: [(String, [UInt8])] = []
        for name in names.sorted() where !name.hasPrefix(".") {
            let full = path.hasSuffix("/") ? path + name : path + "/" + name
            var st = stat()
            guard stat(full, &st) == 0, (st.st_mode & S_IFMT) == S_IFREG else { continue }
            out.append((full, try read(full, what: "CA certificate")))
        }
        return out
    }
}
