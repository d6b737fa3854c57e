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

/// The domain policy's side effects (its state is `FleetState`): adopted in one transaction with
/// the rest of the ruleset, refused whole on any error (the previous one stays), cached on disk
/// once applied.
extension PolicyEngine {
    var fleetGroup: String? { config.etcdEndpoints.isEmpty ? nil : config.etcdGroup }

    /// At startup, before the store's policy is first applied: the cached domain policy of this
    /// host's group is what boot enforces (etcd is not asked; boot never waits for it).
    func loadDomainCache() {
        guard let group = fleetGroup else {
            _ = fleet.adopt(nil)
            return
        }
        do {
            guard let cache = try DomainCache.load(config.domainCache) else {
                logger.info(
                    "no domain cache at \(config.domainCache): the local store's policy applies until etcd answers")
                return
            }
            guard cache.group == group else {
                logger.warning(
                    "the domain cache \(config.domainCache) is for group '\(cache.group)', this host is in '\(group)': not used"
                )
                return
            }
            let made = try DomainScript.evaluate(cache.script, file: config.domainCache)
            _ = fleet.adopt(
                DomainLayer(group: group, revision: cache.revision, arrived: cache.arrived, cached: true, store: made))
            clearProblem(.domain)
            logger.notice(
                "domain policy '\(made.assignedPolicy?.name ?? "?")' of group '\(group)', revision \(cache.revision), from the cache \(config.domainCache)"
            )
        } catch {
            report(
                .domain,
                "the domain cache cannot be used (\(error)); the local store's policy applies until etcd answers")
        }
    }

    /// A domain policy read from etcd at `revision`.
    public func domainPolicy(group: String, revision: Int64, script: String) -> DomainOutcome {
        if let effects = fleet.confirms(group: group, revision: revision) {
            perform(effects)
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
        let arrived = environment.wallClock()
        let before = store
        let previous = fleet.adopt(
            DomainLayer(group: group, revision: revision, arrived: arrived, cached: false, store: made))
        // Nobody is at this host to confirm: it applies, and what it cuts is in the host's report.
        let cuts = sessionCuts(client: [], from: before, to: store, dynamic)
        if case .failure(let error) = applyCurrent(reason: "domain policy of group '\(group)', revision \(revision)") {
            _ = fleet.adopt(previous)
            return refuseDomain(revision, "the kernel rejected its ruleset: \(error.message)")
        }
        perform(fleet.accepted(cutting: cuts.map(\.description), revision: revision))
        do {
            try DomainCache(group: group, revision: revision, arrived: arrived, script: script).save(config.domainCache)
        } catch {
            report(
                .domain,
                "domain policy revision \(revision) is enforced but cannot be cached (\(error)): a restart without etcd would not find it"
            )
        }
        logger.notice(
            "domain policy '\(made.assignedPolicy?.name ?? "?")' of group '\(group)', revision \(revision), enforced")
        return .applied
    }

    /// The group's policy key was deleted: the local store's assigned policy applies again.
    public func domainPolicyWithdrawn(group: String, revision: Int64) -> DomainOutcome {
        let before = store
        guard let previous = fleet.adopt(nil) else { return .unchanged }
        let cuts = sessionCuts(client: [], from: before, to: store, dynamic)
        if case .failure(let error) = applyCurrent(
            reason: "domain policy of group '\(group)' withdrawn at revision \(revision)")
        {
            _ = fleet.adopt(previous)
            return refuseDomain(revision, "withdrawing it: the kernel rejected the local ruleset: \(error.message)")
        }
        DomainCache.remove(config.domainCache)
        perform(fleet.accepted(cutting: cuts.map(\.description), revision: revision))
        logger.notice(
            "the domain policy of group '\(group)' was withdrawn (revision \(revision)): the local store's policy applies"
        )
        return .applied
    }

    func refuseDomain(_ revision: Int64, _ reason: String) -> DomainOutcome {
        perform(fleet.refuse(revision, reason))
        return .refused(reason)
    }

    /// What the fleet service is doing, for the status ("watching … from revision N", "etcd unreachable: …").
    public func fleetConnection(_ text: String) {
        fleet.connectionChanged(text)
    }

    /// The host's status key, as JSON.
    public func fleetStatusDocument(host: String) -> String {
        let report = fleet.hostReport(host: host, health: stateWord, problems: problemList().map(\.message), at: Date())
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        return (try? encoder.encode(report)).map { String(decoding: $0, as: UTF8.self) } ?? "{}"
    }

    /// One line for `rampart status`: which domain policy is in force, from where.
    func domainLine() -> String? { fleet.line }
}
