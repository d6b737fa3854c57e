import Foundation
import Testing
import RampartFleet
import RampartNamespaceKit
import RampartTestKit

/// The etcd client against a real three-member cluster with TLS and RBAC (no mocks): the
/// operations the fleet needs, permissions as docs/fleet.md sets them, failover to another
/// member when the one in use dies, and refusals that name their reason.
@Suite(.serialized) struct EtcdClientTests {
    static var haveEtcd: Bool { FileManager.default.isExecutableFile(atPath: "/usr/bin/etcd") }

    @Test(.enabled(if: haveEtcd)) func operationsPermissionsAndFailover() async throws {
        let cluster = try EtcdCluster(basePort: 23_790)
        defer { cluster.cleanup() }
        try cluster.enableRBAC(group: "web", hosts: ["host1"])
        let policyKey = "\(EtcdCluster.prefix)/groups/web/policy", statusKey = "\(EtcdCluster.prefix)/status/web/host1"
        func settings(user: String, password: String, cert: String = "host") -> EtcdSettings {
            EtcdSettings(endpoints: cluster.endpoints, caFile: cluster.path("ca.crt"), certificateFile: cluster.path("\(cert).crt"),
                         keyFile: cluster.path("\(cert).key"), user: user, password: password)
        }
        let admin = try EtcdClient(settings: settings(user: "admin", password: "admin-secret"))
        let host = try EtcdClient(settings: settings(user: "host1", password: "host1-secret"))
        defer { Task { await admin.shutdown(); await host.shutdown() } }

        // Compare-and-swap: the first write needs the key absent, the second the revision read.
        let first = try #require(try await admin.put(policyKey, Array("v1".utf8), ifModRevision: 0))
        #expect(try await admin.put(policyKey, Array("lost".utf8), ifModRevision: 0) == nil)
        let read = try await host.range(policyKey)
        #expect(read.kvs.map(\.text) == ["v1"])
        #expect(read.kvs.first?.modRevision == first)

        // The host reads its group and writes its own status key under a lease, nothing else.
        let lease = try await host.grantLease(ttl: 5)
        try await host.put(statusKey, Array("{}".utf8), lease: lease)
        #expect(try await host.keepAlive(lease: lease) > 0)
        await #expect(throws: EtcdError.self) { try await host.put(policyKey, Array("mine".utf8)) }
        do {
            try await host.put("\(EtcdCluster.prefix)/status/web/host2", Array("{}".utf8))
            Issue.record("host1 wrote another host's status key")
        } catch {
            #expect(error.kind == .denied, "\(error)")
        }
        #expect(try await admin.range("\(EtcdCluster.prefix)/status/web/", prefix: true).kvs.map(\.key) == [statusKey])

        // A watch from the revision read sees every later write, in order.
        let stream = host.watch(policyKey, from: first + 1)
        let second = try #require(try await admin.put(policyKey, Array("v2".utf8), ifModRevision: first))
        var iterator = stream.makeAsyncIterator()
        var seen: [String] = []
        while seen.isEmpty, let batch = try await iterator.next() {
            for case .put(let kv) in batch.events { seen.append(kv.text); #expect(kv.modRevision == second) }
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
}
