import Foundation
import Testing
import RampartIPsec
import RampartNamespaceKit
import RampartTestKit

/// strongSwan's charon in a namespace, in its own mount namespace (a private /run for its pid
/// file), with its own strongswan.conf and VICI socket in the test directory.
final class Charon: @unchecked Sendable {
    let ns: Namespace
    let directory: URL
    var socket: String { directory.appendingPathComponent("charon.vici").path }
    var logPath: String { directory.appendingPathComponent("charon.log").path }
    private var process: ChildProcess?

    init(ns: Namespace, directory: URL) throws {
        self.ns = ns
        self.directory = directory.appendingPathComponent("charon-\(ns.name)")
        try FileManager.default.createDirectory(at: self.directory, withIntermediateDirectories: true)
        let conf = """
            charon-systemd {
              load = random nonce openssl aes sha1 sha2 md5 hmac kdf gmp x509 pem pkcs1 pkcs8 pubkey revocation constraints kernel-netlink socket-default vici
              install_routes = no
              retransmit_tries = 2
              retransmit_timeout = 1
              plugins { vici { socket = unix://\(socket) } }
              journal { default = -1 }
              filelog { test { path = \(logPath)
                               default = 1
                               ike = 2
                               knl = 2
                               chd = 2
                               flush_line = yes
                               time_format = %T } }
            }
            """
        let confPath = self.directory.appendingPathComponent("strongswan.conf").path
        try conf.write(toFile: confPath, atomically: true, encoding: .utf8)
        process = try ns.spawn([
            "unshare", "--mount", "--propagation", "private", "sh", "-c",
            "mount -t tmpfs tmpfs /run && STRONGSWAN_CONF=\(confPath) exec /usr/sbin/charon-systemd"
        ])
        _ = pollUntil(seconds: 4) { (try? ViciClient(path: socket)) != nil }
        _ = try ViciClient(path: socket)
    }

    func vici() throws -> ViciClient { try ViciClient(path: socket) }

    func log() -> String { (try? String(contentsOfFile: logPath, encoding: .utf8)) ?? "" }

    /// IKE_SAs by connection name with their state (`ESTABLISHED`, `CONNECTING`…).
    func ikeSAs() throws -> [String: String] {
        var out: [String: String] = [:]
        for item in try vici().call("list-sas", streaming: "list-sa").items {
            for (name, value) in item.entries {
                if case .section(let sa) = value { out[name] = sa.string("state") ?? "?" }
            }
        }
        return out
    }

    func connections() throws -> [String] { try vici().call("get-conns").response.list("conns") ?? [] }

    func stop() {
        if let p = process, p.isRunning {
            kill(p.processIdentifier, SIGKILL)
            p.waitUntilExit()
        }
        process = nil
    }
}

/// Whether this kernel can hold an ESP state (CONFIG_INET_ESP): without it charon negotiates IKE
/// and installs the trap policies, but no CHILD_SA can be installed, so protected traffic never flows.
func kernelHasESP(_ ns: Namespace) throws -> Bool {
    let r = try ns.run(
        [
            "ip", "xfrm", "state", "add", "src", "192.0.2.1", "dst", "192.0.2.2", "proto", "esp", "spi", "0x100",
            "mode", "transport", "enc", "cbc(aes)", "0x" + String(repeating: "11", count: 16),
            "auth", "hmac(sha1)", "0x" + String(repeating: "22", count: 20)
        ], allowFailure: true)
    if r.status == 0 { try ns.run(["ip", "xfrm", "state", "flush"]) }
    return r.status == 0
}

@Suite(.serialized) struct IPsecTests {
    static func policy(peer: String, psk: String, extra: String = "") -> String {
        policy(peer: peer, auth: "psk=\"\(psk)\"", extra: extra)
    }

    static let defaultOffers = "ESP[AES256,SHA1] ESP[3DES,SHA1]"

    static func policy(peer: String, auth: String, offers: String = defaultOffers, extra: String = "") -> String {
        """
        pushd ipsec static
        add filteraction name=Secure action=negotiate qmsecmethods="\(offers)"
        add filterlist name=Svc
        add filter filterlist=Svc srcaddr=me dstaddr=\(peer) protocol=tcp dstport=5001
        add filter filterlist=Svc srcaddr=me dstaddr=\(peer) protocol=tcp srcport=5001
        add policy name=IPsec assign=yes mmsecmethods="AES256-SHA256-14 3DES-SHA1-2"
        add rule name=svc policy=IPsec filterlist=Svc filteraction=Secure \(auth)
        \(extra)
        """
    }

    /// Childless IKE_SAs: on a kernel without ESP the IKE_SA still comes up (only its CHILD_SAs fail).
    static func config(_ charon: Charon) -> String {
        "ipsec_vici_socket = \(charon.socket)\nipsec_childless = force\n"
    }

    struct Host {
        let cli: RampartCLI
        let charon: Charon
        let daemon: DaemonHarness
    }

    /// The server and the inside host, each with its charon, its store (the policy with its key) and
    /// its rampartd, both ready; everything is stopped and removed after `body`.
    static func twoHosts(keyA: String, keyB: String, _ body: (Lab, Host, Host) throws -> Void) throws {
        try twoHosts(authA: "psk=\"\(keyA)\"", authB: "psk=\"\(keyB)\"", body)
    }

    /// `prepare(directory, own address)` runs for each host before its rampartd starts and gives more configuration.
    static func twoHosts(
        authA: String, authB: String, offers: String = defaultOffers,
        prepare: (URL, String) throws -> String = { _, _ in "" },
        _ body: (Lab, Host, Host) throws -> Void
    ) throws {
        try withLab { lab, _ in
            let a = try RampartCLI(), b = try RampartCLI()
            defer {
                a.cleanup()
                b.cleanup()
            }
            let charonA = try Charon(ns: lab.server, directory: a.directory)
            defer { charonA.stop() }
            let charonB = try Charon(ns: lab.inside, directory: b.directory)
            defer { charonB.stop() }
            try a.exec(Self.policy(peer: Lab.internal4, auth: authA, offers: offers))
            try b.exec(Self.policy(peer: Lab.serverInternal4, auth: authB, offers: offers))
            let extraA = try prepare(a.directory, Lab.serverInternal4), extraB = try prepare(b.directory, Lab.internal4)
            let da = try DaemonHarness(cli: a, ns: lab.server, config: Self.config(charonA) + extraA)
            defer { da.stop() }
            let db = try DaemonHarness(cli: b, ns: lab.inside, config: Self.config(charonB) + extraB)
            defer { db.stop() }
            try da.start()
            try db.start()
            try body(lab, Host(cli: a, charon: charonA, daemon: da), Host(cli: b, charon: charonB, daemon: db))
        }
    }

    @Test func negotiateFiltersBecomeTrapPoliciesAndIKEBetweenTwoHosts() throws {
        try Self.twoHosts(keyA: "s3cret-one", keyB: "s3cret-one") { lab, hostA, hostB in
            let (a, charonA, da) = (hostA.cli, hostA.charon, hostA.daemon)
            let (charonB, db) = (hostB.charon, hostB.daemon)
            _ = (a, db)
            #expect(da.log().contains("IPsec: 1 connections, 2 CHILD_SAs loaded into charon"), "\(da.log())")
            #expect(try charonA.connections() == ["rampart-l1"])

            // The trap policies: this host's selector for each filter, ESP in transport mode, rampart's reqids.
            let policies = try lab.server.run(["ip", "xfrm", "policy"]).out
            #expect(policies.contains("src 198.51.100.1/32 dst 198.51.100.10/32 proto tcp dport 5001"), "\(policies)")
            #expect(policies.contains("src 198.51.100.10/32 dst 198.51.100.1/32 proto tcp sport 5001"), "\(policies)")
            #expect(policies.contains("proto esp reqid \(IPsecPlan.firstReqid) mode transport"), "\(policies)")
            #expect(policies.contains("proto esp reqid \(IPsecPlan.firstReqid + 1) mode transport"), "\(policies)")

            // The first packet to the peer's port 5001 starts IKE; the IKE_SA comes up on both sides.
            try lab.listen(lab.inside, tcp: [5001])
            let esp = try kernelHasESP(lab.server)
            // IKE with MODP_2048 under software emulation, beside other suites, takes seconds: the SYN held by
            // the trap is retransmitted until the CHILD_SA is in (without ESP, 3 s shows it never gets through).
            let connected = try lab.tcp(from: lab.server, Lab.internal4, 5001, timeout: esp ? 20 : 3)
            #expect(da.eventually(10) { (try? charonA.ikeSAs())?["rampart-l1"] == "ESTABLISHED" }, "\(charonA.log())")
            #expect(da.eventually(10) { (try? charonB.ikeSAs())?["rampart-l1"] == "ESTABLISHED" }, "\(charonB.log())")
            // `rampart sas`: the main mode SA with its peer and algorithms, as the IP Security Monitor showed it.
            let sas = try sh([RampartCLI.binary, "sas", "--vici", charonA.socket, "--own"])
            #expect(sas.out.contains("Main mode security associations (IKE_SAs): 1"), "\(sas.out)")
            #expect(
                sas.out.contains("rampart-l1") && sas.out.contains("ESTABLISHED") && sas.out.contains("198.51.100.10")
                    && sas.out.contains("AES_CBC/256/HMAC_SHA2_256_128/PRF_HMAC_SHA2_256/MODP_2048"), "\(sas.out)")
            #expect(
                da.eventually(5) { da.log().contains("IKE_SA rampart-l1 with 198.51.100.10 established") },
                "\(da.log())")
            #expect(try da.rampart(["status"]).out.contains("IKE_SAs up 1"))

            // The IP Security Monitor's views through rampartd: netsh's show mmsas/qmsas/stats, the monitor.
            let mm = try da.rampart(["dynamic", "show", "mmsas", "dstaddr=198.51.100.10"]).out
            #expect(
                mm.contains("Main mode security associations (IKE_SAs): 1") && mm.contains("rampart-l1")
                    && mm.contains("ESTABLISHED"), "\(mm)")
            #expect(try da.rampart(["dynamic", "show", "mmsas", "dstaddr=203.0.113.99"]).out.contains("(IKE_SAs): 0"))
            let qm = try da.rampart(["dynamic", "show", "qmsas"]).out
            #expect(qm.contains("Quick mode security associations (CHILD_SAs): "), "\(qm)")
            let stats = try da.rampart(["dynamic", "show", "stats"]).out
            let flat = stats.split(separator: " ", omittingEmptySubsequences: true).joined(separator: " ")
            #expect(
                flat.contains("IKE_SAs established 1") && flat.contains("Negotiation failures ")
                    && flat.contains("XfrmInNoStates"), "\(stats)")
            // Without ESP the kernel held the clear SYNs for want of an SA, and counted them.
            if !esp { #expect(flat.contains("XfrmOutNoStates") && !flat.contains("0 XfrmOutNoStates"), "\(stats)") }
            let json = try da.rampart(["dynamic", "show", "mmsas", "--json"]).out
            #expect(
                json.contains("\"peer\" : \"198.51.100.10\"") || json.contains("\"peer\": \"198.51.100.10\""), "\(json)"
            )
            let monitor = try da.rampart(["monitor", "--once"]).out
            #expect(
                monitor.contains("IPsec — Main mode security associations (IKE_SAs): 1")
                    && monitor.contains("Statistics: ")
                    && monitor.contains("ike_sas established 1"), "\(monitor)")
            if esp {
                #expect(connected, "with ESP in the kernel the connection runs over the CHILD_SA")
            } else {
                // This kernel has no ESP: the CHILD_SA cannot be installed, and the trap keeps the clear
                // packets from leaving — negotiate fails closed.
                #expect(!connected, "no ESP in this kernel, yet the connection went through in clear")
                #expect(
                    charonA.log().contains("unable to add SAD entry")
                        || charonB.log().contains("unable to add SAD entry"),
                    "\(charonA.log())\n\(charonB.log())")
            }
            // Other traffic between the hosts is not negotiated.
            try lab.listen(lab.inside, tcp: [6001])
            #expect(try lab.tcp(from: lab.server, Lab.internal4, 6001))

            // kill -9: charon keeps the trap policies; rampartd's nftables rules stay too.
            da.kill9()
            let kept = try lab.server.run(["ip", "xfrm", "policy"]).out
            #expect(kept.contains("proto tcp dport 5001"), "\(kept)")
            // With ESP the SA itself outlives rampartd: connections still go through, protected.
            if esp {
                #expect(
                    try lab.tcp(from: lab.server, Lab.internal4, 5001, timeout: 3),
                    "protection must stay in force after kill -9")
            }

            // Restarted and then the filter removed: the connection is unloaded, its policies are gone.
            try da.start()
            let removed = try da.rampart(["static", "delete", "rule", "name=svc", "policy=IPsec"])
            #expect(removed.status == 0, "\(removed.err)")
            #expect(da.eventually(5) { (try? charonA.connections()) == [] }, "\(da.log())")
            // The traps go with the connection; an SA that was up is closed, its policies with it.
            #expect(
                da.eventually(5) {
                    ((try? lab.server.run(["ip", "xfrm", "policy"]).out) ?? "dport 5001").contains("dport 5001")
                        == false
                },
                "\((try? lab.server.run(["ip", "xfrm", "policy"]).out) ?? "")")
            let after = try lab.server.run(["ip", "xfrm", "policy"]).out
            #expect(!after.contains("dport 5001") && !after.contains("sport 5001"), "\(after)")
            // With ESP the SAs that were up are deleted too (without, only acquire states were ever there).
            if esp { #expect(try lab.server.run(["ip", "xfrm", "state"]).out.isEmpty, "the SAs are deleted too") }
            #expect(da.log().contains("unloaded rampart-l1"), "\(da.log())")
        }
    }

    /// `ipsec_ike_version = 1`: main mode and quick mode, what a Windows Server 2003 peer speaks,
    /// with its classic offers (3DES-SHA1, ESP[3DES,SHA1]).
    @Test func ikeV1MainModeAndQuickModeForWindowsServer2003Peers() throws {
        try Self.twoHosts(
            authA: "psk=\"v1-key\"", authB: "psk=\"v1-key\"", offers: "ESP[3DES,SHA1]",
            prepare: { _, _ in "ipsec_ike_version = 1\n" }
        ) { lab, hostA, hostB in
            let (charonA, da) = (hostA.charon, hostA.daemon)
            try lab.listen(lab.inside, tcp: [5001])
            let esp = try kernelHasESP(lab.server)
            let connected = try lab.tcp(from: lab.server, Lab.internal4, 5001, timeout: 5)
            #expect(da.eventually(15) { (try? charonA.ikeSAs())?["rampart-l1"] == "ESTABLISHED" }, "\(charonA.log())")
            #expect(
                hostB.daemon.eventually(15) { (try? hostB.charon.ikeSAs())?["rampart-l1"] == "ESTABLISHED" },
                "\(hostB.charon.log())")
            let mm = try da.rampart(["dynamic", "show", "mmsas"]).out
            #expect(mm.contains("IKEv1") && mm.contains("ESTABLISHED"), "\(mm)")
            // The first connection sets the trap off and races six main-mode and three quick-mode
            // messages (3DES under the VM's emulation): once both ends are established, a second try.
            let overTheSA = try connected || lab.tcp(from: lab.server, Lab.internal4, 5001, timeout: 5)
            if esp {
                #expect(overTheSA, "IKEv1 quick mode installs the CHILD_SA and the connection runs over it")
                let qm = try da.rampart(["dynamic", "show", "qmsas"]).out
                #expect(qm.contains("INSTALLED") && qm.contains("3DES_CBC/HMAC_SHA1_96"), "\(qm)")
            } else {
                #expect(!overTheSA, "no ESP in this kernel, yet the connection went through in clear")
            }
        }
    }

    @Test func dynamicNegotiateRulesAreNegotiatedAndUnloadedWithThem() throws {
        try Self.twoHosts(keyA: "static-key", keyB: "static-key") { lab, hostA, hostB in
            let (charonA, da) = (hostA.charon, hostA.daemon)
            let (charonB, db) = (hostB.charon, hostB.daemon)
            for (d, peer) in [(da, Lab.internal4), (db, Lab.serverInternal4)] {
                for command in [
                    ["dynamic", "add", "mmpolicy", "name=MM", "mmlifetime=60", "mmsecmethods=AES128-SHA256-14"],
                    ["dynamic", "add", "qmpolicy", "name=QM", "qmsecmethods=ESP[AES128,SHA1]"],
                    [
                        "dynamic", "add", "rule", "srcaddr=me", "dstaddr=\(peer)", "protocol=tcp", "dstport=5002",
                        "mirrored=yes",
                        "mmpolicy=MM", "qmpolicy=QM", "psk=dynamic-key"
                    ]
                ] {
                    let r = try d.rampart(command)
                    #expect(r.status == 0, "\(command): \(r.err)")
                }
            }
            #expect(
                da.eventually(5) { (try? charonA.connections())?.sorted() == ["rampart-l1", "rampart-y1"] },
                "\(da.log())")
            // The first SYN to 5002 starts the dynamic rule's IKE_SA, with the main mode policy's proposal.
            try lab.listen(lab.inside, tcp: [5002])
            _ = try lab.tcp(from: lab.server, Lab.internal4, 5002, timeout: 3)
            #expect(da.eventually(10) { (try? charonA.ikeSAs())?["rampart-y1"] == "ESTABLISHED" }, "\(charonA.log())")
            #expect(db.eventually(10) { (try? charonB.ikeSAs())?["rampart-y1"] == "ESTABLISHED" }, "\(charonB.log())")
            let mm = try da.rampart(["dynamic", "show", "mmsas"]).out
            #expect(
                mm.contains("rampart-y1") && mm.contains("AES_CBC/128/HMAC_SHA2_256_128/PRF_HMAC_SHA2_256/MODP_2048"),
                "\(mm)")
            let policies = try lab.server.run(["ip", "xfrm", "policy"]).out
            #expect(policies.contains("proto tcp dport 5002"), "\(policies)")
            // Deleted: charon lets the connection and its trap policies go; the static one stays.
            let deleted = try da.rampart([
                "dynamic", "delete", "rule", "srcaddr=me", "dstaddr=\(Lab.internal4)", "protocol=tcp", "dstport=5002",
                "mirrored=yes"
            ])
            #expect(deleted.status == 0, "\(deleted.err)")
            #expect(da.eventually(5) { (try? charonA.connections()) == ["rampart-l1"] }, "\(da.log())")
            #expect(try !lab.server.run(["ip", "xfrm", "policy"]).out.contains("dport 5002"))
        }
    }

    @Test func aWrongPreSharedKeyIsALoggedIKEFailureAndNothingPasses() throws {
        try Self.twoHosts(keyA: "the-right-key", keyB: "a-wrong-key") { lab, hostA, hostB in
            let (a, charonA, da) = (hostA.cli, hostA.charon, hostA.daemon)
            let (charonB, db) = (hostB.charon, hostB.daemon)
            _ = (a, db)
            try lab.listen(lab.inside, tcp: [5001])
            #expect(try !lab.tcp(from: lab.server, Lab.internal4, 5001, timeout: 2))
            let absent = try sh(
                [RampartCLI.binary, "sas", "--vici", "\(a.directory.path)/none.vici"], allowFailure: true)
            #expect(absent.status == 1 && absent.err.contains("cannot reach charon"), "\(absent.err)")
            // The initiator hears AUTHENTICATION_FAILED from its peer; the responder's MAC check failed.
            #expect(
                da.eventually(10) {
                    da.log().contains("IKE security association negotiation failed with 198.51.100.10")
                },
                "\(da.log())\n\(charonA.log())")
            #expect(da.log().contains("AUTHENTICATION_FAILED"), "\(da.log())")
            let status = try da.rampart(["status"]).out
            #expect(
                status.contains("ipsec:       1 connections, 2 CHILD_SAs in charon;") && status.contains("IKE_SAs up 0")
                    && !status.contains("negotiation failures 0") && status.contains("with 198.51.100.10"), "\(status)")
            #expect(
                db.eventually(10) {
                    db.log().contains("IKE security association negotiation failed")
                        && db.log().contains("MAC mismatched")
                },
                "\(db.log())\n\(charonB.log())")
            #expect(try charonA.ikeSAs()["rampart-l1"] != "ESTABLISHED")
            // show stats: rampartd's count of the failures and the last reason.
            let stats = try da.rampart(["dynamic", "show", "stats", "type=ike"]).out
            #expect(
                !stats.contains("Negotiation failures  0") && stats.contains("Negotiation failures")
                    && stats.contains("AUTHENTICATION_FAILED")
                    && !stats.contains("Xfrm"), "\(stats)")
            // The key itself is never written.
            for log in [da.log(), db.log()] { #expect(!log.contains("the-right-key") && !log.contains("a-wrong-key")) }
        }
    }

    static func server() -> String {
        """
        pushd ipsec static
        add filteraction name=Secure action=negotiate qmsecmethods="ESP[AES256,SHA1]"
        add filter filterlist=Svc srcaddr=any dstaddr=me protocol=tcp dstport=5001
        add policy name=IPsec assign=yes
        add rule name=svc policy=IPsec filterlist=Svc filteraction=Secure psk="k"
        """
    }

    @Test func aHostWithoutIPsecIsDroppedUnlessSoftLetsItTalkInClear() throws {
        try withLab { lab, _ in
            let a = try RampartCLI()
            defer { a.cleanup() }
            let charonA = try Charon(ns: lab.server, directory: a.directory)
            defer { charonA.stop() }
            try a.exec(Self.server())
            let da = try DaemonHarness(cli: a, ns: lab.server, config: Self.config(charonA))
            defer { da.stop() }
            try da.start()
            try lab.listen(lab.server, tcp: [5001, 6001])
            // Any peer may negotiate (remote %any); the external host only speaks clear TCP.
            #expect(
                try !lab.tcp(from: lab.external, Lab.serverExternal4, 5001),
                "clear traffic on a negotiate filter passed")
            #expect(
                try !lab.tcp(from: lab.external, Lab.serverExternal6, 5001),
                "clear IPv6 traffic on a negotiate filter passed")
            #expect(try lab.tcp(from: lab.external, Lab.serverExternal4, 6001), "other ports are not negotiated")
            let counters = try lab.server.run(["nft", "list", "table", "inet", "rampart"]).out
            #expect(counters.contains("drop"), "\(counters)")

            #expect(try lab.server.run(["ip", "xfrm", "policy"]).out.contains("dport 5001"))

            // inpass=yes: the clear SYN is accepted, but the answer must be protected (Windows: "always
            // respond using IPsec"), and this peer cannot negotiate: still no connection.
            let inpass = try da.rampart(["static", "set", "filteraction", "name=Secure", "inpass=yes"])
            #expect(inpass.status == 0, "\(inpass.err)")
            #expect(
                try !lab.tcp(from: lab.external, Lab.serverExternal4, 5001), "inpass alone must not answer in clear")

            // soft=yes: a peer that does not speak IKE is talked to in clear, both ways.
            let soft = try da.rampart(["static", "set", "filteraction", "name=Secure", "inpass=no", "soft=yes"])
            #expect(soft.status == 0, "\(soft.err)")
            #expect(try lab.tcp(from: lab.external, Lab.serverExternal4, 5001), "soft=yes falls back to clear")
            #expect(try lab.tcp(from: lab.external, Lab.serverExternal6, 5001), "soft=yes falls back to clear (IPv6)")
            let policies = try lab.server.run(["ip", "xfrm", "policy"]).out
            #expect(!policies.contains("dport 5001"), "soft: no trap policy that would hold clear packets\n\(policies)")
        }
    }

    @Test func withoutCharonNegotiateStaysClosedAndIsAProblem() throws {
        try withLab { lab, _ in
            let a = try RampartCLI()
            defer { a.cleanup() }
            try a.exec(Self.policy(peer: Lab.internal4, psk: "k"))
            let da = try DaemonHarness(
                cli: a, ns: lab.server, config: "ipsec_vici_socket = \(a.directory.path)/absent.vici\n")
            defer { da.stop() }
            try da.start()
            try lab.listen(lab.inside, tcp: [5001])
            #expect(
                try !lab.tcp(from: lab.server, Lab.internal4, 5001),
                "negotiate without charon must not pass clear traffic")
            let status = try da.rampart(["status"], allowFailure: true)
            #expect(status.out.contains("charon at") && status.out.contains("absent.vici"), "\(status.out)")
            // The IPsec views say so rather than showing nothing.
            let mm = try da.rampart(["dynamic", "show", "mmsas"]).out
            #expect(mm.contains("unknown, charon is not reachable") && mm.contains("absent.vici"), "\(mm)")
            let monitor = try da.rampart(["monitor", "--once"]).out
            #expect(monitor.contains("IPsec — Main mode security associations (IKE_SAs): unknown"), "\(monitor)")
        }
    }
}

/// A test PKI made with openssl: CAs and host certificates (the host's address as subjectAltName).
struct TestPKI {
    let directory: URL

    init(_ directory: URL) throws {
        self.directory = directory
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
    }

    func path(_ name: String) -> String { directory.appendingPathComponent(name).path }

    /// `ca.pem` and `ca.key`, subject `C=US, O=Rampart Test, CN=<cn>`.
    func ca(_ name: String, cn: String) throws {
        try sh([
            "openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", path("\(name).key"), "-out",
            path("\(name).pem"),
            "-subj", "/C=US/O=Rampart Test/CN=\(cn)", "-days", "2"
        ])
    }

    /// `<host>.pem` and `<host>.key` signed by CA `ca`.
    func host(_ host: String, address: String, ca: String) throws {
        try sh([
            "openssl", "req", "-newkey", "rsa:2048", "-nodes", "-keyout", path("\(host).key"), "-out",
            path("\(host).csr"),
            "-subj", "/C=US/O=Rampart Test/CN=\(host)"
        ])
        try "subjectAltName=IP:\(address)\nkeyUsage=digitalSignature\n".write(
            toFile: path("\(host).ext"), atomically: true, encoding: .utf8)
        try sh([
            "openssl", "x509", "-req", "-in", path("\(host).csr"), "-CA", path("\(ca).pem"), "-CAkey",
            path("\(ca).key"),
            "-CAcreateserial", "-out", path("\(host).pem"), "-days", "2", "-extfile", path("\(host).ext")
        ])
    }

    /// The host's rampartd files: `ipsec/host.pem`, `ipsec/host.key` (mode `keyMode`), `ipsec/ca/` with `trusted` CAs.
    func install(_ host: String, trusted: [String], in dir: URL, keyMode: mode_t = 0o600) throws -> String {
        let ipsec = dir.appendingPathComponent("ipsec"), cas = ipsec.appendingPathComponent("ca")
        try FileManager.default.createDirectory(at: cas, withIntermediateDirectories: true)
        try FileManager.default.copyItem(
            atPath: path("\(host).pem"), toPath: ipsec.appendingPathComponent("host.pem").path)
        try FileManager.default.copyItem(
            atPath: path("\(host).key"), toPath: ipsec.appendingPathComponent("host.key").path)
        chmod(ipsec.appendingPathComponent("host.key").path, keyMode)
        for ca in trusted {
            try FileManager.default.copyItem(
                atPath: path("\(ca).pem"), toPath: cas.appendingPathComponent("\(ca).pem").path)
        }
        return
            "ipsec_certificate = \(ipsec.path)/host.pem\nipsec_private_key = \(ipsec.path)/host.key\nipsec_ca_directory = \(cas.path)\n"
    }
}

extension IPsecTests {
    static let rootCA = "C=US, O=Rampart Test, CN=Rampart Test CA"

    @Test func rootCAAuthenticatesByCertificateAndAReloadRereadsTheKey() throws {
        let pki = try TestPKI(
            FileManager.default.temporaryDirectory.appendingPathComponent("rampart-pki-\(UUID().uuidString)"))
        defer { try? FileManager.default.removeItem(at: pki.directory) }
        try pki.ca("root", cn: "Rampart Test CA")
        try pki.host("host-a", address: Lab.serverInternal4, ca: "root")
        try pki.host("host-b", address: Lab.internal4, ca: "root")
        // Host A's key starts group-readable: refused, nothing loaded, clear traffic still dropped.
        try Self.twoHosts(
            authA: "rootca=\"\(Self.rootCA)\"", authB: "rootca=\"\(Self.rootCA)\"",
            prepare: { dir, own in
                try pki.install(
                    own == Lab.serverInternal4 ? "host-a" : "host-b", trusted: ["root"], in: dir,
                    keyMode: own == Lab.serverInternal4 ? 0o640 : 0o600)
            }
        ) { lab, hostA, hostB in
            let (a, charonA, da) = (hostA.cli, hostA.charon, hostA.daemon)
            let (charonB, db) = (hostB.charon, hostB.daemon)
            #expect(
                da.eventually(5) {
                    ((try? da.rampart(["status"], allowFailure: true).out) ?? "").contains("IPsec credentials")
                }, "\(da.log())")
            let status = try da.rampart(["status"], allowFailure: true).out
            #expect(status.contains("may be read by group or others (mode 640); chmod 600 it"), "\(status)")
            #expect(try charonA.connections() == [])
            try lab.listen(lab.inside, tcp: [5001])
            #expect(
                try !lab.tcp(from: lab.server, Lab.internal4, 5001, timeout: 2),
                "negotiate without credentials must not pass clear traffic")

            // Fixed and reloaded: the key is read again, the connection loaded, IKE authenticates by certificate.
            chmod(a.directory.appendingPathComponent("ipsec/host.key").path, 0o600)
            #expect(try da.rampart(["reload"]).status == 0)
            #expect(da.eventually(10) { (try? charonA.connections()) == ["rampart-l1"] }, "\(da.log())")
            _ = try lab.tcp(from: lab.server, Lab.internal4, 5001, timeout: 3)
            #expect(da.eventually(10) { (try? charonA.ikeSAs())?["rampart-l1"] == "ESTABLISHED" }, "\(charonA.log())")
            #expect(db.eventually(10) { (try? charonB.ikeSAs())?["rampart-l1"] == "ESTABLISHED" }, "\(charonB.log())")
            let mm = try da.rampart(["dynamic", "show", "mmsas"]).out
            #expect(mm.contains("C=US, O=Rampart Test, CN=host-b") && mm.contains("ESTABLISHED"), "\(mm)")
            #expect(
                charonA.log().contains("authentication of 'C=US, O=Rampart Test, CN=host-b' with RSA"),
                "\(charonA.log())")
            #expect(!status.contains("PRIVATE KEY") && !da.log().contains("PRIVATE KEY"))
        }
    }

    @Test func aCertificateFromAnotherCAIsALoggedFailure() throws {
        let pki = try TestPKI(
            FileManager.default.temporaryDirectory.appendingPathComponent("rampart-pki-\(UUID().uuidString)"))
        defer { try? FileManager.default.removeItem(at: pki.directory) }
        try pki.ca("root", cn: "Rampart Test CA")
        try pki.ca("rogue", cn: "Rogue CA")
        try pki.host("host-a", address: Lab.serverInternal4, ca: "root")
        try pki.host("host-b", address: Lab.internal4, ca: "rogue")
        // B trusts both CAs, A only its own and demands it: A must refuse B.
        try Self.twoHosts(
            authA: "rootca=\"\(Self.rootCA)\"", authB: "rootca=\"\(Self.rootCA)\"",
            prepare: { dir, own in
                own == Lab.serverInternal4
                    ? try pki.install("host-a", trusted: ["root"], in: dir)
                    : try pki.install("host-b", trusted: ["root", "rogue"], in: dir)
            }
        ) { lab, hostA, hostB in
            let (charonA, da) = (hostA.charon, hostA.daemon)
            try lab.listen(lab.inside, tcp: [5001])
            #expect(try !lab.tcp(from: lab.server, Lab.internal4, 5001, timeout: 2))
            #expect(
                da.eventually(10) { da.log().contains("IKE security association negotiation failed") },
                "\(da.log())\n\(charonA.log())")
            #expect(try charonA.ikeSAs()["rampart-l1"] != "ESTABLISHED")
            // Named: the peer (its address, the rule's only one) and why — the chain does not end at a trusted CA.
            #expect(
                da.log().contains(
                    "IKE security association negotiation failed with 198.51.100.10 (rule 'svc' of policy 'IPsec'): no trusted RSA public key found for 'C=US, O=Rampart Test, CN=host-b'"
                ), "\(da.log())")
            _ = hostB
        }
    }
}
