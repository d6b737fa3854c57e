import Foundation
import Testing
@testable import RampartFleet
import RampartNamespaceKit
import RampartTestKit

extension HeavySuites {
    /// The etcd client against a real three-member cluster with TLS and RBAC (no mocks): the
    /// operations the fleet needs, permissions as docs/fleet.md sets them, failover to another
    /// member when the one in use dies, and refusals that name their reason.
    @Suite(.serialized) struct EtcdClientTests {
        static var haveEtcd: Bool { FileManager.default.isExecutableFile(atPath: "/usr/bin/etcd") }

        @Test(.enabled(if: haveEtcd)) func operationsPermissionsAndFailover() async throws {
            let cluster = try EtcdCluster(basePort: 23_790)
            defer { cluster.cleanup() }
            try cluster.enableRBAC(group: "web", hosts: ["host1"])
            let policyKey = "\(EtcdCluster.prefix)/groups/web/policy",
                statusKey = "\(EtcdCluster.prefix)/status/web/host1"
            func settings(user: String, password: String, cert: String = "host") -> EtcdSettings {
                EtcdSettings(
                    endpoints: cluster.endpoints, caFile: cluster.path("ca.crt"),
                    certificateFile: cluster.path("\(cert).crt"),
                    keyFile: cluster.path("\(cert).key"), user: user, password: password,
                    // Room, not a timing check: in the AddressSanitizer run beside CPU-bound suites, the
                    // election after `kill(0)` and a login through raft overran 10 s twice.
                    requestTimeout: 30)
            }
            let admin = try EtcdClient(settings: settings(user: "admin", password: "admin-secret"))
            let host = try EtcdClient(settings: settings(user: "host1", password: "host1-secret"))
            defer {
                Task {
                    await admin.shutdown()
                    await host.shutdown()
                }
            }

            // Compare-and-swap: the first write needs the key absent, the second the revision read.
            let first = try #require(try await admin.put(policyKey, Array("v1".utf8), ifModRevision: 0))
            #expect(try await admin.put(policyKey, Array("lost".utf8), ifModRevision: 0) == nil)
            let read = try await host.range(policyKey)
            #expect(read.kvs.map(\.text) == ["v1"])
            #expect(read.kvs.first?.modRevision == first)

            // The host reads its group and writes its own status key under a lease, nothing else.
            let lease = try await host.grantLease(ttl: 120)
            try await host.put(statusKey, Array("{}".utf8), lease: lease)
            #expect(try await host.keepAlive(lease: lease) > 0)
            await #expect(throws: EtcdError.self) { try await host.put(policyKey, Array("mine".utf8)) }
            do {
                try await host.put("\(EtcdCluster.prefix)/status/web/host2", Array("{}".utf8))
                Issue.record("host1 wrote another host's status key")
            } catch {
                #expect(error.kind == .denied, "\(error)")
            }
            #expect(
                try await admin.range("\(EtcdCluster.prefix)/status/web/", prefix: true).kvs.map(\.key) == [statusKey])

            // A watch from the revision read sees every later write, in order.
            let stream = host.watch(policyKey, from: first + 1)
            let second = try #require(try await admin.put(policyKey, Array("v2".utf8), ifModRevision: first))
            var iterator = stream.makeAsyncIterator()
            var seen: [String] = []
            while seen.isEmpty, let batch = try await iterator.next() {
                for case .put(let kv) in batch.events {
                    seen.append(kv.text)
                    #expect(kv.modRevision == second)
                }
            }
            #expect(seen == ["v2"])

            // History: the value as it was at an older revision.
            #expect(try await admin.range(policyKey, revision: first).kvs.map(\.text) == ["v1"])

            // The member in use dies: the next request goes to another member.
            cluster.kill(0)
            #expect(try await host.range(policyKey).kvs.map(\.text) == ["v2"])
            let third = try await admin.put(policyKey, Array("v3".utf8))
            #expect(third > second)

            // Wrong password, and a certificate of another CA: refused, with the reason.
            let wrong = try EtcdClient(settings: settings(user: "host1", password: "guess"))
            do {
                _ = try await wrong.range(policyKey)
                Issue.record("a wrong password was accepted")
            } catch {
                #expect(error.kind == .denied, "\(error)")
                #expect(!error.message.contains("guess"), "the password leaked into: \(error)")
            }
            await wrong.shutdown()
            let stranger = try EtcdClient(settings: settings(user: "host1", password: "host1-secret", cert: "stranger"))
            do {
                _ = try await stranger.range(policyKey)
                Issue.record("a certificate of another CA was accepted")
            } catch {
                #expect(error.kind == .unreachable, "\(error)")
            }
            await stranger.shutdown()

            // Revoking the lease removes the status key with it.
            try await host.revokeLease(lease)
            #expect(try await admin.range(statusKey).kvs.isEmpty)
        }

        @Test func prefixEndIsTheNextKey() {
            #expect(EtcdClient.prefixEnd("/a/") == Array("/a0".utf8))
            #expect(EtcdClient.prefixEnd("a\u{7F}") == [0x61, 0x80])
        }

        /// The endpoints an admin writes, as the gateway client connects to them: an address is
        /// checked against the certificate's addresses (no SNI), a name is sent as SNI.
        @Test func gatewayTargets() throws {
            let v4 = try #require(GatewayHTTP.Target("https://198.51.100.1:2379/v3/kv/range"))
            #expect(v4 == GatewayHTTP.Target(tls: true, host: "198.51.100.1", port: 2379, path: "/v3/kv/range"))
            #expect(v4.isAddress && v4.hostHeader == "198.51.100.1:2379")
            let v6 = try #require(GatewayHTTP.Target("http://[2001:db8::1]:2379/v3/watch"))
            #expect(v6.host == "2001:db8::1" && v6.port == 2379 && !v6.tls && v6.isAddress)
            #expect(v6.hostHeader == "[2001:db8::1]:2379")
            let name = try #require(GatewayHTTP.Target("https://etcd-1.example.net/v3/kv/put"))
            #expect(name.port == 443 && !name.isAddress && name.path == "/v3/kv/put")
            for bad in [
                "ftp://198.51.100.1:2379/", "https://:2379/", "https://198.51.100.1:0/", "https://198.51.100.1:99999/"
            ] {
                #expect(GatewayHTTP.Target(bad) == nil, "\(bad)")
            }
        }
    }

    /// `rampart domain` against the real cluster, as an admin uses it.
    @Suite(.serialized) struct DomainCommandTests {
        @Test(.enabled(if: EtcdClientTests.haveEtcd)) func pushShowHistoryDiffRollback() throws {
            let cluster = try EtcdCluster(basePort: 23_820)
            defer { cluster.cleanup() }
            try cluster.enableRBAC(group: "web", hosts: ["host1"])
            let cli = try RampartCLI()
            defer { cli.cleanup() }
            let password = try cluster.write("admin.password", "admin-secret\n")
            let connection = [
                "--group", "web", "--endpoints", cluster.endpoints.joined(separator: ","), "--cacert",
                cluster.path("ca.crt"),
                "--cert", cluster.path("host.crt"), "--key", cluster.path("host.key"), "--user", "admin",
                "--password-file", password
            ]
            func domain(
                _ verb: String, _ rest: [String] = [], allowFailure: Bool = false
            ) throws -> (status: Int32, out: String, err: String) {
                try sh([RampartCLI.binary, "domain", verb] + connection + rest, allowFailure: allowFailure)
            }
            let v1 = try cli.file("v1.netsh", DomainPolicyScripts.ssh(port: 22))
            let v2 = try cli.file("v2.netsh", DomainPolicyScripts.ssh(port: 2222))
            let broken = try cli.file(
                "broken.netsh",
                "pushd ipsec static\nadd filteraction name=B action=block\nadd filter filterlist=L srcaddr=any dstaddr=me protocol=tcp dstport=70000\n"
            )

            let first = try domain("push", [v1])
            #expect(first.out.contains("published at revision") && first.out.contains("(first)"), "\(first)")
            let r1 = try #require(Int64(first.out.split(separator: " ").first { Int64($0) != nil } ?? ""))

            // A broken script: file:line:column, nothing written.
            let refused = try domain("push", [broken], allowFailure: true)
            #expect(refused.status != 0)
            #expect(refused.err.contains("broken.netsh:3:"), "\(refused.err)")
            #expect(refused.err.contains("nothing was changed"))
            #expect(
                try cluster.ctl(["get", "\(EtcdCluster.prefix)/groups/web/policy", "--print-value-only"]).out
                    == DomainPolicyScripts.ssh(port: 22) + "\n")

            // Two admins: the second pushes against the revision it read before the first pushed.
            let second = try domain("push", [v2, "--expect-revision", String(r1)])
            #expect(second.out.contains("replaces \(r1)"), "\(second)")
            let stale = try domain("push", [v1, "--expect-revision", String(r1)], allowFailure: true)
            #expect(stale.status != 0 && stale.err.contains("changed after revision \(r1)"), "\(stale)")

            #expect(try domain("show").out == DomainPolicyScripts.ssh(port: 2222) + "\n")
            #expect(try domain("show", ["--revision", String(r1)]).out == DomainPolicyScripts.ssh(port: 22) + "\n")
            let history = try domain("history", ["--json"]).out
            let rows = try #require(
                (try JSONSerialization.jsonObject(with: Data(history.utf8)) as? [String: Any])?["revisions"]
                    as? [[String: Any]])
            #expect(rows.count == 2)
            #expect(rows.map { $0["policy"] as? String } == ["Fleet", "Fleet"])
            let diff = try domain("diff").out
            #expect(
                diff.contains("-add filter filterlist=\"SSH\" srcaddr=any dstaddr=me protocol=tcp dstport=22\n"),
                "\(diff)")
            #expect(
                diff.contains("+add filter filterlist=\"SSH\" srcaddr=any dstaddr=me protocol=tcp dstport=2222\n"),
                "\(diff)")

            let back = try domain("rollback", ["--to", String(r1)])
            #expect(back.out.contains("revision \(r1) published again"), "\(back)")
            #expect(try domain("show").out == DomainPolicyScripts.ssh(port: 22) + "\n")
            #expect(try domain("history").out.split(separator: "\n").count == 4)

            // A Windows policy store export is published as the netsh script of its objects.
            let exported = Fixtures.repositoryRoot.appendingPathComponent(
                "Tests/RampartCLITests/Golden/windows/web.reg")
            let windows = try domain("push", [exported.path])
            #expect(windows.out.contains("policy 'Web Server' published at revision"), "\(windows)")
            let published = try domain("show").out
            #expect(
                published.hasPrefix("# netsh commands equivalent to the Windows policy objects of ")
                    && published.contains("add policy name=\"Web Server\""), "\(published)")
            #expect(try domain("rollback", ["--to", String(r1)]).status == 0)

            // A host's credentials cannot publish.
            let hostPassword = try cluster.write("host1.password", "host1-secret\n")
            let denied = try sh(
                [
                    RampartCLI.binary, "domain", "push", "--group", "web", "--endpoints",
                    cluster.endpoints.joined(separator: ","),
                    "--cacert", cluster.path("ca.crt"), "--cert", cluster.path("host.crt"), "--key",
                    cluster.path("host.key"),
                    "--user", "host1", "--password-file", hostPassword, v2
                ], allowFailure: true)
            #expect(denied.status != 0 && denied.err.contains("etcd denied"), "\(denied)")
        }
    }
}

enum DomainPolicyScripts {
    static func ssh(port: Int) -> String {
        """
        pushd ipsec static
        add filteraction name=Block action=block
        add filterlist name="SSH"
        add filter filterlist="SSH" srcaddr=any dstaddr=me protocol=tcp dstport=\(port)
        add policy name="Fleet" assign=yes
        add rule name="No SSH" policy="Fleet" filterlist="SSH" filteraction=Block
        """
    }
}
