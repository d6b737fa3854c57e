import FoundationEssentials
import RampartFleet
import RampartPolicy
import RampartReport
import RampartSystem

/// The domain policy (docs/fleet.md) as this host holds it: the one in force (beside the local
/// store, never written to it), what the fleet service says of etcd, and the last revision this
/// host refused, with why.
struct FleetState: Sendable {
    private(set) var domain: DomainLayer?
    private(set) var connection: String?
    private(set) var refused: (revision: Int64, reason: String)?
    /// The SSH sessions the last revision adopted cut (none: nil), for `domain status`.
    private(set) var cut: (revision: Int64, sessions: [String])?

    /// Whether `revision` of `group` is the one in force; a cached one is now confirmed by etcd.
    mutating func confirms(group: String, revision: Int64) -> [Effect]? {
        guard let current = domain, current.group == group, current.revision == revision else { return nil }
        guard current.cached else { return [] }
        domain?.cached = false
        return [.log(.info, "etcd confirms the cached domain policy (revision \(revision))")]
    }

    /// Puts `layer` in force (nil: none); the previous one, to put back if the kernel refuses it.
    mutating func adopt(_ layer: DomainLayer?) -> DomainLayer? {
        defer { domain = layer }
        return domain
    }

    /// The layer adopted is enforced: no refusal stands; the sessions it cut are on record.
    mutating func accepted(cutting sessions: [String] = [], revision: Int64? = nil) -> [Effect] {
        refused = nil
        cut = sessions.isEmpty ? nil : revision.map { ($0, sessions) }
        return [.clear(.domain)]
            + sessions.map { .log(.warning, "domain policy revision \(revision ?? 0) cut an SSH session: \($0)") }
    }

    mutating func refuse(_ revision: Int64, _ reason: String) -> [Effect] {
        refused = (revision, reason)
        let kept = domain.map { "revision \($0.revision) stays in force" } ?? "the local store's policy stays in force"
        return [.report(.domain, "domain policy revision \(revision) refused: \(reason); \(kept)")]
    }

    /// What the fleet service is doing ("watching … from revision N", "etcd unreachable: …").
    mutating func connectionChanged(_ text: String) {
        connection = text
    }

    /// One line for `rampart status`: which domain policy is in force, from where.
    var line: String? {
        guard let d = domain else { return nil }
        let name = d.store.assignedPolicy?.name ?? "?"
        let arrived = StatusReport.iso(Date(timeIntervalSince1970: d.arrived))
        return "policy '\(name)' of group '\(d.group)', etcd revision \(d.revision), arrived \(arrived)"
            + (d.cached ? " (from the cache, not yet confirmed by etcd)" : "")
    }

    /// The host's status key: the revision it enforces, its health, and when that policy arrived.
    func hostReport(host: String, health: String, problems: [String], at now: Date) -> HostReport {
        HostReport(
            host: host, revision: domain?.revision, cached: domain?.cached ?? false,
            policy: domain?.store.assignedPolicy?.name, health: health,
            applied: domain.map { StatusReport.iso(Date(timeIntervalSince1970: $0.arrived)) },
            refusedRevision: refused?.revision, error: refused?.reason,
            problems: problems, seen: StatusReport.iso(now), version: RampartVersion.current,
            cutSessions: cut.map { c in c.sessions.map { "revision \(c.revision) cut \($0)" } })
    }
}
