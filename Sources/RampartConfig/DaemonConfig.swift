import FoundationEssentials
import RampartPolicy

/// `/etc/rampart/rampartd.conf`: `key = value` lines, `#` comments. Unknown keys and bad values
/// are errors naming file, line and column (a typo must not silently fall back to a default).
public struct DaemonConfig: Sendable, Equatable {
    public static let defaultPath = "/etc/rampart/rampartd.conf"
    /// Where the policy store is unless `store =` says otherwise (StoreFile.defaultPath is this).
    public static let defaultStore = "/var/lib/rampart/store.json"

    public var store = DaemonConfig.defaultStore
    public var socket = "/run/rampart/control.sock"
    /// Members of this group may query the daemon; only root may change anything.
    public var controlGroup = "rampart"
    /// NFLOG group the drop-logging rules send to.
    public var logGroup: UInt16 = 1000
    /// Longest request line accepted on the control socket from a group member.
    public var maxRequestBytes = 1_048_576
    /// The same for root, who may send large scripts.
    public var maxRequestBytesRoot = 64 * 1_048_576
    /// Longest reply; a larger one is replaced by an error naming the limit.
    public var maxReplyBytes = 64 * 1_048_576
    /// Connections group members may hold at once, in all; root has a pool of the same size of its own.
    public var maxConnections = 64
    /// Connections one member uid may hold at once.
    public var maxConnectionsPerUser = 8
    /// A client whose whole request has not arrived after this long is disconnected.
    public var clientTimeoutSeconds = 30
    /// The DNS server type follows this file's `nameserver` lines.
    public var resolvConf = "/etc/resolv.conf"
    /// Read instead when resolv.conf names only systemd-resolved's stub.
    public var resolvedResolvConf = "/run/systemd/resolve/resolv.conf"
    /// DHCP lease directories: the DHCP (server identifier) and WINS (NetBIOS name servers) types.
    /// Debian's and RHEL's dhclient directories.
    public var dhclientLeases = ["/var/lib/dhcp", "/var/lib/dhclient"]
    public var networkdLeases = ["/run/systemd/netif/leases"]
    /// dhcpcd's, and Raspberry Pi OS's dhcpcd5.
    public var dhcpcdLeases = ["/var/lib/dhcpcd", "/var/lib/dhcpcd5"]
    public var networkManagerLeases = ["/var/lib/NetworkManager"]
    /// `wins server =` of Samba's [global] section adds to the WINS type.
    public var smbConf = "/etc/samba/smb.conf"
    /// Host names in filters are resolved again this often (and whenever resolv.conf changes).
    public var dnsRefreshSeconds = 300
    /// A default route learned from an IPv6 router advertisement makes its router a GATEWAY only
    /// when set: anyone on the link can send one (docs/netsh-compatibility.md).
    public var gatewayFromRouterAdvertisements = false
    /// The W3C drop log (`pfirewall.log`-like); nil: none.
    public var logFile: String?
    /// The drop log is rotated (to `PATH.1`, replacing it) before it would pass this size.
    public var logFileMaxBytes = 16 * 1_048_576
    /// Overrides the store's `ipsecloginterval` (60–86,400 s in netsh) with any interval from 1 s.
    public var logIntervalSeconds: Int?
    /// Distinct drop records per interval; past it drops are counted per filter as not itemised.
    /// At most 100 per second of interval, so the journal's per-service rate limit (10,000 per
    /// 30 s on Debian) is never reached, whatever the flood.
    public var logRecords = 1000
    /// Prometheus text for node_exporter's textfile collector, rewritten every
    /// `metricsIntervalSeconds`; nil: none (`rampart metrics` answers anyway).
    public var metricsTextfile: String?
    public var metricsIntervalSeconds = 30
    /// The fleet (docs/fleet.md): etcd endpoints (https://HOST:PORT); empty: no domain policy.
    public var etcdEndpoints: [String] = []
    public var etcdCA: String?
    public var etcdCert: String?
    public var etcdKey: String?
    /// etcd RBAC through the JSON gateway is by user and password (the file's first line).
    public var etcdUser: String?
    public var etcdPasswordFile: String?
    /// The group whose domain policy this host follows; required with endpoints.
    public var etcdGroup: String?
    public var etcdPrefix = "/rampart/v1"
    /// This host's name in its status key (default: the host name).
    public var etcdHost: String?
    /// The status key's lease: a host silent this long drops out of `rampart domain status`.
    public var etcdStatusTTLSeconds = 30
    /// The last domain policy applied, enforced at boot and while etcd is unreachable.
    public var domainCache = "/var/lib/rampart/domain-cache.json"
    /// charon's VICI socket (docs/ipsec.md): negotiate filters become CHILD_SAs there.
    public var ipsecViciSocket = "/run/charon.vici"
    /// 2 (default) or 1 (Windows Server 2003 peers speak only IKEv1 main and quick mode).
    public var ipsecIKEVersion = 2
    /// IKEv2 childless initiation (RFC 6023): `allow` (answer it), `force` (start every IKE_SA
    /// without a CHILD_SA; the peer must support it), `never`.
    public var ipsecChildless = "allow"
    /// `rootca=` rules: this host's certificate and private key (readable by root only), and the
    /// directory of the CA certificates charon trusts (docs/ipsec.md#certificates).
    public var ipsecCertificate = "/etc/rampart/ipsec/host.pem"
    public var ipsecPrivateKey = "/etc/rampart/ipsec/host.key"
    public var ipsecCADirectory = "/etc/rampart/ipsec/ca"

    public init() {}

    public static let keys = [
        "store", "socket", "control_group", "log_group", "max_request_bytes", "max_request_bytes_root",
        "max_reply_bytes",
        "max_connections", "max_connections_per_user", "client_timeout_seconds",
        "resolv_conf", "resolved_resolv_conf", "dhclient_leases", "networkd_leases", "dhcpcd_leases",
        "networkmanager_leases", "smb_conf", "dns_refresh_seconds", "gateway_from_router_advertisements", "log_file",
        "log_file_max_bytes",
        "log_interval_seconds", "log_records", "metrics_textfile", "metrics_interval_seconds",
        "etcd_endpoints", "etcd_ca", "etcd_cert", "etcd_key", "etcd_user", "etcd_password_file", "etcd_group",
        "etcd_prefix", "etcd_host", "etcd_status_ttl_seconds", "domain_cache", "ipsec_vici_socket", "ipsec_ike_version",
        "ipsec_childless",
        "ipsec_certificate", "ipsec_private_key", "ipsec_ca_directory"
    ]

    public static func parse(_ text: String, file: String) throws(Diagnostic) -> DaemonConfig {
        var config = DaemonConfig()
        for line in ScriptRunner.lines(of: text, file: file) {
            guard let setting = try Setting(line) else { continue }
            if try config.setDaemon(setting) { continue }
            if try config.setSources(setting) { continue }
            if try config.setOutputs(setting) { continue }
            if try config.setFleet(setting) { continue }
            if try config.setIPsec(setting) { continue }
            throw .error("unknown key '\(setting.key)'; known keys: \(keys.joined(separator: ", "))", at: setting.at)
        }
        if !config.etcdEndpoints.isEmpty && config.etcdGroup == nil {
            throw .error(
                "etcd_endpoints is set but etcd_group is not: the host must know whose domain policy to follow",
                at: SourceLocation(file: file, line: 1, column: 1))
        }
        return config
    }

    /// One `key = value` line, with where each half is for errors.
    struct Setting {
        let key: String
        let value: String
        let at: SourceLocation
        let valueAt: SourceLocation

        /// nil for a blank or comment line.
        init?(_ line: SourceLine) throws(Diagnostic) {
            let raw = line.text
            let content =
                raw.split(separator: "#", maxSplits: 1, omittingEmptySubsequences: false).first.map(String.init) ?? ""
            let trimmed = String(content.trimming())
            if trimmed.isEmpty { return nil }
            let firstColumn = raw.distance(
                from: raw.startIndex, to: raw.firstIndex { $0 != " " && $0 != "\t" } ?? raw.startIndex)
            at = line.location(at: firstColumn)
            guard let eq = trimmed.firstIndex(of: "=") else { throw .error("expected 'key = value'", at: at) }
            key = trimmed[..<eq].trimming().lowercased()
            value = String(trimmed[trimmed.index(after: eq)...].trimming())
            let valueColumn =
                raw.firstRange(of: value).map { raw.distance(from: raw.startIndex, to: $0.lowerBound) } ?? firstColumn
            valueAt = line.location(at: valueColumn)
            guard !value.isEmpty else { throw .error("'\(key)' has no value", at: valueAt) }
        }

        /// Lease directories and endpoints: a list separated by blanks or commas.
        var list: [String] { value.split(whereSeparator: { $0 == " " || $0 == "\t" || $0 == "," }).map(String.init) }

        func number(_ range: ClosedRange<Int>) throws(Diagnostic) -> Int {
            guard let n = Int(value), range.contains(n) else {
                throw .error(
                    "\(key): '\(value)' is not a number from \(range.lowerBound) to \(range.upperBound)", at: valueAt)
            }
            return n
        }

        func oneOf(_ allowed: [String], _ words: String) throws(Diagnostic) -> String {
            guard allowed.contains(value) else { throw .error("\(key): '\(value)' is not \(words)", at: valueAt) }
            return value
        }
    }

    /// The daemon's own files, socket and limits; false when `s` is not one of those keys.
    mutating func setDaemon(_ s: Setting) throws(Diagnostic) -> Bool {
        switch s.key {
        case "store": store = s.value
        case "socket": socket = s.value
        case "control_group": controlGroup = s.value
        case "log_group": logGroup = UInt16(try s.number(0...65535))
        case "max_request_bytes": maxRequestBytes = try s.number(1024...64 * 1024 * 1024)
        case "max_request_bytes_root": maxRequestBytesRoot = try s.number(1024...1024 * 1024 * 1024)
        case "max_reply_bytes": maxReplyBytes = try s.number(65536...1024 * 1024 * 1024)
        case "max_connections": maxConnections = try s.number(1...4096)
        case "max_connections_per_user": maxConnectionsPerUser = try s.number(1...4096)
        case "client_timeout_seconds": clientTimeoutSeconds = try s.number(1...3600)
        default: return false
        }
        return true
    }

    /// Where the server types' addresses come from.
    mutating func setSources(_ s: Setting) throws(Diagnostic) -> Bool {
        switch s.key {
        case "resolv_conf": resolvConf = s.value
        case "resolved_resolv_conf": resolvedResolvConf = s.value
        case "dhclient_leases": dhclientLeases = s.list
        case "networkd_leases": networkdLeases = s.list
        case "dhcpcd_leases": dhcpcdLeases = s.list
        case "networkmanager_leases": networkManagerLeases = s.list
        case "smb_conf": smbConf = s.value
        case "dns_refresh_seconds": dnsRefreshSeconds = try s.number(1...86400)
        case "gateway_from_router_advertisements":
            guard ["yes", "no"].contains(s.value.lowercased()) else {
                throw .error("\(s.key): '\(s.value)' is not yes or no", at: s.valueAt)
            }
            gatewayFromRouterAdvertisements = s.value.lowercased() == "yes"
        default: return false
        }
        return true
    }

    /// The drop log and the metrics textfile.
    mutating func setOutputs(_ s: Setting) throws(Diagnostic) -> Bool {
        switch s.key {
        case "log_file": logFile = s.value
        case "log_file_max_bytes": logFileMaxBytes = try s.number(4096...(1 << 40))
        case "log_interval_seconds": logIntervalSeconds = try s.number(1...86400)
        case "log_records": logRecords = try s.number(1...100_000)
        case "metrics_textfile": metricsTextfile = s.value
        case "metrics_interval_seconds": metricsIntervalSeconds = try s.number(1...3600)
        default: return false
        }
        return true
    }

    /// The domain policy from etcd (docs/fleet.md).
    mutating func setFleet(_ s: Setting) throws(Diagnostic) -> Bool {
        switch s.key {
        case "etcd_endpoints":
            etcdEndpoints = s.list
            for e in etcdEndpoints where !(e.hasPrefix("https://") || e.hasPrefix("http://")) {
                throw .error("etcd_endpoints: '\(e)' is not https://HOST:PORT", at: s.valueAt)
            }
        case "etcd_ca": etcdCA = s.value
        case "etcd_cert": etcdCert = s.value
        case "etcd_key": etcdKey = s.value
        case "etcd_user": etcdUser = s.value
        case "etcd_password_file": etcdPasswordFile = s.value
        case "etcd_group", "etcd_host":
            guard FleetNames.valid(s.value) else {
                throw .error(
                    "\(s.key): '\(s.value)': letters, digits, '-', '_' and '.' only, at most 64", at: s.valueAt)
            }
            if s.key == "etcd_group" { etcdGroup = s.value } else { etcdHost = s.value }
        case "etcd_prefix":
            guard s.value.hasPrefix("/"), !s.value.hasSuffix("/") else {
                throw .error("etcd_prefix: '\(s.value)' must start with '/' and not end with one", at: s.valueAt)
            }
            etcdPrefix = s.value
        case "etcd_status_ttl_seconds": etcdStatusTTLSeconds = try s.number(5...3600)
        case "domain_cache": domainCache = s.value
        default: return false
        }
        return true
    }

    /// charon and the credentials of negotiate filters (docs/ipsec.md).
    mutating func setIPsec(_ s: Setting) throws(Diagnostic) -> Bool {
        switch s.key {
        case "ipsec_vici_socket": ipsecViciSocket = s.value
        case "ipsec_ike_version": ipsecIKEVersion = try s.number(1...2)
        case "ipsec_childless": ipsecChildless = try s.oneOf(["allow", "force", "never"], "allow, force or never")
        case "ipsec_certificate": ipsecCertificate = s.value
        case "ipsec_private_key": ipsecPrivateKey = s.value
        case "ipsec_ca_directory": ipsecCADirectory = s.value
        default: return false
        }
        return true
    }
}
