import FoundationEssentials
import Glibc
import RampartCompiler
import RampartPolicy
import RampartNetlink
import RampartReport
import RampartSystem

extension PolicyEngine {
    /// The status as data, in one step on the engine; rendered by `StatusReport` elsewhere.
    public func status() -> DaemonStatus {
        var s = DaemonStatus()
        s.state = stateWord
        s.pid = getpid()
        s.startedAt = launch.startedAt
        s.enforcing = enforcement.description
        s.restoreFailing = health.problems[.restore] != nil
        s.rules = applied?.ruleCount ?? 0
        s.sets = applied?.setCount ?? 0
        s.storePath = config.store
        // A domain policy in force is what filters traffic, whatever the local store says.
        if case .absent = storeState, store.domainDecides, let line = domainLine() {
            s.storeState = "missing: no local policy; the domain policy is enforced (\(line))"
        } else {
            s.storeState = storeState.description
        }
        s.socket = config.socket
        s.logFile = config.logFile
        s.bootMode = store.config.bootMode.rawValue
        s.assignedPolicies = StoreLocation.allCases.map { location in
            let name = store[location].assignedPolicy?.name
            // Group Policy's precedence: the domain policy takes the local one's place.
            if location == .local, store.domainDecides, let name {
                return (location.rawValue, "\(name) (replaced by the domain policy)")
            }
            return (location.rawValue, name)
        }
        if let d = fleet.domain, let name = d.store.assignedPolicy?.name {
            let arrived = StatusReport.iso(Date(timeIntervalSince1970: d.arrived))
            s.assignedPolicies.append(
                (
                    "domain",
                    "\(name) (group \(d.group), revision \(d.revision), arrived \(arrived)\(d.cached ? ", cached" : ""))"
                ))
        }
        s.domain = domainLine()
        s.ipsec = ipsec.line
        s.fleet = fleetGroup.map { group in "group '\(group)': " + (fleet.connection ?? "not connected yet") }
        s.activeFilters = EffectiveFilters.collect(store, dynamic: dynamic).count
        s.dynamicRules = dynamic.rules.count
        s.lastApply = table.lastApply.map {
            DaemonStatus.LastApply(at: $0.at, milliseconds: $0.milliseconds, ok: $0.ok, result: $0.result)
        }
        s.bootMilliseconds = timeline.bootMilliseconds
        s.readyMilliseconds = timeline.readyMilliseconds
        s.restores = table.restores
        (s.reloads, s.reloading) = (timeline.reloads, reloadGate.busy)
        s.pendingDeadline = confirmation.pending?.deadline
        s.problems = problemList().map(\.message)
        s.services = health.services.sorted { $0.key < $1.key }.map { name, state in
            var service = DaemonStatus.Service(name: name, state: state.description, failed: state.isFailed)
            if let f = health.failures[name] { (service.failures, service.lastFailure) = (f.count, f.last) }
            return service
        }
        s.failedLookups = book.failedLookups
        return s
    }

    func statusLine() -> String { StatusReport.line(status()) }

    /// The status with where drop logging stands, which costs a dump of the table's rule counters.
    func fullStatus() -> DaemonStatus {
        var s = status()
        s.drops = drops.activity(kernel: kernelLoggedCount())
        s.drops?.writing = !fileWriter.idle
        return s
    }

    public func addressBook() -> AddressBookReport { book.report(names: hostNames()) }
}

extension PolicyEngine {
    /// Where each active filter comes from, by id: what drop records, metrics and the monitor name.
    func filterOrigins() -> [String: FilterOrigin] {
        var origins: [String: FilterOrigin] = [:]
        for f in EffectiveFilters.collect(store, dynamic: dynamic) { origins[f.id] = f.origin }
        return origins
    }

    /// The metrics, in one step on the engine (the counters are one netlink dump of the table).
    func metrics() throws(NetlinkError) -> MetricsSnapshot {
        var m = MetricsSnapshot()
        let problemCount = problemList().count
        m.healthy = problemCount == 0 && enforcement.ruleset != nil
        m.problems = problemCount
        switch enforcement {
        case .policy: m.enforcing = "policy"
        case .boot: m.enforcing = "boot"
        default: m.enforcing = "nothing"
        }
        m.bootMode = store.config.bootMode.rawValue
        m.startedAt = launch.startedAt.timeIntervalSince1970
        m.rules = applied?.ruleCount ?? 0
        let origins = filterOrigins()
        if applied != nil {
            m.filters = MetricsSnapshot.filterCounts(
                try client.ruleCounters() + client.elementCounters(), origins: origins)
        }
        let live = drops.liveTotals(at: Date())
        m.dropsLogged = live.byKind
        (m.itemised, m.notItemised, m.lost) = (live.itemised, live.notItemised, live.lost)
        for set in applied?.sets ?? [] { m.setElements[set.name] = set.elements.count }
        m.filterSetElements = applied?.filterSets.reduce(0) { $0 + $1.elements.count } ?? 0
        (m.applies, m.applyFailures, m.applySeconds) = (
            table.totals.applies, table.totals.failures, table.totals.seconds
        )
        m.lastApplyTimestamp = table.lastApply?.at.timeIntervalSince1970
        m.restores = table.restores
        return m
    }

    /// The metrics file's first write, once configured (at READY, or by a reload that adds it).
    func startMetricsFile() {
        if config.metricsTextfile != nil, timers[.metricsFile] == nil { writeMetricsFile() }
        if config.metricsTextfile == nil { clearProblem(.metricsFile) }
    }

    /// `metrics_textfile`: the Prometheus text for node_exporter's textfile collector, replaced
    /// atomically (a temporary file in the same directory, renamed) every `metrics_interval_seconds`.
    func writeMetricsFile() {
        guard let path = config.metricsTextfile else { return }
        defer { schedule(.metricsFile, after: .seconds(config.metricsIntervalSeconds)) }
        let text: String
        do {
            text = try metrics().render(.prometheus)
        } catch {
            return report(.metricsFile, "the metrics for \(path) cannot be gathered (\(error))")
        }
        let queued = fileWriter.submit(bytes: text.utf8.count) { [self] in
            var failure: String?
            do {
                try OwnedFile.checkDirectory(OwnedFile.directory(of: path), purpose: "metrics textfile")
                // 0644 whatever the unit's UMask=0077: node_exporter reads it as another user.
                try writeAtomically(Data(text.utf8), to: path) { fd throws(StoreError) in
                    guard fchmod(fd, 0o644) == 0 else {
                        throw StoreError("cannot set the mode of \(path): \(String(cString: strerror(errno)))")
                    }
                }
            } catch {
                failure = "\(error)"
            }
            Task { [failure] in await self.metricsFileWritten(path, failure: failure) }
        }
        if !queued {
            report(.metricsFile, "the metrics file \(path) is not being written (the writer is behind: a slow disk?)")
        }
    }

    /// The background writer's word on one replacement of `metrics_textfile`.
    func metricsFileWritten(_ path: String, failure: String?) {
        if let failure {
            report(.metricsFile, "the metrics file \(path) cannot be written (\(failure))")
        } else {
            clearProblem(.metricsFile)
        }
    }
}
