import FoundationEssentials
import RampartFleet
import RampartPolicy
import RampartReport
import RampartSystem

/// What the engine made of a domain policy event (the fleet service reports it in the host's status key).
public enum DomainOutcome: Sendable, Equatable {
    case applied
    case unchanged
    case refused(String)
}

/// The domain policy (docs/fleet.md): adopted in one transaction with the rest of the ruleset,
/// refused whole on any error (the previous one stays), cached on disk once applied.
extension PolicyEngine {
    var fleetGroup: String? { config.etcdEndpoints.isEmpty ? nil : config.etcdGroup }

    /// At startup, before the store's policy is first applied: the cached domain policy of this
    /// host's group is what boot enforces (etcd is not asked; boot never waits for it).
    func loadDomainCache() {
        guard let group = fleetGroup else {
            domain = nil
            return
        }
        do {
            guard let cache = try DomainCache.load(config.domainCache) else {
                logger.info("no domain cache at \(config.domainCache): the local store's policy applies until etcd answers")
                return
            }
            guard cache.group == group else {
                logger.warning("the domain cache \(config.domainCache) is for group '\(cache.group)', this host is in '\(group)': not used")
                return
            }
            let made = try DomainScript.evaluate(cache.script, file: config.domainCache)
            domain = DomainLayer(group: group, revision: cache.revision, arrived: cache.arrived, cached: true, store: made)
            clearProblem(.domain)
            logger.notice("domain policy '\(made.assignedPolicy?.name ?? "?")' of group '\(group)', revision \(cache.revision), from the cache \(config.domainCache)")
        } catch {
            report(.domain, "the domain cache cannot be used (\(error)); the local store's policy applies until etcd answers")
        }
    }

    /// A domain policy read from etcd at `revision`.
    public func domainPolicy(group: String, revision: Int64, script: String) -> DomainOutcome {
        if let current = domain, current.group == group, current.revision == revision {
            if current.cached {
                domain?.cached = false
                logger.info("etcd confirms the cached domain policy (revision \(revision))")
            }
            return .unchanged
        }
        if case .corrupt = storeState {
            return refuseDomain(revision, "the local store is unreadable, so the boot ruleset stays in force")
        }
        let made: PolicyStore
        do {
            made = try DomainScript.evaluate(script, file: "\(group)@\(revision)")
        } catch {
            return refuseDomain(revision, "\(error)")
        }
        let previous = domain
        domain = DomainLayer(group: group, revision: revision, arrived: environment.wallClock(), cached: false, store: made)
        if case .failure(let error) = applyCurrent(reason: "domain policy of group '\(group)', revision \(revision)") {
            domain = previous
            return refuseDomain(revision, "the kernel rejected its ruleset: \(error.message)")
        }
        domainRefused = nil
        clearProblem(.domain)
        do {
            try DomainCache(group: group, revision: revision, arrived: domain!.arrived, script: script).save(config.domainCache)
        } catch {
            report(.domain, "domain policy revision \(revision) is enforced but cannot be cached (\(error)): a restart without etcd would not find it")
        }
        logger.notice("domain policy '\(made.assignedPolicy?.name ?? "?")' of group '\(group)', revision \(revision), enforced")
        return .applied
    }

    /// The group's policy key was deleted: the local store's assigned policy applies again.
    public func domainPolicyWithdrawn(group: String, revision: Int64) -> DomainOutcome {
        guard let previous = domain else { return .unchanged }
        domain = nil
        if case .failure(let error) = applyCurrent(reason: "domain policy of group '\(group)' withdrawn at revision \(revision)") {
            domain = previous
            return refuseDomain(revision, "withdrawing it: the kernel rejected the local ruleset: \(error.message)")
        }
        DomainCache.remove(config.domainCache)
        domainRefused = nil
        clearProblem(.domain)
        logger.notice("the domain policy of group '\(group)' was withdrawn (revision \(revision)): the local store's policy applies")
        return .applied
    }

    func refuseDomain(_ revision: Int64, _ reason: String) -> DomainOutcome {
        domainRefused = (revision, reason)
        let kept = domain.map { "revision \($0.revision) stays in force" } ?? "the local store's policy stays in force"
        report(.domain, "domain policy revision \(revision) refused: \(reason); \(kept)")
        return .refused(reason)
    }

    /// What the fleet service is doing, for the status ("watching … from revision N", "etcd unreachable: …").
    public func fleetConnection(_ text: String) {
        fleetConnection = text
    }

    /// The host's status key: the revision it enforces, its health, and when that policy arrived.
    public func fleetStatusDocument(host: String) -> String {
        let report = HostReport(host: host, revision: domain?.revision, cached: domain?.cached ?? false,
                                policy: domain?.store.assignedPolicy?.name, health: stateWord,
                                applied: domain.map { StatusReport.iso(Date(timeIntervalSince1970: $0.arrived)) },
                                refusedRevision: domainRefused?.revision, error: domainRefused?.reason,
                                problems: problemList().map(\.message), seen: StatusReport.iso(Date()), version: RampartVersion.current)
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        return (try? encoder.encode(report)).map { String(decoding: $0, as: UTF8.self) } ?? "{}"
    }

    /// One line for `rampart status`: which domain policy is in force, from where.
    func domainLine() -> String? {
        guard let d = domain else { return nil }
        let name = d.store.assignedPolicy?.name ?? "?"
        let arrived = StatusReport.iso(Date(timeIntervalSince1970: d.arrived))
        return "policy '\(name)' of group '\(d.group)', etcd revision \(d.revision), arrived \(arrived)" + (d.cached ? " (from the cache, not yet confirmed by etcd)" : "")
    }
}
