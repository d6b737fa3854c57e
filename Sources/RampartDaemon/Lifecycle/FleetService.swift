import FoundationEssentials
import Glibc
import RampartFleet
import RampartPolicy
import RampartSystem
import RampartConfig

/// The fleet service (docs/fleet.md): reads the group's domain policy from etcd, hands every
/// change to the engine, and keeps this host's status key (bound to a lease) up to date. Any etcd
/// failure ends the service: the supervisor restarts it with backoff (0.1 s doubling to 30 s), and
/// the restart reads the key afresh and watches from there, so no update is missed and a
/// compacted history costs nothing. Losing etcd never touches the kernel: the engine keeps the
/// policy it enforces.
extension Services {
    public static func fleet(config: DaemonConfig) -> DaemonService {
        // Not gating READY: a connect to a dead member may take seconds, and the cached policy is already enforced.
        DaemonService(name: "fleet", gatesReady: false) { context in
            let engine = context.engine
            let group = config.etcdGroup ?? ""
            let host = config.etcdHost ?? hostName()
            let keys = FleetKeys(prefix: config.etcdPrefix)
            let policyKey = keys.policy(group: group), statusKey = keys.status(group: group, host: host)
            let ttl = Int64(config.etcdStatusTTLSeconds)
            let client: EtcdClient
            do {
                client = try EtcdClient(settings: try settings(config))
            } catch {
                await engine.fleetConnection("cannot connect: \(error)")
                throw error
            }
            do {
                try await follow(
                    client: client, engine: engine, context: context, group: group, host: host,
                    policyKey: policyKey, statusKey: statusKey, ttl: ttl)
            } catch {
                await engine.fleetConnection(
                    "etcd lost (\(error)); enforcing the last domain policy applied; reconnecting")
                await client.shutdown()
                // A random 0–2 s on top of the supervisor's backoff: hosts that lost etcd together
                // do not all come back in the same instant.
                try? await Task.sleep(for: .milliseconds(Int.random(in: 0...2000)))
                throw error
            }
        }
    }

    static func settings(_ config: DaemonConfig) throws -> EtcdSettings {
        var password: String?
        if let file = config.etcdPasswordFile {
            let text = String(decoding: try StoreFile.readRegularFile(file, what: "etcd password file"), as: UTF8.self)
            password = text.split(separator: "\n", omittingEmptySubsequences: false).first.map(String.init) ?? ""
        }
        return EtcdSettings(
            endpoints: config.etcdEndpoints, caFile: config.etcdCA, certificateFile: config.etcdCert,
            keyFile: config.etcdKey, user: config.etcdUser, password: password)
    }

    static func hostName() -> String {
        var buffer = [CChar](repeating: 0, count: 256)
        guard gethostname(&buffer, buffer.count) == 0 else { return "localhost" }
        let name = String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
        let short = String(name.split(separator: ".").first ?? "localhost")
        return FleetNames.valid(short) ? short : "localhost"
    }

    static func follow(
        client: EtcdClient, engine: PolicyEngine, context: ServiceContext, group: String, host: String,
        policyKey: String, statusKey: String, ttl: Int64
    ) async throws {
        let (kvs, revision) = try await client.range(policyKey)
        if let kv = kvs.first {
            _ = await engine.domainPolicy(group: group, revision: kv.modRevision, script: kv.text)
        } else {
            _ = await engine.domainPolicyWithdrawn(group: group, revision: revision)
        }
        let lease = try await client.grantLease(ttl: ttl)
        _ = try await client.put(statusKey, Array(await engine.fleetStatusDocument(host: host).utf8), lease: lease)
        await engine.fleetConnection(
            "watching \(policyKey) from etcd revision \(revision + 1); status key \(statusKey)")
        await context.ready()
        try await withThrowingTaskGroup(of: Void.self) { tasks in
            tasks.addTask {
                // The lease is renewed three times per TTL: one lost renewal does not drop the host.
                while true {
                    try await Task.sleep(for: .seconds(max(1, Double(ttl) / 3)))
                    _ = try await client.keepAlive(lease: lease)
                    _ = try await client.put(
                        statusKey, Array(await engine.fleetStatusDocument(host: host).utf8), lease: lease)
                }
            }
            tasks.addTask {
                for try await batch in client.watch(policyKey, from: revision + 1) {
                    guard !batch.events.isEmpty else { continue }
                    for event in batch.events {
                        switch event {
                        case .put(let kv):
                            _ = await engine.domainPolicy(group: group, revision: kv.modRevision, script: kv.text)
                        case .delete(_, let at): _ = await engine.domainPolicyWithdrawn(group: group, revision: at)
                        }
                    }
                    _ = try await client.put(
                        statusKey, Array(await engine.fleetStatusDocument(host: host).utf8), lease: lease)
                }
                throw EtcdError(.unreachable, "the watch stream ended")
            }
            try await tasks.next()
            tasks.cancelAll()
        }
    }
}
