import Foundation
import Testing
import RampartNamespaceKit
import RampartTestKit

extension HeavySuites {
    /// The fleet end to end (docs/fleet.md): a real 3-member etcd cluster with TLS and RBAC in its
    /// own namespace, three rampartd hosts in theirs, joined by veth links; real TCP probes from the
    /// etcd namespace decide what each host enforces.
    @Suite(.serialized) struct FleetTests {
        static let group = "web"

        final class Host {
            let name: String
            let ns: Namespace
            let cli: RampartCLI
            let daemon: DaemonHarness
            let address: String
            var listener: ChildProcess?

            init(index: Int, ns: Namespace, cluster: EtcdCluster, certificate: String = "host") throws {
                name = "h\(index)"
                self.ns = ns
                address = "198.51.100.\(4 * index + 2)"
                cli = try RampartCLI()
                let password = try cli.file("password", "\(name)-secret\n")
                let endpoints = cluster.clientPorts.map { "https://198.51.100.\(4 * index + 1):\($0)" }.joined(
                    separator: " ")
                daemon = try DaemonHarness(
                    cli: cli, ns: ns,
                    config: """
                        etcd_endpoints = \(endpoints)
                        etcd_ca = \(cluster.path("ca.crt"))
                        etcd_cert = \(cluster.path("\(certificate).crt"))
                        etcd_key = \(cluster.path("\(certificate).key"))
                        etcd_user = \(name)
                        etcd_password_file = \(password)
                        etcd_group = \(FleetTests.group)
                        etcd_host = \(name)
                        etcd_status_ttl_seconds = 6
                        domain_cache = \(cli.directory.appendingPathComponent("domain-cache.json").path)

                        """)
            }

            func rewriteConfig(certificate: String, cluster: EtcdCluster) throws {
                var text = try String(contentsOfFile: daemon.configPath, encoding: .utf8)
                text = text.replacingOccurrences(of: cluster.path("host.crt"), with: cluster.path("\(certificate).crt"))
                text = text.replacingOccurrences(of: cluster.path("host.key"), with: cluster.path("\(certificate).key"))
                try text.write(toFile: daemon.configPath, atomically: true, encoding: .utf8)
            }

            func status() throws -> [String: Any] {
                let out = try daemon.rampart(["status", "--json"]).out
                return try JSONSerialization.jsonObject(with: Data(out.utf8)) as? [String: Any] ?? [:]
            }

            func cleanup() {
                daemon.stop()
                if let listener, listener.isRunning {
                    kill(listener.processIdentifier, SIGKILL)
                    listener.waitUntilExit()
                }
                ns.delete()
                cli.cleanup()
            }
        }

        @Test(.enabled(if: EtcdClientTests.haveEtcd)) func pushesConvergeAndHostsNeverWaitOrOpen() throws {
            let etcdNS = try Namespace("fe")
            var hosts: [Host] = []
            var cluster: EtcdCluster?
            defer {
                for h in hosts { h.cleanup() }
                cluster?.cleanup()
                etcdNS.delete()
            }
            var namespaces: [Namespace] = []
            for i in 0..<3 {
                let ns = try Namespace("fh")
                namespaces.append(ns)
                try link(etcdNS, ["198.51.100.\(4 * i + 1)/30"], ns, ["198.51.100.\(4 * i + 2)/30"])
            }
            let etcd = try EtcdCluster(
                basePort: 23_840, namespace: etcdNS, addresses: (0..<3).map { "198.51.100.\(4 * $0 + 1)" })
            cluster = etcd
            try etcd.enableRBAC(group: Self.group, hosts: ["h0", "h1", "h2"])
            // h1's own store is unreadable: it must refuse every domain policy (fail closed) while the others apply them.
            for i in 0..<3 {
                let h = try Host(index: i, ns: namespaces[i], cluster: etcd)
                hosts.append(h)
                if i == 1 { try "{ not a store".write(toFile: h.cli.store, atomically: true, encoding: .utf8) }
                // h0's port 22 is an echo server, so an admin's session can be held open to it.
                h.listener = try h.ns.spawn([
                    "python3", RampartCLI.probe, "serve", "--tcp", i == 0 ? "2222" : "22,2222", "--udp", ""
                ])
                try h.daemon.start()
            }
            let sshd = try hosts[0].ns.spawn(["python3", RampartCLI.probe, "echo", "--tcp", "22"])
            defer { sshd.killGroup() }
            try waitUntil("h0's echo server listens on 22") { try hosts[0].ns.run(["ss", "-lnH"]).out.contains(":22 ") }
            let admin = try etcd.write("admin.password", "admin-secret\n")
            let scratch = try RampartCLI()
            defer { scratch.cleanup() }
            func domain(
                _ verb: String, _ rest: [String], allowFailure: Bool = false
            ) throws -> (status: Int32, out: String, err: String) {
                let live = (0..<3).filter { etcd.members[$0] != nil }.map { etcd.endpoints[$0] }.joined(separator: ",")
                return try sh(
                    [
                        "ip", "netns", "exec", etcdNS.name, RampartCLI.binary, "domain", verb, "--group", Self.group,
                        "--endpoints", live,
                        "--cacert", etcd.path("ca.crt"), "--cert", etcd.path("host.crt"), "--key",
                        etcd.path("host.key"),
                        "--user", "admin", "--password-file", admin
                    ] + rest, allowFailure: allowFailure)
            }
            func push(blocking port: Int) throws -> Int64 {
                let file = try scratch.file("p\(port).netsh", DomainPolicyScripts.ssh(port: port))
                let out = try domain("push", [file]).out
                return try #require(Int64(out.split(separator: " ").first { Int64($0) != nil } ?? ""), "\(out)")
            }
            func open(_ h: Host, _ port: Int) throws -> Bool {
                try etcdNS.run(
                    ["python3", RampartCLI.probe, "tcp", h.address, String(port), "--sport", "0", "--timeout", "0.6"],
                    allowFailure: true
                ).status == 0
            }
            func enforces(_ h: Host, blocked: Int, open other: Int) throws -> Bool {
                try !open(h, blocked) && open(h, other)
            }
            func reported(_ h: Host) throws -> [String: Any]? {
                let out = try etcd.ctl([
                    "get", "\(EtcdCluster.prefix)/status/\(Self.group)/\(h.name)", "--print-value-only"
                ]).out
                return try? JSONSerialization.jsonObject(with: Data(out.utf8)) as? [String: Any]
            }
            func reportsRevision(_ h: Host, _ revision: Int64) throws -> Bool {
                (try reported(h)?["revision"] as? NSNumber)?.int64Value == revision
            }
            let good = [hosts[0], hosts[2]]

            // No domain policy yet, no local policy: nothing is filtered.
            #expect(try open(hosts[0], 22) && open(hosts[0], 2222))
            // An admin's SSH session to h0, which the first push cuts: nobody is there to confirm,
            // so h0 applies it and its report (and `domain status`) names the session.
            let session = try HeldSession(etcdNS, hosts[0].address, 22)
            #expect(session.echoes())

            // 1. A push reaches every host that can apply it within 2 s, enforced and reported.
            let r1 = try push(blocking: 22)
            var started = Date()
            for h in good {
                #expect(
                    try h.daemon.eventually(2) { try reportsRevision(h, r1) },
                    "\(h.name) did not report revision \(r1): \(h.daemon.log().suffix(1500))")
            }
            let firstConvergence = Date().timeIntervalSince(started)
            for h in good { #expect(try enforces(h, blocked: 22, open: 2222), "\(h.name)") }
            // The host with a corrupt store refused it, said why, and kept its boot ruleset.
            #expect(
                try hosts[1].daemon.eventually(5) {
                    (try reported(hosts[1])?["refusedRevision"] as? NSNumber)?.int64Value == r1
                })
            #expect((try reported(hosts[1])?["error"] as? String ?? "").contains("local store is unreadable"))
            let statusOut = try domain("status", [], allowFailure: true)
            #expect(statusOut.status != 0, "one host has not converged")
            #expect(statusOut.out.contains("2 of 3 hosts converged"), "\(statusOut.out)")
            #expect(!session.echoes(), "the push cut the session")
            let cut = "revision \(r1) cut session \(session.endpoints): its arriving packets would be dropped by G"
            let h0Report = try reported(hosts[0])
            #expect(
                ((h0Report?["cutSessions"] as? [String]) ?? []).contains { $0.hasPrefix(cut) },
                "\(String(describing: h0Report))")
            #expect(statusOut.out.contains(cut), "\(statusOut.out)")
            #expect(try reported(hosts[2])?["cutSessions"] == nil, "h2 had no session to cut")
            let shown = try hosts[0].status()
            #expect((shown["domain"] as? String ?? "").contains("group 'web', etcd revision \(r1)"), "\(shown)")
            let domainRow: String = (shown["assignedPolicies"] as? [String: Any])?["domain"] as? String ?? ""
            #expect(domainRow.hasPrefix("Fleet (group web, revision \(r1), arrived "), "\(shown)")
            let active = try hosts[0].daemon.rampart(["show", "active"]).out
            #expect(
                active.hasPrefix("Domain policy: policy 'Fleet' of group 'web', etcd revision \(r1), arrived "),
                "\(active)")
            #expect(active.contains("domain:web/Fleet/No SSH/SSH/#1"), "\(active)")

            // 2. The leader dies: the next push still converges after re-election.
            etcd.kill(try etcd.leader())
            let r2 = try push(blocking: 2222)
            for h in good {
                #expect(
                    try h.daemon.eventually(10) { try reportsRevision(h, r2) },
                    "\(h.name) after the leader was killed: \(h.daemon.log().suffix(1500))")
                #expect(try enforces(h, blocked: 2222, open: 22))
            }

            // 3. The whole cluster stops: every host keeps enforcing; a host restarted meanwhile
            // enforces the cached domain policy before READY.
            etcd.stop()
            for h in good { #expect(try enforces(h, blocked: 2222, open: 22), "\(h.name) without etcd") }
            hosts[0].daemon.kill9()
            try hosts[0].daemon.start()
            #expect(try enforces(hosts[0], blocked: 2222, open: 22), "restarted without etcd: the cached policy")
            let cachedStatus = try hosts[0].status()
            #expect(
                (cachedStatus["domain"] as? String ?? "").contains("revision \(r2)")
                    && (cachedStatus["domain"] as? String ?? "").contains("from the cache"), "\(cachedStatus)")

            // 4. The cluster comes back and a push catches every host up (the restarted one included).
            for i in 0..<3 { try etcd.start(i) }
            try etcd.waitHealthy()
            let r3 = try push(blocking: 22)
            started = Date()
            for h in good {
                #expect(
                    try h.daemon.eventually(45) { try reportsRevision(h, r3) },
                    "\(h.name) after the cluster came back: \(h.daemon.log().suffix(1500))")
                #expect(try enforces(h, blocked: 22, open: 2222))
            }
            let catchUp = Date().timeIntervalSince(started)

            // 5. Wrong client certificate (another CA's): the host keeps its cached policy and says why.
            hosts[2].daemon.kill9()
            try hosts[2].rewriteConfig(certificate: "stranger", cluster: etcd)
            try hosts[2].daemon.start()
            #expect(try enforces(hosts[2], blocked: 22, open: 2222), "wrong certificate: the cached policy")
            let refusedByEtcd = try hosts[2].daemon.eventually(10) {
                let status = try hosts[2].status()
                return (status["fleet"] as? String ?? "").contains("etcd")
                    && (status["problems"] as? [String] ?? []).contains { $0.contains("service fleet stopped") }
            }
            let lastStatus = try hosts[2].status()
            #expect(refusedByEtcd, "\(lastStatus)")
            print(
                "fleet: first push converged on 2 hosts in \(String(format: "%.2f", firstConvergence)) s; after the cluster restart in \(String(format: "%.2f", catchUp)) s"
            )
        }
    }
}
