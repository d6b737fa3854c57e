import Foundation
import RampartNamespaceKit
import RampartTestKit

/// A real etcd cluster (Debian's etcd-server) on loopback for the fleet tests: three members,
/// client TLS with certificates this harness makes (openssl), and etcd RBAC as docs/fleet.md
/// sets it up: `root`; `admin` (readwrite on the prefix); per host a user whose role reads its
/// group's keys and writes only its own status key.
final class EtcdCluster: @unchecked Sendable {
    let directory: URL
    let clientPorts: [Int], peerPorts: [Int]
    private(set) var members: [ChildProcess?]
    static let prefix = "/rampart/v1"
    /// Run inside this namespace, listening on every address (hosts in other namespaces reach it
    /// over veth links at `addresses`); nil: on the test's loopback.
    let namespace: Namespace?
    let addresses: [String]
    private var inNamespace: [String] { namespace.map { ["ip", "netns", "exec", $0.name] } ?? [] }

    var endpoints: [String] { clientPorts.map { "https://127.0.0.1:\($0)" } }
    func path(_ name: String) -> String { directory.appendingPathComponent(name).path }

    init(basePort: Int, namespace: Namespace? = nil, addresses: [String] = []) throws {
        self.namespace = namespace
        self.addresses = addresses
        directory = FileManager.default.temporaryDirectory.appendingPathComponent("rampart-etcd-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        clientPorts = (0..<3).map { basePort + $0 * 2 }
        peerPorts = (0..<3).map { basePort + $0 * 2 + 1 }
        members = [nil, nil, nil]
        try makeCertificates()
        for i in 0..<3 { try start(i) }
        try waitHealthy()
    }

    private func openssl(_ arguments: [String]) throws {
        try sh(["openssl"] + arguments)
    }

    /// A CA, the members' certificate (server and client use: etcd's gateway dials its own gRPC
    /// port with it) and client certificates; `other-ca` signs a certificate etcd must refuse.
    private func makeCertificates() throws {
        for ca in ["ca", "other-ca"] {
            try openssl([
                "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
                "-keyout", path("\(ca).key"), "-out", path("\(ca).crt"), "-subj", "/CN=rampart-test-\(ca)", "-days", "2"
            ])
        }
        let names = (["127.0.0.1"] + addresses).map { "IP:\($0)" }.joined(separator: ",")
        let ext = try write("ext-server", "subjectAltName=\(names)\nextendedKeyUsage=serverAuth,clientAuth\n")
        let clientExt = try write("ext-client", "extendedKeyUsage=clientAuth\n")
        for (name, ca, extfile) in [
            ("member", "ca", ext), ("root", "ca", clientExt), ("host", "ca", clientExt),
            ("stranger", "other-ca", clientExt)
        ] {
            try openssl([
                "req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
                "-keyout", path("\(name).key"), "-out", path("\(name).csr"), "-subj", subject(name)
            ])
            try openssl([
                "x509", "-req", "-in", path("\(name).csr"), "-CA", path("\(ca).crt"), "-CAkey", path("\(ca).key"),
                "-CAcreateserial", "-out", path("\(name).crt"), "-days", "2", "-extfile", extfile
            ])
        }
    }

    /// etcd 3.4 answers 400 to a gateway request whose client certificate has a CommonName
    /// ("CommonName of client sending a request against gateway will be ignored"): hosts' and
    /// admins' certificates name their organisation only. Only etcdctl's (gRPC) names root.
    private func subject(_ name: String) -> String {
        switch name {
        case "member": return "/CN=etcd-member"
        case "root": return "/CN=root"
        default: return "/O=rampart-\(name)"
        }
    }

    @discardableResult
    func write(_ name: String, _ text: String) throws -> String {
        try text.write(toFile: path(name), atomically: true, encoding: .utf8)
        return path(name)
    }

    func start(_ i: Int) throws {
        let cluster = (0..<3).map { "m\($0)=http://127.0.0.1:\(peerPorts[$0])" }.joined(separator: ",")
        let log = FileHandle(forWritingAtPath: try write("m\(i).log", ""))!
        let listen = namespace == nil ? "127.0.0.1" : "0.0.0.0"
        members[i] = try ChildProcess(
            inNamespace + [
                "etcd", "--name", "m\(i)", "--data-dir", path("m\(i).data"),
                "--listen-client-urls", "https://\(listen):\(clientPorts[i])", "--advertise-client-urls",
                "https://127.0.0.1:\(clientPorts[i])",
                "--listen-peer-urls", "http://127.0.0.1:\(peerPorts[i])", "--initial-advertise-peer-urls",
                "http://127.0.0.1:\(peerPorts[i])",
                "--initial-cluster", cluster, "--initial-cluster-state", "new", "--initial-cluster-token",
                directory.lastPathComponent,
                "--cert-file", path("member.crt"), "--key-file", path("member.key"), "--trusted-ca-file",
                path("ca.crt"), "--client-cert-auth",
                "--heartbeat-interval", "100", "--election-timeout", "1000"
            ], stdout: .file(log), stderr: .file(log))
    }

    func kill(_ i: Int) {
        members[i]?.signal(SIGKILL)
        members[i]?.waitUntilExit()
        members[i] = nil
    }

    func stop() {
        for i in 0..<3 { kill(i) }
    }

    func cleanup() {
        stop()
        try? FileManager.default.removeItem(at: directory)
    }

    /// etcdctl as root (its certificate's CN names the user, as etcd's gRPC port allows).
    @discardableResult
    func ctl(_ arguments: [String], allowFailure: Bool = false) throws -> (status: Int32, out: String, err: String) {
        let live = (0..<3).filter { members[$0] != nil }.map { endpoints[$0] }.joined(separator: ",")
        return try sh(
            inNamespace + [
                "env", "ETCDCTL_API=3", "etcdctl", "--endpoints", live, "--cacert", path("ca.crt"),
                "--cert", path("root.crt"), "--key", path("root.key"), "--command-timeout", "5s"
            ] + arguments,
            allowFailure: allowFailure)
    }

    func waitHealthy() throws {
        if pollUntil(seconds: 10, { (try? ctl(["endpoint", "health"], allowFailure: true))?.status == 0 }) { return }
        throw ShellError(
            message:
                "etcd did not become healthy: \((try? String(contentsOfFile: path("m0.log"), encoding: .utf8))?.suffix(2000) ?? "")"
        )
    }

    /// The member that leads now.
    func leader() throws -> Int {
        let out = try ctl(["endpoint", "status", "-w", "json"]).out
        let rows = try JSONSerialization.jsonObject(with: Data(out.utf8)) as? [[String: Any]] ?? []
        for row in rows {
            guard let status = row["Status"] as? [String: Any], let header = status["header"] as? [String: Any],
                let member = header["member_id"] as? NSNumber, let leader = status["leader"] as? NSNumber,
                member == leader, let endpoint = row["Endpoint"] as? String,
                let i = endpoints.firstIndex(of: endpoint)
            else { continue }
            return i
        }
        throw ShellError(message: "no leader in: \(out)")
    }

    /// The RBAC layout of docs/fleet.md, then authentication on.
    func enableRBAC(group: String, hosts: [String]) throws {
        try ctl(["user", "add", "root", "--new-user-password", "root-secret"])
        try ctl(["user", "grant-role", "root", "root"], allowFailure: true)
        try ctl(["role", "add", "rampart-admin"])
        try ctl(["role", "grant-permission", "rampart-admin", "readwrite", "\(Self.prefix)/", "--prefix=true"])
        try ctl(["user", "add", "admin", "--new-user-password", "admin-secret"])
        try ctl(["user", "grant-role", "admin", "rampart-admin"])
        for host in hosts {
            try ctl(["role", "add", "rampart-host-\(host)"])
            try ctl([
                "role", "grant-permission", "rampart-host-\(host)", "read", "\(Self.prefix)/groups/\(group)/",
                "--prefix=true"
            ])
            try ctl([
                "role", "grant-permission", "rampart-host-\(host)", "readwrite",
                "\(Self.prefix)/status/\(group)/\(host)"
            ])
            try ctl(["user", "add", host, "--new-user-password", "\(host)-secret"])
            try ctl(["user", "grant-role", host, "rampart-host-\(host)"])
        }
        try ctl(["auth", "enable"])
    }
}
