import Foundation
import Testing
@testable import RampartDaemon
import RampartPolicy
import RampartSystem
import RampartTestKit
import RampartConfig

/// The engine's side of the fleet (docs/fleet.md), without etcd or root: adopt, refuse, cache,
/// boot from the cache, withdraw.
@Suite struct DomainEngineTests {
    static func fleet(_ group: String) -> (inout DaemonConfig) -> Void {
        { config in
            config.etcdEndpoints = ["https://192.0.2.1:2379"]
            config.etcdGroup = group
        }
    }

    static let blockSSH = Fixtures.fleetBlockSSH

    /// Without a local store, a cached domain policy is what filters, and the status says so
    /// instead of "traffic is not filtered" (issue 29, item 18).
    @Test func aCachedDomainPolicyWithoutAStoreIsWhatTheStatusNames() async throws {
        let f = try EngineFixture(configure: Self.fleet("web"))
        try await f.start()
        #expect(await f.engine.domainPolicy(group: "web", revision: 5, script: Self.blockSSH) == .applied)
        let g = try EngineFixture(policy: nil, configure: Self.fleet("web"))
        try FileManager.default.copyItem(atPath: f.config.domainCache, toPath: g.config.domainCache)
        try await g.start()
        let line = await g.engine.statusLine()
        #expect(!line.contains("traffic is not filtered"), "\(line)")
        #expect(
            line.contains(
                "no local policy; the domain policy is enforced (policy 'Fleet' of group 'web', etcd revision 5"),
            "\(line)")
    }

    @Test func adoptRefuseCacheBootAndWithdraw() async throws {
        let f = try EngineFixture(configure: Self.fleet("web"))
        try await f.start()
        #expect(await f.engine.status().domain == nil)
        let before = f.transport.transactions.count

        #expect(await f.engine.domainPolicy(group: "web", revision: 5, script: Self.blockSSH) == .applied)
        #expect(f.transport.transactions.count == before + 1, "one transaction")
        var status = await f.engine.status()
        #expect(
            status.domain?.contains("policy 'Fleet' of group 'web', etcd revision 5") == true,
            "\(status.domain ?? "nil")")
        let domainRow: String = status.assignedPolicies.first { $0.location == "domain" }?.name ?? ""
        #expect(domainRow.hasPrefix("Fleet (group web, revision 5, arrived "), "\(domainRow)")
        #expect(
            status.assignedPolicies.contains {
                $0.location == "local" && ($0.name ?? "").hasSuffix("(replaced by the domain policy)")
            })
        let cache = try #require(try DomainCache.load(f.config.domainCache))
        #expect(cache.revision == 5 && cache.group == "web" && cache.script == Self.blockSSH)
        var info = stat()
        #expect(stat(f.config.domainCache, &info) == 0 && info.st_mode & 0o777 == 0o600)

        // The same revision again (a reconnect): nothing to do.
        #expect(await f.engine.domainPolicy(group: "web", revision: 5, script: Self.blockSSH) == .unchanged)
        #expect(f.transport.transactions.count == before + 1)

        // A broken revision is refused whole: revision 5 stays, the cache too, the reason is shown.
        guard
            case .refused(let reason) = await f.engine.domainPolicy(
                group: "web", revision: 6,
                script:
                    "pushd ipsec static\nadd filter filterlist=L srcaddr=any dstaddr=me protocol=tcp dstport=70000\n")
        else {
            Issue.record("a broken domain script was not refused")
            return
        }
        #expect(reason.contains("web@6:2:"), "\(reason)")
        status = await f.engine.status()
        #expect(status.domain?.contains("revision 5") == true)
        #expect(
            status.problems.contains {
                $0.contains("domain policy revision 6 refused") && $0.contains("revision 5 stays in force")
            }, "\(status.problems)")
        #expect(try DomainCache.load(f.config.domainCache)?.revision == 5)
        #expect(f.transport.transactions.count == before + 1, "nothing reached the kernel")
        let report = await f.engine.fleetStatusDocument(host: "h1")
        #expect(report.contains("\"refusedRevision\":6") && report.contains("\"revision\":5"), "\(report)")

        // The kernel rejects a revision's ruleset (this host only): refused, revision 5 stays in force.
        f.transport.rejectNextTransaction(errno: ENOMEM)
        let applies = f.transport.transactions.filter(\.committed).count
        guard
            case .refused(let kernel) = await f.engine.domainPolicy(
                group: "web", revision: 8,
                script: Self.blockSSH.replacingOccurrences(of: "dstport=22", with: "dstport=23"))
        else {
            Issue.record("a revision the kernel rejected was not refused")
            return
        }
        #expect(kernel.contains("the kernel rejected its ruleset"), "\(kernel)")
        #expect(f.transport.transactions.filter(\.committed).count == applies)
        #expect(await f.engine.status().domain?.contains("revision 5") == true)
        #expect(try DomainCache.load(f.config.domainCache)?.revision == 5)

        // Another rampartd starting with that cache enforces it in its first policy transaction.
        let g = try EngineFixture(configure: Self.fleet("web"))
        try FileManager.default.copyItem(atPath: f.config.domainCache, toPath: g.config.domainCache)
        try await g.start()
        status = await g.engine.status()
        #expect(
            status.domain?.contains("revision 5") == true && status.domain?.contains("from the cache") == true,
            "\(status.domain ?? "nil")")
        #expect(g.transport.transactions.count == 2, "boot mode, then the policy with the cached domain policy")
        // A cache for another group is not used.
        let h = try EngineFixture(configure: Self.fleet("db"))
        try FileManager.default.copyItem(atPath: f.config.domainCache, toPath: h.config.domainCache)
        try await h.start()
        #expect(await h.engine.status().domain == nil)

        // Withdrawn: the local policy again, the cache gone.
        #expect(await f.engine.domainPolicyWithdrawn(group: "web", revision: 7) == .applied)
        #expect(await f.engine.status().domain == nil)
        #expect(!FileManager.default.fileExists(atPath: f.config.domainCache))
    }
}
